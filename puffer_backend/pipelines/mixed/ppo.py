"""PPO with a gymnax env stepped under jit and a torch policy (the `mixed` backend).

The env never leaves JAX; the policy never leaves torch. Each step is one jitted JAX
dispatch (env step + auto-reset + bookkeeping, `env.GymnaxTorchEnv`), observations reach
torch with `exchange.to_torch` and actions go back with `exchange.to_jax`, both zero-copy
DLPack views. The policy and the learner (GAE, clipped PPO, Adam) are the torch pipeline's
(`pipelines.torch.policy`, `pipelines.torch.learner`): the same PPO on a different env.

`train(config, logger, resume=True)` continues the run saved in `logger.run_dir` bit for
bit: the checkpoint holds the torch side (weights, Adam, the sampling generator) and the
env's JAX side (env states, PRNG key, observation, episode statistics), saved between
rollouts.
"""
from __future__ import annotations

import numpy as np
import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import check_positive_int
from ..episodes import target_reached
from ..interrupt import StopOnInterrupt
from ..metrics import RunClock, notify
from ..resume import resume_checkpoint
from ..torch.learner import RolloutBuffer, anneal_learning_rate, make_optimizer, ppo_update
from ..torch.policy import build_agent, rollout_fn, warm_up_compiled
from ..torch.runtime import seed_everything, torch_threads
from ..torch.saving import agent_checkpoint, load_agent_params, restore_learner

__all__ = ["train", "evaluate", "store_rollout_end"]

BACKEND = "mixed"


def _make_env(env_id: str, num_envs: int, num_steps: int):
    from .env import GymnaxTorchEnv  # imports jax: only when this pipeline runs
    return GymnaxTorchEnv(env_id, num_envs, num_steps)


def _env_action(action: torch.Tensor, discrete: bool) -> torch.Tensor:
    # JAX runs with x64 off: int64 actions would be refused by to_jax, so send int32.
    return action.to(torch.int32) if discrete else action


def store_rollout_end(buf: RolloutBuffer, end, value_fn, gamma: float) -> None:
    """Copy a `RolloutEnd`'s rewards and dones into `buf` and bootstrap its time limits:
    rewards[t, e] += gamma * V(final obs) (pipelines.gae). Call under inference mode."""
    buf.rewards.copy_(end.rewards)
    buf.dones.copy_(end.dones)
    if end.final_obs is not None:
        buf.rewards[end.truncated_at] += gamma * value_fn(end.final_obs)


def train(config, logger, *, resume: bool = False) -> dict:
    """Train PPO; returns the summary of pipelines.metrics (steps, sps, compile_s, wall_time,
    mean_return, episodes, and steps_to_target when `config.target_return` is set). Saves the
    checkpoint at the end, every `config.save_every` updates and on Ctrl-C.

    resume: continue the run whose checkpoint is in `logger.run_dir`, exactly as if it had
    not stopped; the summary then covers the whole run.
    Raises ValueError for an env id gymnax does not provide here, a bad config or a
    checkpoint that `config` cannot resume (pipelines.resume), FileNotFoundError when there is
    no checkpoint to resume, and KeyboardInterrupt after saving the checkpoint when Ctrl-C
    stopped the run.
    """
    clock = RunClock()
    config.validate()
    checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
    with torch_threads(1):
        return _train(config, logger, clock, checkpoint)


def _train(config, logger, clock: RunClock, checkpoint) -> dict:
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
    act = rollout_fn(agent, policy, config.compile, generator)
    discrete = env.discrete

    notify(logger, "compiling the jitted env" + (" and the torch policy ..." if config.compile else " ..."))
    with clock.compiling():
        with torch.inference_mode():  # an inference tensor, as every later observation (see warm_up_compiled)
            obs = env.reset(config.seed)  # the first call of the jitted reset: mostly its compile
        env.warm_up()
        if config.compile:
            warm_up_compiled(policy, model, obs, buf, config.minibatch_size)
    notify(logger, f"compiled in {clock.compile_s:.1f}s (not counted in sps)")
    global_step, update, steps_to_target = 0, 0, None
    if checkpoint is not None:
        restore_learner(agent, optimizer, generator, checkpoint)
        with torch.inference_mode():
            obs = env.restore({name.removeprefix("env/"): value for name, value in checkpoint.state.items()
                               if name.startswith("env/")})
        clock.continue_from(checkpoint.info["clock"])
        global_step, update = checkpoint.step, checkpoint.update
    mean_return, episodes = env.mean_return(), env.episodes()

    def save(update: int) -> None:
        env_state = {f"env/{name}": value for name, value in env.state_arrays().items()}
        save_checkpoint(logger.run_dir, config, agent_checkpoint(BACKEND, global_step, update, agent, optimizer,
                                                                 generator, state=env_state,
                                                                 info={"clock": clock.times()}))

    clock.start_training()
    with StopOnInterrupt() as interrupt:
        for update in range(update + 1, num_updates + 1):
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
                last_value = agent.get_value(obs)
                store_rollout_end(buf, env.end_rollout(), agent.get_value, config.gamma)
            buf.finish(last_value, config.gamma, config.gae_lambda)
            losses = ppo_update(model, optimizer, buf, config, generator)
            global_step += config.batch_size
            mean_return, episodes = env.mean_return(), env.episodes()
            logger.record(global_step, mean_return=mean_return, episodes=episodes, **clock.stamp(global_step),
                          policy_loss=losses["policy_loss"], value_loss=losses["value_loss"],
                          entropy=losses["entropy"], approx_kl=losses["approx_kl"])
            if target_reached(mean_return, episodes, config.target_return):
                steps_to_target = global_step
                break
            if interrupt.requested:
                break
            if config.save_every and update % config.save_every == 0 and update < num_updates:
                save(update)
        summary = clock.summary(global_step)
        save(update)  # inside: a Ctrl-C now waits for the checkpoint to be written
    if interrupt.requested:
        raise KeyboardInterrupt
    summary.update(mean_return=mean_return, episodes=episodes)
    if config.target_return is not None:
        summary["steps_to_target"] = steps_to_target
    return summary


def evaluate(run_dir, episodes: int = 20, seed: int = 0) -> float:
    """Mean return of the greedy policy on the gymnax env over `episodes` episodes (one per env).

    Raises FileNotFoundError when `run_dir` has no checkpoint, ValueError for episodes < 1.
    """
    episodes = check_positive_int("episodes", episodes)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    with torch_threads(1):
        env = _make_env(config.env_id, episodes, 1)
        agent = build_agent(env, config.hidden_size)
        load_agent_params(agent, checkpoint)
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
