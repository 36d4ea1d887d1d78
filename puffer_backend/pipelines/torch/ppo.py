"""PPO in PyTorch on gymnasium vector envs (CleanRL's ppo.py, on `puffer_backend.torch_impl`).

The torch learner's loop (loop.py) on gymnasium vector envs (envs.gym_vec.GymVecEnv):
observations are packed to flat rows (`puffer_backend.spec.pack_batch`) and unpacked by the
policy with `nativize_tensor`; actions come from `sample_logits`. A time limit is
bootstrapped with the critic's value of the final observation (pipelines.gae). Under
torchrun (WORLD_SIZE > 1) every rank steps its own envs (seed + rank) and the update runs
under DistributedDataParallel on gloo, so gradients are averaged across ranks; only rank 0
logs and writes the checkpoint. `config.total_steps` counts steps over all ranks.

`config.device` (pipelines.devices) puts the policy, Adam and the rollout buffers on a GPU:
each step's observations go across in one non-blocking copy from a pinned buffer and the
actions come back once (gymnasium steps on the host). Under torchrun the ranks train on the
CPU ("auto" resolves to cpu there; cuda is refused).

`train(config, logger, resume=True)` continues the run saved in `logger.run_dir`: weights,
Adam's state, the sampling generator, the counters, the episode window and the clock come
back exactly; gymnasium envs cannot be restored mid-episode, so they are reset (with a seed
drawn from the seed and the update count) and the episodes under way at the save are lost.
"""
from __future__ import annotations

import gc

import torch

from puffer_backend import torch_impl
from puffer_backend.spec import pack_batch, row_elements

from ..checkpoint import load_checkpoint
from ..config import check_pipeline_config, check_positive_int
from ..devices import resolve_device
from ..envs.factory import resolve_factory
from ..envs.gym_vec import ActionConverter, GymVecEnv, check_spaces, make_gym_env
from ..metrics import RunClock
from ..normalize import Normalizer
from ..resume import resume_checkpoint
from ..run_folder import claim_run_folder
from ...spec.errors import bad_value
from .loop import evaluate_on, evaluation_agent, train_on
from .runtime import init_distributed, torch_threads
from .user_policy import UserPolicy

__all__ = ["train", "evaluate", "record_video", "check_env", "check_device"]

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
    (before any update), a device this machine lacks (config.device), a checkpoint that
    `config` cannot resume (pipelines.resume) or a resume under torchrun, FileNotFoundError
    when there is no checkpoint to resume, and KeyboardInterrupt after saving the checkpoint
    when Ctrl-C stopped the run.
    """
    clock = RunClock()
    check_pipeline_config(config, BACKEND)
    factory = resolve_factory(config.env_id, env)
    user_policy = UserPolicy(policy) if policy is not None else None
    dist = init_distributed()
    try:
        device = check_device(config, dist.world_size)
        with claim_run_folder(logger.run_dir, config, resume=resume, main=dist.is_main), torch_threads(1):
            checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
            if checkpoint is not None and dist.world_size > 1:
                # The checkpoint holds rank 0's sampling generator only.
                raise bad_value("resume", "a single-process run (resuming under torchrun is not supported)",
                                f"WORLD_SIZE={dist.world_size}")
            rollout_env = _make_env(config, config.num_envs, config.num_steps, factory, device=device)
            try:
                return train_on(rollout_env, config, logger, backend=BACKEND, clock=clock, checkpoint=checkpoint,
                                user_policy=user_policy, dist=dist)
            finally:
                rollout_env.close()
    finally:
        # Free DistributedDataParallel (its reducer keeps gloo work and tensors alive, in
        # reference cycles) while the interpreter and the process group are both still up:
        # torn down at interpreter exit instead, gloo can abort the process (SIGABRT).
        gc.collect()
        dist.close()


def check_device(config, world_size: int = 1) -> str:
    """The torch device the run of `config` trains on (pipelines.devices.resolve_device):
    "cpu" or "cuda:N". Under torchrun (world_size > 1) the ranks train on the CPU: "auto"
    resolves to cpu and a GPU is refused. ValueError naming config.device otherwise. The
    command calls it before it creates the run folder."""
    if world_size > 1:
        if config.device not in ("auto", "cpu"):
            raise bad_value("config.device", "'cpu' or 'auto' under torchrun (its ranks train on the CPU, over gloo)",
                            repr(config.device))
        return "cpu"
    return resolve_device(config.device, BACKEND)


def check_env(config, env=None) -> None:
    """Build one env of the run and check that this pipeline can train it (its spaces, float
    rows under norm_obs), without training: ValueError naming env_id (or config.norm_obs).
    The command calls it before it creates the run folder."""
    single = make_gym_env(config.env_id, resolve_factory(config.env_id, env))
    try:
        check_spaces(config.env_id, single.observation_space, single.action_space, config.norm_obs)
    finally:
        single.close()


def _make_env(config, num_envs: int, num_steps: int, factory, vec: str | None = None, *,
              training: bool = True, device: str = "cpu") -> GymVecEnv:
    return GymVecEnv(config.env_id, num_envs, num_steps, vec=vec or config.vec, factory=factory,
                     norm_obs=config.norm_obs, norm_reward=config.norm_reward and training, gamma=config.gamma,
                     device=device)


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
        venv = _make_env(config, episodes, 1, factory, "sync", training=False)
        try:
            venv.freeze_normalization(checkpoint.state)
            agent = evaluation_agent(config, checkpoint, venv.observation_layout, venv.action_spec, policy)
            return evaluate_on(venv, agent, episodes, seed)
        finally:
            venv.close()


def record_video(run_dir, path, episodes: int = 1, seed: int = 0, *, env=None, policy=None) -> dict:
    """Play `episodes` greedy episodes one after another in one env rendering `rgb_array`
    frames and write them to `path` (.mp4 or .gif, pipelines.video); returns {"returns":
    [per episode], "frames": count} (a frame per observation: the reset's and each step's).

    Raises ValueError when the env does not render rgb_array frames or the path is not a
    video file, FileNotFoundError when `run_dir` has no checkpoint.
    """
    from ..video import VideoWriter, check_video_config, check_video_path, play_gymnasium

    episodes = check_positive_int("episodes", episodes)
    path = check_video_path(path)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    check_video_config(config)
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
                normalizer.freeze(checkpoint.state)
            agent = evaluation_agent(config, checkpoint, torch_impl.nativize_dtype(space), action, policy)

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
