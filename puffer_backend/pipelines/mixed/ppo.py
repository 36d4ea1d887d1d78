"""PPO with a gymnax env stepped under jit and a torch policy (the `mixed` backend).

The torch learner's loop (pipelines.torch.loop) with a JAX env (env.GymnaxTorchEnv): the
env never leaves JAX, the policy never leaves torch. Each step is one jitted JAX dispatch
(env step + auto-reset + bookkeeping), observations reach torch with `exchange.to_torch` and
actions go back with `exchange.to_jax`, both zero-copy DLPack views. The policy and the
learner (GAE, clipped PPO, Adam) are the torch pipeline's: the same PPO on a different env.

`config.device` (pipelines.devices): on "cuda:N" the policy, Adam and the buffers live on
torch's GPU N and the env on the same GPU in JAX; observations and actions cross as DLPack
views of device buffers, and no step waits for the host (metrics are read once per update).

`train(config, logger, resume=True)` continues the run saved in `logger.run_dir` bit for
bit: the checkpoint holds the torch side (weights, Adam, the sampling generator) and the
env's JAX side (env states, PRNG key, observation, episode statistics), saved between
rollouts.
"""
from __future__ import annotations

import torch

from ..checkpoint import load_checkpoint
from ..compile_cache import jax_compile_cache
from ..config import check_pipeline_config, check_positive_int
from ..devices import resolve_device
from ..envs.factory import resolve_factory
from ..metrics import RunClock
from ..resume import resume_checkpoint
from ..run_folder import claim_run_folder
from ..torch.loop import evaluate_on, evaluation_agent, train_on
from ..torch.runtime import torch_threads
from ..torch.user_policy import UserPolicy

__all__ = ["train", "evaluate", "record_video", "check_env", "check_device"]

BACKEND = "mixed"


def _make_env(config, num_envs: int, num_steps: int, factory, *, training: bool = True, device: str = "cpu"):
    from .env import GymnaxTorchEnv  # imports jax: only when this pipeline runs
    return GymnaxTorchEnv(config.env_id, num_envs, num_steps, factory=factory, norm_obs=config.norm_obs,
                          norm_reward=config.norm_reward and training, gamma=config.gamma, device=device)


def check_device(config, world_size: int = 1) -> str:
    """The torch device the run of `config` trains on (pipelines.devices.resolve_device):
    "cpu" or "cuda:N", a GPU that torch and JAX both see. ValueError naming config.device
    otherwise. The command calls it before it creates the run folder."""
    return resolve_device(config.device, BACKEND)


def check_env(config, env=None) -> None:
    """Build the run's JAX env and check that this pipeline can train it (observations whose leaves
    are bool, int or float arrays, Discrete or float Box actions), without training: ValueError naming env_id.
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
    (before any update), a device this machine lacks (config.device) or a checkpoint that
    `config` cannot resume (pipelines.resume),
    FileNotFoundError when there is no checkpoint to resume, and KeyboardInterrupt after
    saving the checkpoint when Ctrl-C stopped the run.
    """
    clock = RunClock()
    check_pipeline_config(config, BACKEND)
    factory = resolve_factory(config.env_id, env)
    user_policy = UserPolicy(policy) if policy is not None else None
    device = check_device(config)
    with claim_run_folder(logger.run_dir, config, resume=resume), torch_threads(1), \
            jax_compile_cache(config.compile_cache) as cache:
        checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
        return train_on(_make_env(config, config.num_envs, config.num_steps, factory, device=device), config, logger,
                        backend=BACKEND, clock=clock, checkpoint=checkpoint, user_policy=user_policy,
                        compile_note=cache.describe)


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
        genv.freeze_normalization(checkpoint.state)
        agent = evaluation_agent(config, checkpoint, genv.observation_layout, genv.action_spec, policy)
        return evaluate_on(genv, agent, episodes, seed)


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
    from ..video import VideoWriter, check_video_config, check_video_path, play_gymnax

    episodes = check_positive_int("episodes", episodes)
    path = check_video_path(path)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    check_video_config(config)
    factory = resolve_factory(config.env_id, env)
    with torch_threads(1):
        genv = _make_env(config, 1, 1, factory, training=False)
        frames = gymnax_frames(genv.gymnax_env)  # an env without frames is refused before anything runs
        obs_rms = saved_obs_rms(checkpoint.state, config.norm_obs)
        agent = evaluation_agent(config, checkpoint, genv.observation_layout, genv.action_spec, policy)

        def act(obs):
            if obs_rms is not None:
                obs = rms_normalize(obs_rms, obs)
            with torch.inference_mode():
                action, _, _, _ = agent(exchange.to_torch(jnp.asarray(obs, jnp.float32)), deterministic=True)
            return (action.to(torch.int32) if genv.discrete else action).numpy()  # JAX runs with x64 off

        with VideoWriter(path, fps=frames.fps) as writer:
            returns = play_gymnax(genv.gymnax_env, act, episodes, seed, writer, frames)
    return {"returns": returns, "frames": writer.frames}
