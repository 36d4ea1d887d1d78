"""PPO in PyTorch on gymnasium vector envs (CleanRL's ppo.py, through `pufferlib.pytorch`).

Observations are packed to flat rows (`puffer_backend.spec.pack_batch`) and unpacked by the
policy with `nativize_tensor`; actions come from `sample_logits`. Under torchrun
(WORLD_SIZE > 1) every rank steps its own envs (seed + rank) and the update runs under
DistributedDataParallel on gloo, so gradients are averaged across ranks; only rank 0 logs
and writes the checkpoint. `config.total_steps` counts steps over all ranks.
"""
from __future__ import annotations

import gc
import time

import numpy as np
import torch

from puffer_backend.spec import bad_value

from .runtime import (DistInfo, init_distributed, load_checkpoint, save_checkpoint, seed_everything,
                           torch_threads)
from ..envs.gym_vec import GymVecEnv
from ..episodes import RETURN_WINDOW, EpisodeStats
from .learner import RolloutBuffer, anneal_learning_rate, make_optimizer, ppo_update
from .policy import Agent, pufferlib_pytorch, rollout_fn as _rollout_fn

__all__ = ["train", "evaluate"]


def train(config, logger) -> dict:
    """Train PPO; returns {"steps", "sps", "mean_return", "episodes", "wall_s"}, plus
    "steps_to_target" (None if never reached) when `config.target_return` is set.

    Raises ValueError for an unknown env id or non-positive sizes (before any work starts).
    """
    config.validate()
    dist = init_distributed()
    try:
        with torch_threads(1):
            return _train(config, logger, dist)
    finally:
        # Free DistributedDataParallel (its reducer keeps gloo work and tensors alive, in
        # reference cycles) while the interpreter and the process group are both still up:
        # torn down at interpreter exit instead, gloo can abort the process (SIGABRT).
        gc.collect()
        dist.close()


def build_agent(env: GymVecEnv, hidden_size: int) -> Agent:
    native = pufferlib_pytorch().nativize_dtype(env.observation_space)
    return Agent(native, env.action_spec, hidden_size)


def _train(config, logger, dist: DistInfo) -> dict:
    seed = config.seed + dist.rank
    generator = seed_everything(seed)
    env = GymVecEnv(config.env_id, config.num_envs)
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

    steps, envs = config.num_steps, config.num_envs
    to_torch_dtype = pufferlib_pytorch().numpy_to_torch_dtype_dict
    buf = RolloutBuffer(steps, envs, env.obs_width, to_torch_dtype[np.dtype(env.obs_dtype)],
                        env.action_spec.action_shape, to_torch_dtype[np.dtype(env.action_spec.action_dtype)])
    rewards_np, dones_np = buf.rewards.numpy(), buf.dones.numpy()
    stats = EpisodeStats(envs, RETURN_WINDOW)
    step_per_update = config.batch_size * dist.world_size
    num_updates = max(1, config.total_steps // step_per_update)
    act = _rollout_fn(agent, policy, config.compile, generator)

    obs = env.reset(seed=seed)
    next_done = np.zeros(envs, dtype=bool)
    global_step, steps_to_target = 0, None
    start = time.perf_counter()
    for update in range(1, num_updates + 1):
        if config.anneal_lr:
            anneal_learning_rate(optimizer, update, num_updates, config.learning_rate)
        agent.refresh_rollout_weights()  # the last update changed the weights
        with torch.inference_mode():
            for t in range(steps):
                buf.obs[t] = obs
                dones_np[t] = next_done
                action, logprob, value = act(obs)
                buf.actions[t] = action
                buf.logprobs[t] = logprob
                buf.values[t] = value
                obs, reward, next_done = env.step(action)
                rewards_np[t] = reward
                stats.add(reward, next_done)
            next_value = agent.get_value(obs)
        buf.finish(next_value, torch.from_numpy(next_done.astype(np.float32)), config.gamma, config.gae_lambda)
        losses = ppo_update(model, optimizer, buf, config, generator)
        global_step += step_per_update
        sps = global_step / (time.perf_counter() - start)
        reached = stats.target_reached(config.target_return)
        if dist.is_main:
            logger.record(global_step, mean_return=stats.mean_return, sps=sps, policy_loss=losses["policy_loss"],
                          value_loss=losses["value_loss"], entropy=losses["entropy"], approx_kl=losses["approx_kl"])
        if config.target_return is not None and _agree(reached, dist):
            steps_to_target = global_step  # rank 0's statistics decide, on every rank
            break
    wall = time.perf_counter() - start
    env.close()
    if dist.is_main:
        save_checkpoint(logger.run_dir, agent, config, pipeline="torch")
    summary = {"steps": global_step, "sps": global_step / wall, "mean_return": stats.mean_return,
               "episodes": stats.episodes, "wall_s": wall}
    if config.target_return is not None:
        summary["steps_to_target"] = steps_to_target
    return summary


def _agree(flag: bool, dist: DistInfo) -> bool:
    """Rank 0's decision, so every rank leaves the loop at the same update."""
    if dist.world_size == 1:
        return flag
    value = torch.tensor([1 if flag else 0])
    torch.distributed.broadcast(value, src=0)
    return bool(value.item())


def evaluate(run_dir, episodes: int = 20, seed: int = 0) -> float:
    """Mean return of the greedy policy over `episodes` episodes (one per parallel env)."""
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes <= 0:
        raise bad_value("episodes", "a positive int", repr(episodes))
    ckpt, config = load_checkpoint(run_dir)
    with torch_threads(1):
        env = GymVecEnv(config.env_id, episodes)
        agent = build_agent(env, config.hidden_size)
        agent.load_state_dict(ckpt["model"])
        returns = np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        obs = env.reset(seed=seed)
        with torch.inference_mode():
            while not finished.all():
                action, _, _, _ = agent(obs, deterministic=True)
                obs, reward, done = env.step(action)
                returns += np.where(finished, 0.0, reward)
                finished |= done
        env.close()
    return float(returns.mean())
