"""PPO with a gymnax env stepped under jit and a torch policy (the `mixed` backend).

The env never leaves JAX; the policy never leaves torch. Each step is one jitted JAX
dispatch (env step + auto-reset + bookkeeping, `torch_gymnax.GymnaxTorchEnv`), observations
reach torch with `exchange.to_torch` and actions go back with `exchange.to_jax`, both
zero-copy DLPack views. The learner (GAE, clipped PPO, Adam) is the torch pipeline's,
shared in `torch_learner`, with the same CleanRL hyperparameters and network.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from puffer_backend.spec import Continuous, Discrete, bad_value

from ..episodes import target_reached
from ..torch.runtime import load_checkpoint, save_checkpoint, seed_everything, torch_threads
from ..torch.learner import RolloutBuffer, anneal_learning_rate, make_optimizer, ppo_update
from ..torch.policy import Agent, pufferlib_pytorch, rollout_fn as _rollout_fn

__all__ = ["train", "evaluate"]


def _make_env(env_id: str, num_envs: int, num_steps: int):
    from .env import GymnaxTorchEnv  # imports jax: only when this pipeline runs
    return GymnaxTorchEnv(env_id, num_envs, num_steps)


def build_agent(env, hidden_size: int) -> Agent:
    spec = env.spec
    action = Discrete(spec.num_actions) if spec.discrete else Continuous((spec.action_dim,))
    return Agent(env.observation_native_dtype(pufferlib_pytorch()), action, hidden_size)


def _env_action(action: torch.Tensor, discrete: bool) -> torch.Tensor:
    # JAX runs with x64 off: int64 actions would be refused by to_jax, so send int32.
    return action.to(torch.int32) if discrete else action


def train(config, logger) -> dict:
    """Train PPO; returns {"steps", "sps", "mean_return", "episodes", "wall_s"}, plus
    "steps_to_target" (None if never reached) when `config.target_return` is set.

    Raises ValueError for an env id gymnax does not provide here or non-positive sizes.
    """
    config.validate()
    with torch_threads(1):
        return _train(config, logger)


def _train(config, logger) -> dict:
    generator = seed_everything(config.seed)
    steps, envs = config.num_steps, config.num_envs
    env = _make_env(config.env_id, envs, steps)
    agent = build_agent(env, config.hidden_size)
    policy, model = agent, agent
    if config.compile:
        policy = model = torch.compile(agent)
    optimizer = make_optimizer(agent, config.learning_rate)
    action_dtype = torch.int64 if env.discrete else torch.float32
    buf = RolloutBuffer(steps, envs, env.spec.obs_dim, torch.float32, agent.action_spec.action_shape, action_dtype)
    num_updates = config.num_updates
    act = _rollout_fn(agent, policy, config.compile, generator)
    discrete = env.discrete

    obs = env.reset(config.seed)
    global_step, steps_to_target, mean_return = 0, None, float("nan")
    start = time.perf_counter()
    for update in range(1, num_updates + 1):
        if config.anneal_lr:
            anneal_learning_rate(optimizer, update, num_updates, config.learning_rate)
        agent.refresh_rollout_weights()  # the last update changed the weights
        with torch.inference_mode():
            for t in range(steps):
                buf.obs[t] = obs
                action, logprob, value = act(obs)
                # JAX steps the envs (async dispatch) while torch stores this step.
                env.step_async(t, _env_action(action, discrete))
                buf.actions[t] = action
                buf.logprobs[t] = logprob
                buf.values[t] = value
                obs = env.observation()
            next_value = agent.get_value(obs)
            rewards, dones, next_done = env.end_rollout()
            buf.rewards.copy_(rewards)
            buf.dones.copy_(dones)
        buf.finish(next_value, next_done, config.gamma, config.gae_lambda)
        losses = ppo_update(model, optimizer, buf, config, generator)
        global_step += config.batch_size
        mean_return = env.mean_return()
        sps = global_step / (time.perf_counter() - start)
        logger.record(global_step, mean_return=mean_return, sps=sps, policy_loss=losses["policy_loss"],
                      value_loss=losses["value_loss"], entropy=losses["entropy"], approx_kl=losses["approx_kl"])
        if target_reached(mean_return, env.episodes(), config.target_return):
            steps_to_target = global_step
            break
    wall = time.perf_counter() - start
    save_checkpoint(logger.run_dir, agent, config, pipeline="mixed")
    summary = {"steps": global_step, "sps": global_step / wall, "mean_return": mean_return,
               "episodes": env.episodes(), "wall_s": wall}
    if config.target_return is not None:
        summary["steps_to_target"] = steps_to_target
    return summary


def evaluate(run_dir, episodes: int = 20, seed: int = 0) -> float:
    """Mean return of the greedy policy on the gymnax env over `episodes` episodes (one per env)."""
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes <= 0:
        raise bad_value("episodes", "a positive int", repr(episodes))
    ckpt, config = load_checkpoint(run_dir)
    with torch_threads(1):
        env = _make_env(config.env_id, episodes, 1)
        agent = build_agent(env, config.hidden_size)
        agent.load_state_dict(ckpt["model"])
        returns = np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        obs = env.reset(seed)
        with torch.inference_mode():
            while not finished.all():
                action, _, _, _ = agent(obs, deterministic=True)
                obs = env.step(0, _env_action(action, env.discrete))
                reward, done = env.last_reward_done()
                returns += np.where(finished, 0.0, reward)
                finished |= done
    return float(returns.mean())
