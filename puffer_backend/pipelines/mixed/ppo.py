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
from ..compile_cache import jax_compile_cache
from ..config import check_positive_int
from ..envs.factory import resolve_factory
from ..episodes import EVAL_HORIZON, target_reached
from ..interrupt import StopOnInterrupt
from ..metrics import RunClock, notify
from ..resume import resume_checkpoint
from ..torch.learner import RolloutBuffer, anneal_learning_rate, make_optimizer, minibatch_loss, ppo_update
from ..torch.policy import build_agent, rollout_fn, warm_up_compiled
from ..torch.runtime import seed_everything, torch_threads
from ..torch.saving import agent_checkpoint, load_agent_params, restore_learner
from ..torch.user_policy import UserPolicy, check_policy_actions, make_user_optimizer

__all__ = ["train", "evaluate", "record_video", "check_env", "store_rollout_end"]

BACKEND = "mixed"


def _make_env(config, num_envs: int, num_steps: int, factory, *, training: bool = True):
    from .env import GymnaxTorchEnv  # imports jax: only when this pipeline runs
    return GymnaxTorchEnv(config.env_id, num_envs, num_steps, factory=factory, norm_obs=config.norm_obs,
                          norm_reward=config.norm_reward and training, gamma=config.gamma)


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


def check_env(config, env=None) -> None:
    """Build the run's gymnax env and check that this pipeline can train it (Box or Discrete
    observations, Discrete or Box actions), without training: ValueError naming env_id.
    The command calls it before it creates the run folder."""
    from ..envs.gymnax_vec import make_env

    make_env(config.env_id, resolve_factory(config.env_id, env))


def train(config, logger, *, resume: bool = False, env=None, policy=None) -> dict:
    """Train PPO; returns the summary of pipelines.metrics (steps, sps, compile_s, wall_time,
    mean_return, episodes, and steps_to_target when `config.target_return` is set). Saves the
    checkpoint at the end, every `config.save_every` updates and on Ctrl-C.

    resume: continue the run whose checkpoint is in `logger.run_dir`, exactly as if it had
    not stopped; the summary then covers the whole run.
    env: a user's gymnax factory `() -> (env, env_params)` (else `config.env_id` names a
    gymnax id or a `package.module:function` factory). policy: a user's `torch.nn.Module`
    with `policy(obs) -> (dist_input, value)` on float32 rows `(batch, obs_dim)`
    (torch/user_policy.py), trained in place; else the built-in agent.
    Raises ValueError naming env_id for an env it cannot train, for a bad config or policy
    (before any update) or a checkpoint that `config` cannot resume (pipelines.resume),
    FileNotFoundError when there is no checkpoint to resume, and KeyboardInterrupt after
    saving the checkpoint when Ctrl-C stopped the run.
    """
    clock = RunClock()
    config.validate()
    factory = resolve_factory(config.env_id, env)
    user_policy = UserPolicy(policy) if policy is not None else None
    checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
    with torch_threads(1), jax_compile_cache(config.compile_cache) as cache:
        return _train(config, logger, clock, factory, user_policy, checkpoint, cache)


