"""PPO in PyTorch on gymnasium vector envs (CleanRL's ppo.py, on `puffer_backend.torch_impl`).

Observations are packed to flat rows (`puffer_backend.spec.pack_batch`) and unpacked by the
policy with `nativize_tensor`; actions come from `sample_logits`. A time limit is
bootstrapped with the critic's value of the final observation (pipelines.gae). Under
torchrun (WORLD_SIZE > 1) every rank steps its own envs (seed + rank) and the update runs
under DistributedDataParallel on gloo, so gradients are averaged across ranks; only rank 0
logs and writes the checkpoint. `config.total_steps` counts steps over all ranks.
"""
from __future__ import annotations

import gc

import numpy as np
import torch

from puffer_backend import torch_impl

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import check_positive_int
from ..envs.gym_vec import GymVecEnv
from ..episodes import EpisodeStats
from ..interrupt import StopOnInterrupt
from ..metrics import RunClock, notify
from .learner import RolloutBuffer, anneal_learning_rate, make_optimizer, ppo_update
from .policy import build_agent, rollout_fn, warm_up_compiled
from .runtime import DistInfo, init_distributed, seed_everything, torch_threads
from .saving import agent_checkpoint, load_agent_params

__all__ = ["train", "evaluate", "collect_rollout"]

BACKEND = "torch"


def train(config, logger) -> dict:
    """Train PPO; returns the summary of pipelines.metrics (steps, sps, compile_s, wall_time,
    mean_return, episodes, and steps_to_target when `config.target_return` is set).

    Raises ValueError for an unknown env id or a bad config (before any work starts), and
    KeyboardInterrupt after saving the checkpoint when Ctrl-C stopped the run.
    """
    clock = RunClock()
    config.validate()
    dist = init_distributed()
    try:
        with torch_threads(1):
            return _train(config, logger, dist, clock)
    finally:
        # Free DistributedDataParallel (its reducer keeps gloo work and tensors alive, in
        # reference cycles) while the interpreter and the process group are both still up:
        # torn down at interpreter exit instead, gloo can abort the process (SIGABRT).
        gc.collect()
        dist.close()


def _train(config, logger, dist: DistInfo, clock: RunClock) -> dict:
    seed = config.seed + dist.rank
    generator = seed_everything(seed)
    env = GymVecEnv(config.env_id, config.num_envs)
    try:
        return _loop(config, logger, dist, clock, env, seed, generator)
    finally:
        env.close()


def _loop(config, logger, dist: DistInfo, clock: RunClock, env: GymVecEnv, seed: int, generator) -> dict:
    agent = build_agent(env, config.hidden_size)
    model = agent
    if dist.world_size > 1:
        # DDP broadcasts rank 0's initial weights and averages gradients in backward().
        model = torch.nn.parallel.DistributedDataParallel(agent)
    policy = agent
    if config.compile:
        policy = torch.compile(agent)
        model = torch.compile(model)
    optimizer = make_optimizer(agent, config.learning_rate)

    steps, envs, gamma = config.num_steps, config.num_envs, config.gamma
    to_torch = torch_impl.numpy_to_torch_dtype_dict
    buf = RolloutBuffer(steps, envs, env.obs_width, to_torch[np.dtype(env.obs_dtype)], env.action_spec.action_shape,
                        to_torch[np.dtype(env.action_spec.action_dtype)])
    stats = EpisodeStats(envs)
    step_per_update = config.steps_per_update(dist.world_size)
    num_updates = config.num_updates_for(dist.world_size)
    act = rollout_fn(agent, policy, config.compile, generator)

    with torch.inference_mode():  # an inference tensor, as every later observation (see warm_up_compiled)
        obs = env.reset(seed=seed)
    if config.compile:
        notify(logger, "compiling the torch policy (torch.compile) ...")
        with clock.compiling():
            warm_up_compiled(policy, model, obs, buf, config.minibatch_size)
        notify(logger, f"compiled in {clock.compile_s:.1f}s (not counted in sps)")
    global_step, update, steps_to_target = 0, 0, None
    clock.start_training()
    with StopOnInterrupt() as interrupt:
        for update in range(1, num_updates + 1):
            if config.anneal_lr:
                anneal_learning_rate(optimizer, update, num_updates, config.learning_rate)
            agent.refresh_rollout_weights()  # the last update changed the weights
            obs, last_value = collect_rollout(env, act, agent.get_value, buf, stats, obs, gamma)
            buf.finish(last_value, gamma, config.gae_lambda)
            losses = ppo_update(model, optimizer, buf, config, generator)
            global_step += step_per_update
            if dist.is_main:
                logger.record(global_step, mean_return=stats.mean_return, episodes=stats.episodes,
                              **clock.stamp(global_step), policy_loss=losses["policy_loss"],
                              value_loss=losses["value_loss"], entropy=losses["entropy"],
                              approx_kl=losses["approx_kl"])
            # Rank 0's statistics and Ctrl-C decide, on every rank.
            reached, interrupted = dist.agree(stats.target_reached(config.target_return), interrupt.requested)
            if reached:
                steps_to_target = global_step
            if reached or interrupted:
                break
        summary = clock.summary(global_step)
        if dist.is_main:  # inside: a Ctrl-C now waits for the checkpoint to be written
            save_checkpoint(logger.run_dir, config,
                            agent_checkpoint(BACKEND, global_step, update, agent, optimizer, generator))
    if interrupt.requested:
        raise KeyboardInterrupt
    summary.update(mean_return=stats.mean_return, episodes=stats.episodes)
    if config.target_return is not None:
        summary["steps_to_target"] = steps_to_target
    return summary


def collect_rollout(env, act, value_fn, buf: RolloutBuffer, stats: EpisodeStats, obs: torch.Tensor, gamma: float):
    """Fill `buf` with one rollout of `buf`'s length from `obs`; returns (next obs, its value).

    act: obs -> (action, logprob, value); value_fn: packed rows -> V `(rows,)`, used for the
    time-limit bootstrap (rewards[t] += gamma * V(final obs), pipelines.gae). `stats` sees the
    env's own rewards. Runs under inference mode.
    """
    rewards, dones = buf.rewards.numpy(), buf.dones.numpy()
    with torch.inference_mode():
        for t in range(rewards.shape[0]):
            buf.obs[t] = obs
            action, logprob, value = act(obs)
            buf.actions[t] = action
            buf.logprobs[t] = logprob
            buf.values[t] = value
            obs, reward, done, truncated_envs, final_obs = env.step(action)
            rewards[t] = reward
            dones[t] = done
            stats.add(reward, done)
            if truncated_envs is not None:
                rewards[t, truncated_envs] += gamma * value_fn(final_obs).numpy()
        return obs, value_fn(obs)


def evaluate(run_dir, episodes: int = 20, seed: int = 0) -> float:
    """Mean return of the greedy policy over `episodes` episodes (one per parallel env).

    Raises FileNotFoundError when `run_dir` has no checkpoint, ValueError for episodes < 1.
    """
    episodes = check_positive_int("episodes", episodes)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    with torch_threads(1):
        env = GymVecEnv(config.env_id, episodes)
        agent = build_agent(env, config.hidden_size)
        load_agent_params(agent, checkpoint)
        returns = np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        obs = env.reset(seed=seed)
        with torch.inference_mode():
            while not finished.all():
                action, _, _, _ = agent(obs, deterministic=True)
                obs, reward, done, _, _ = env.step(action)
                returns += np.where(finished, 0.0, reward)
                finished |= done
        env.close()
    return float(returns.mean())
