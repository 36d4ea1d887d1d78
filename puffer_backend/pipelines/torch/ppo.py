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
from puffer_backend.spec import pack_batch, row_elements

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import check_positive_int
from ..envs.factory import resolve_factory
from ..envs.gym_vec import ActionConverter, GymVecEnv, check_spaces, make_gym_env
from ..episodes import EVAL_HORIZON, EpisodeStats
from ..interrupt import StopOnInterrupt
from ..metrics import RunClock, notify
from ..normalize import Normalizer
from ..resume import resume_checkpoint, resumed_env_seed
from ...spec.errors import bad_value
from .learner import RolloutBuffer, anneal_learning_rate, make_optimizer, minibatch_loss, ppo_update
from .policy import Agent, build_agent, rollout_fn, warm_up_compiled
from .runtime import DistInfo, init_distributed, seed_everything, torch_threads
from .saving import agent_checkpoint, load_agent_params, restore_learner
from .user_policy import UserPolicy, check_policy_actions, make_user_optimizer

__all__ = ["train", "evaluate", "record_video", "check_env", "collect_rollout"]

BACKEND = "torch"


def train(config, logger, *, resume: bool = False, env=None, policy=None) -> dict:
    """Train PPO; returns the summary of pipelines.metrics (steps, sps, compile_s, wall_time,
    mean_return, episodes, and steps_to_target when `config.target_return` is set). Saves the
    checkpoint at the end, every `config.save_every` updates and on Ctrl-C.

    resume: continue the run whose checkpoint is in `logger.run_dir` (see the module
    docstring); the summary then covers the whole run.
    env: a user's env factory `() -> gymnasium.Env` (else `config.env_id` names a registry id
    or a `package.module:function` factory). policy: a user's `torch.nn.Module` with
    `policy(obs) -> (dist_input, value)` (torch/user_policy.py), trained in place; else the
    built-in agent.
    Raises ValueError naming env_id for an env it cannot train, for a bad config or policy
    (before any update), a checkpoint that `config` cannot resume (pipelines.resume) or a
    resume under torchrun, FileNotFoundError when there is no checkpoint to resume, and
    KeyboardInterrupt after saving the checkpoint when Ctrl-C stopped the run.
    """
    clock = RunClock()
    config.validate()
    factory = resolve_factory(config.env_id, env)
    if policy is not None:
        policy = UserPolicy(policy)
    checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
    dist = init_distributed()
    try:
        if checkpoint is not None and dist.world_size > 1:
            # The checkpoint holds rank 0's sampling generator only.
            raise bad_value("resume", "a single-process run (resuming under torchrun is not supported)",
                            f"WORLD_SIZE={dist.world_size}")
        with torch_threads(1):
            return _train(config, logger, dist, clock, factory, policy, checkpoint)
    finally:
        # Free DistributedDataParallel (its reducer keeps gloo work and tensors alive, in
        # reference cycles) while the interpreter and the process group are both still up:
        # torn down at interpreter exit instead, gloo can abort the process (SIGABRT).
        gc.collect()
        dist.close()


def check_env(config, env=None) -> None:
    """Build one env of the run and check that this pipeline can train it (its spaces, float
    rows under norm_obs), without training: ValueError naming env_id (or config.norm_obs).
    The command calls it before it creates the run folder."""
    single = make_gym_env(config.env_id, resolve_factory(config.env_id, env))
    try:
        check_spaces(config.env_id, single.observation_space, single.action_space, config.norm_obs)
    finally:
        single.close()


def _make_env(config, num_envs: int, factory, vec: str | None = None, *, training: bool = True) -> GymVecEnv:
    return GymVecEnv(config.env_id, num_envs, vec=vec or config.vec, factory=factory, norm_obs=config.norm_obs,
                     norm_reward=config.norm_reward and training, gamma=config.gamma)


def _train(config, logger, dist: DistInfo, clock: RunClock, factory, user_policy, checkpoint) -> dict:
    seed = config.seed + dist.rank
    generator = seed_everything(seed)
    env = _make_env(config, config.num_envs, factory)
    try:
        return _loop(config, logger, dist, clock, env, seed, generator, user_policy, checkpoint)
    finally:
        env.close()