def _train(config, logger, clock: RunClock, factory, user_policy, checkpoint, cache) -> dict:
    generator = seed_everything(config.seed)
    steps, envs = config.num_steps, config.num_envs
    env = _make_env(config, envs, steps, factory)
    # The plain path for a user's policy: no fused rollout copy, Adam over its own tensors.
    agent = build_agent(env, config.hidden_size) if user_policy is None else user_policy
    weights = agent if user_policy is None else user_policy.policy  # what the checkpoint holds
    policy, model, loss_fn = agent, agent, minibatch_loss
    if config.compile:
        # the rollout's policy step, and the update's forward, loss and backward as one graph
        policy, loss_fn = torch.compile(agent), torch.compile(minibatch_loss)
    optimizer = (make_optimizer if user_policy is None else make_user_optimizer)(agent, config.learning_rate)
    action_dtype = torch.int64 if env.discrete else torch.float32
    buf = RolloutBuffer(steps, envs, env.gymnax_env.obs_dim, torch.float32, env.action_spec.action_shape, action_dtype)
    num_updates = config.num_updates
    act = rollout_fn(agent, policy, config.compile, generator)
    discrete = env.discrete
    obs_rows, actions, logprobs, values, _, _ = buf.numpy_views()

    notify(logger, "compiling the jitted env" + (" and the torch policy ..." if config.compile else " ..."))
    with clock.compiling():
        with torch.inference_mode():  # an inference tensor, as every later observation (see warm_up_compiled)
            obs = env.reset(config.seed)  # the first call of the jitted reset: mostly its compile
        env.warm_up()
        if user_policy is not None:
            check_policy_actions(user_policy, obs, env.action_spec)
        if config.compile:
            warm_up_compiled(policy, loss_fn, model, obs, buf, config)
    notify(logger, f"compiled in {clock.compile_s:.1f}s{cache.describe()} (not counted in sps)")
    global_step, update, steps_to_target = 0, 0, None
    if checkpoint is not None:
        restore_learner(weights, optimizer, generator, checkpoint)
        with torch.inference_mode():
            obs = env.restore({name.removeprefix("env/"): value for name, value in checkpoint.state.items()
                               if name.startswith("env/")}, checkpoint.state)
        clock.continue_from(checkpoint.info["clock"])
        global_step, update = checkpoint.step, checkpoint.update
    mean_return, episodes = env.mean_return(), env.episodes()

    def save(update: int) -> None:
        env_state = {f"env/{name}": value for name, value in env.state_arrays().items()}
        env_state.update(env.norm_arrays())
        save_checkpoint(logger.run_dir, config, agent_checkpoint(BACKEND, global_step, update, weights, optimizer,
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
                    obs_rows[t] = obs.numpy()  # numpy row writes: ~1 us each, torch indexing ~4
                    action, logprob, value = act(obs)
                    # JAX steps the envs (async dispatch) while this step is stored.
                    env.step_async(t, _env_action(action, discrete))
                    actions[t] = action.numpy()
                    logprobs[t] = logprob.numpy()
                    values[t] = value.numpy()
                    obs = env.observation()
                last_value = agent.get_value(obs)
                store_rollout_end(buf, env.end_rollout(), agent.get_value, config.gamma)
            buf.finish(last_value, config.gamma, config.gae_lambda)
            losses = ppo_update(model, optimizer, buf, config, generator, loss_fn)
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


def evaluate(run_dir, episodes: int = 20, seed: int = 0, *, env=None, policy=None) -> float:
    """Mean return of the greedy policy on the gymnax env over `episodes` episodes (one per
    env), the env's own rewards, observations normalized with the saved statistics when the
    run normalized them. An episode still running after EVAL_HORIZON steps counts its return so far.

    env, policy: as `train`'s (needed again when the run used them and they cannot be
    imported from config.env_id). Raises FileNotFoundError when `run_dir` has no checkpoint,
    ValueError for episodes < 1.
    """
    episodes = check_positive_int("episodes", episodes)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    factory = resolve_factory(config.env_id, env)
    with torch_threads(1):
        genv = _make_env(config, episodes, 1, factory, training=False)
        if config.norm_obs:
            genv.load_norm(checkpoint.state)
        agent = _evaluation_agent(config, checkpoint, genv, policy)
        returns = np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        obs = genv.reset(seed)
        with torch.inference_mode():
            for _ in range(EVAL_HORIZON):
                if finished.all():
                    break
                action, _, _, _ = agent(obs, deterministic=True)
                obs = genv.step(0, _env_action(action, genv.discrete))
                reward, done = genv.last_reward_done()
                returns += np.where(finished, 0.0, reward)
                finished |= done
    return float(returns.mean())


def _evaluation_agent(config, checkpoint, genv, policy):
    if policy is None:
        agent = build_agent(genv, config.hidden_size)
        load_agent_params(agent, checkpoint)
        return agent
    load_agent_params(policy, checkpoint)
    return UserPolicy(policy)


def record_video(run_dir, path, episodes: int = 1, seed: int = 0, *, env=None, policy=None) -> dict:
    """Play `episodes` greedy episodes one after another and write their frames to `path`
    (.mp4 or .gif; frames from envs.render: classic control through gymnasium's renderer,
    MinAtar grids); returns {"returns": [per episode], "frames": count}.

    Raises ValueError for an env without frames or a path that is not a video file,
    FileNotFoundError when `run_dir` has no checkpoint.
    """
    import jax.numpy as jnp

    from puffer_backend import exchange

    from ..envs.render import gymnax_frames
    from ..normalize import rms_normalize, saved_obs_rms
    from ..video import VideoWriter, check_video_path, play_gymnax

    episodes = check_positive_int("episodes", episodes)
    path = check_video_path(path)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    factory = resolve_factory(config.env_id, env)
    with torch_threads(1):
        genv = _make_env(config, 1, 1, factory, training=False)
        frames = gymnax_frames(genv.gymnax_env)  # an env without frames is refused before anything runs
        obs_rms = saved_obs_rms(checkpoint.state, config.norm_obs)
        agent = _evaluation_agent(config, checkpoint, genv, policy)

        def act(obs):
            if obs_rms is not None:
                obs = rms_normalize(obs_rms, obs)
            with torch.inference_mode():
                action, _, _, _ = agent(exchange.to_torch(jnp.asarray(obs, jnp.float32)), deterministic=True)
            return _env_action(action, genv.discrete).numpy()

        with VideoWriter(path, fps=frames.fps) as writer:
            returns = play_gymnax(genv.gymnax_env, act, episodes, seed, writer, frames)
    return {"returns": returns, "frames": writer.frames}
