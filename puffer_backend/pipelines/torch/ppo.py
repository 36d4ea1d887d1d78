"""PPO in PyTorch on gymnasium vector envs (CleanRL's ppo.py, on `puffer_backend.torch_impl`).

Observations are packed to flat rows (`puffer_backend.spec.pack_batch`) and unpacked by the
policy with `nativize_tensor`; actions come from `sample_logits`. A time limit is
bootstrapped with the critic's value of the final observation (pipelines.gae). Under
torchrun (WORLD_SIZE > 1) every rank steps its own envs (seed + rank) and the update runs
under DistributedDataParallel on gloo, so gradients are averaged across ranks; only rank 0
logs and writes the checkpoint. `config.total_steps` counts steps over all ranks.

`train(config, logger, resume=True)` continues the run saved in `logger.run_dir`: weights,
Adam's state, the sampling generator, the counters, the episode window and the clock come
back exactly; gymnasium envs cannot be restored mid-episode, so they are reset (with a seed
drawn from the seed and the update count) and the episodes under way at the save are lost.
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
from ..resume import resume_checkpoint, resumed_env_seed
from ...spec.errors import bad_value
from .learner import RolloutBuffer, anneal_learning_rate, make_optimizer, ppo_update
from .policy import build_agent, rollout_fn, warm_up_compiled
from .runtime import DistInfo, init_distributed, seed_everything, torch_threads
from .saving import agent_checkpoint, load_agent_params, restore_learner

__all__ = ["train", "evaluate", "collect_rollout"]

BACKEND = "torch"


def train(config, logger, *, resume: bool = False) -> dict:
    """Train PPO; returns the summary of pipelines.metrics (steps, sps, compile_s, wall_time,
    mean_return, episodes, and steps_to_target when `config.target_return` is set). Saves the
    checkpoint at the end, every `config.save_every` updates and on Ctrl-C.

    resume: continue the run whose checkpoint is in `logger.run_dir` (see the module
    docstring); the summary then covers the whole run.
    Raises ValueError for an unknown env id or a bad config (before any work starts), a
    checkpoint that `config` cannot resume (pipelines.resume) or a resume under torchrun,
    FileNotFoundError when there is no checkpoint to resume, and KeyboardInterrupt after
    saving the checkpoint when Ctrl-C stopped the run.
    """
    clock = RunClock()
    config.validate()
    checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
    dist = init_distributed()
    try:
        if checkpoint is not None and dist.world_size > 1:
            # The checkpoint holds rank 0's sampling generator only.
            raise bad_value("resume", "a single-process run (resuming under torchrun is not supported)",
                            f"WORLD_SIZE={dist.world_size}")
        with torch_threads(1):
            return _train(config, logger, dist, clock, checkpoint)
    finally:
        # Free DistributedDataParallel (its reducer keeps gloo work and tensors alive, in
        # reference cycles) while the interpreter and the process group are both still up:
        # torn down at interpreter exit instead, gloo can abort the process (SIGABRT).
        gc.collect()
        dist.close()


def _train(config, logger, dist: DistInfo, clock: RunClock, checkpoint) -> dict:
    seed = config.seed + dist.rank
    generator = seed_everything(seed)
    env = GymVecEnv(config.env_id, config.num_envs)
    try:
        return _loop(config, logger, dist, clock, env, seed, generator, checkpoint)
    finally:
        env.close()


def _loop(config, logger, dist: DistInfo, clock: RunClock, env: GymVecEnv, seed: int, generator,
          checkpoint) -> dict:
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
    global_step, done_updates, reset_seed = 0, 0, seed
    if checkpoint is not None:
        restore_learner(agent, optimizer, generator, checkpoint)
        stats.restore({name.removeprefix("episodes/"): value for name, value in checkpoint.state.items()
                       if name.startswith("episodes/")})
        clock.continue_from(checkpoint.info["clock"])
        global_step, done_updates = checkpoint.step, checkpoint.update
        reset_seed = resumed_env_seed(seed, done_updates)

    def save(update: int) -> None:
        save_checkpoint(logger.run_dir, config, agent_checkpoint(
            BACKEND, global_step, update, agent, optimizer, generator,
            state={f"episodes/{k}": v for k, v in stats.state_arrays().items()}, info={"clock": clock.times()}))

    with torch.inference_mode():  # an inference tensor, as every later observation (see warm_up_compiled)
        obs = env.reset(seed=reset_seed)
    if config.compile:
        notify(logger, "compiling the torch policy (torch.compile) ...")
        with clock.compiling():
            warm_up_compiled(policy, model, obs, buf, config.minibatch_size)
        notify(logger, f"compiled in {clock.compile_s:.1f}s (not counted in sps)")
    update, steps_to_target = done_updates, None
    clock.start_training()
    with StopOnInterrupt() as interrupt:
        for update in range(done_updates + 1, num_updates + 1):
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
            if config.save_every and update % config.save_every == 0 and dist.is_main and update < num_updates:
                save(update)
        summary = clock.summary(global_step)
        if dist.is_main:  # inside: a Ctrl-C now waits for the checkpoint to be written
            save(update)
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