def _loop(config, logger, dist: DistInfo, clock: RunClock, env: GymVecEnv, seed: int, generator, user_policy,
          checkpoint) -> dict:
    # The plain path for a user's policy: no fused rollout copy, Adam over its own tensors.
    agent = build_agent(env, config.hidden_size) if user_policy is None else user_policy
    weights = agent if user_policy is None else user_policy.policy  # what the checkpoint holds
    model = agent
    if dist.world_size > 1:
        # DDP broadcasts rank 0's initial weights and averages gradients in backward().
        model = torch.nn.parallel.DistributedDataParallel(agent)
    policy, loss_fn = agent, minibatch_loss
    if config.compile:
        # the rollout's policy step, and the update's forward, loss and backward as one graph
        policy, loss_fn = torch.compile(agent), torch.compile(minibatch_loss)
    optimizer = (make_optimizer if user_policy is None else make_user_optimizer)(agent, config.learning_rate)

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
        restore_learner(weights, optimizer, generator, checkpoint)
        if env.normalizer is not None:  # before the reset, whose observations it sees
            env.normalizer.load(checkpoint.state)
        stats.restore({name.removeprefix("episodes/"): value for name, value in checkpoint.state.items()
                       if name.startswith("episodes/")})
        clock.continue_from(checkpoint.info["clock"])
        global_step, done_updates = checkpoint.step, checkpoint.update
        reset_seed = resumed_env_seed(seed, done_updates)

    def save(update: int) -> None:
        state = {f"episodes/{k}": v for k, v in stats.state_arrays().items()}
        if env.normalizer is not None:
            state.update(env.normalizer.arrays())
        save_checkpoint(logger.run_dir, config, agent_checkpoint(
            BACKEND, global_step, update, weights, optimizer, generator, state=state, info={"clock": clock.times()}))

    with torch.inference_mode():  # an inference tensor, as every later observation (see warm_up_compiled)
        obs = env.reset(seed=reset_seed)
    if user_policy is not None:
        check_policy_actions(user_policy, obs, env.action_spec)
    if config.compile:
        notify(logger, "compiling the torch policy (torch.compile) ...")
        with clock.compiling():
            warm_up_compiled(policy, loss_fn, model, obs, buf, config)
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
            losses = ppo_update(model, optimizer, buf, config, generator, loss_fn)
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
    # numpy views of the buffers: a row written through numpy costs ~1 us, through torch indexing ~4
    obs_rows, actions, logprobs, values, rewards, dones = buf.numpy_views()
    with torch.inference_mode():
        for t in range(rewards.shape[0]):
            obs_rows[t] = obs.numpy()
            action, logprob, value = act(obs)
            actions[t] = action.numpy()
            logprobs[t] = logprob.numpy()
            values[t] = value.numpy()
            obs, reward, done, truncated_envs, final_obs, env_reward = env.step(action)
            rewards[t] = reward
            dones[t] = done
            stats.add(env_reward, done)
            if truncated_envs is not None:
                rewards[t, truncated_envs] += gamma * value_fn(final_obs).numpy()
        return obs, value_fn(obs)


def _evaluation_agent(config, checkpoint, layout, action, policy):
    """The saved policy, greedy: the built-in agent rebuilt from the config, or the user's
    `policy` (a module of the same shape) with the saved weights loaded into it."""
    if policy is None:
        agent = Agent(layout, action, config.hidden_size)
        load_agent_params(agent, checkpoint)
        return agent
    agent = UserPolicy(policy)
    load_agent_params(policy, checkpoint)
    return agent


def _frozen_normalizer(normalizer, checkpoint) -> None:
    """Give `normalizer` (or None) the run's saved statistics, frozen."""
    if normalizer is not None:
        normalizer.load(checkpoint.state)
        normalizer.update = False


def evaluate(run_dir, episodes: int = 20, seed: int = 0, *, env=None, policy=None) -> float:
    """Mean return of the greedy policy over `episodes` episodes (one per parallel env), the
    env's own rewards, observations normalized with the saved statistics when the run
    normalized them. An episode still running after EVAL_HORIZON steps counts its return so far.

    env, policy: as `train`'s (a user's factory and module: needed again when the run used
    them and they cannot be imported from config.env_id). Raises FileNotFoundError when
    `run_dir` has no checkpoint, ValueError for episodes < 1.
    """
    episodes = check_positive_int("episodes", episodes)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    factory = resolve_factory(config.env_id, env)
    with torch_threads(1):
        venv = _make_env(config, episodes, factory, "sync", training=False)
        try:
            _frozen_normalizer(venv.normalizer, checkpoint)
            agent = _evaluation_agent(config, checkpoint, venv.observation_layout, venv.action_spec, policy)
            returns = np.zeros(episodes)
            finished = np.zeros(episodes, dtype=bool)
            obs = venv.reset(seed=seed)
            with torch.inference_mode():
                for _ in range(EVAL_HORIZON):
                    if finished.all():
                        break
                    action, _, _, _ = agent(obs, deterministic=True)
                    step = venv.step(action)
                    obs = step.obs
                    returns += np.where(finished, 0.0, step.env_reward)
                    finished |= step.done
        finally:
            venv.close()
    return float(returns.mean())


def record_video(run_dir, path, episodes: int = 1, seed: int = 0, *, env=None, policy=None) -> dict:
    """Play `episodes` greedy episodes one after another in one env rendering `rgb_array`
    frames and write them to `path` (.mp4 or .gif, pipelines.video); returns {"returns":
    [per episode], "frames": count} (a frame per observation: the reset's and each step's).

    Raises ValueError when the env does not render rgb_array frames or the path is not a
    video file, FileNotFoundError when `run_dir` has no checkpoint.
    """
    from ..video import VideoWriter, check_video_path, play_gymnasium

    episodes = check_positive_int("episodes", episodes)
    path = check_video_path(path)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    factory = resolve_factory(config.env_id, env)
    with torch_threads(1):
        single = make_gym_env(config.env_id, factory, render_mode="rgb_array")
        try:
            space = single.observation_space
            action = check_spaces(config.env_id, space, single.action_space)
            convert = ActionConverter(single.action_space)
            normalizer = None
            if config.norm_obs:
                normalizer = Normalizer((row_elements(space),), 1, config.gamma, norm_reward=False)
                _frozen_normalizer(normalizer, checkpoint)
            agent = _evaluation_agent(config, checkpoint, torch_impl.nativize_dtype(space), action, policy)

            def act(observation):
                from gymnasium.vector.utils import concatenate, create_empty_array

                rows = pack_batch(space, concatenate(space, [observation], create_empty_array(space, 1)))
                if normalizer is not None:
                    rows = normalizer.final_observations(rows)
                with torch.inference_mode():
                    chosen, _, _, _ = agent(torch.from_numpy(rows), deterministic=True)
                return convert(chosen.numpy())[0]

            with VideoWriter(path, fps=single.metadata.get("render_fps") or 30) as writer:
                returns = play_gymnasium(single, act, episodes, seed, writer)
        finally:
            single.close()
    return {"returns": returns, "frames": writer.frames}
