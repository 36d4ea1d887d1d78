"""PPO training pipelines, one per backend, driven by the `puffer-backend` command or from Python.

One folder per pipeline over shared building blocks:

    config.py      TrainConfig: every setting, its meaning and the only validation
    devices.py     config.device resolved on this machine (torch and mixed: cpu or cuda:N)
    config_file.py TOML config files layered over the defaults (and an env-preset hook)
    presets.py     per-env presets (CleanRL's continuous control) and env targets
    networks.py    the built-in policies' network choice: which observation leaves get a CNN
    normalize.py   observation and reward normalization (numpy and JAX forms)
    episodes.py    the episode-statistics rule (mean of the 20 latest episodes, target reached)
    seed_stats.py  several seeds: --seeds' ranges and lists, IQM and bootstrap CIs over runs
    gae.py         the advantage rule (one meaning of `dones`; time limits bootstrapped)
    rules.py       the update's rules for both learners (Adam, schedule, clip, advantage norm)
    training_run.py  what every loop does after an update: rows, target, saves, Ctrl-C, summary
    metrics.py     what sps, wall_time and compile_s mean, and the clock that measures them
    checkpoint.py  the one checkpoint format (config.json stays the only copy of the config)
    resume.py      what a resumed run may change, checked before it continues
    run_folder.py  one process per run folder (a lock), and what a new run may start in
    run_folder.py  one training process per run folder (a lock); no new run in another run's folder
    interrupt.py   Ctrl-C finishes the update, saves a checkpoint, then stops
    compile_cache.py  JAX's persistent compilation cache for the jax and mixed pipelines
    video.py       videos of a trained policy
    envs/          the env table, the env contract of the torch loop (contract.py), gymnasium
                   vector envs (torch), gymnax vector envs (jax, mixed), users' factories
    torch/         the torch pipeline and the torch learner's loop (loop.py) that mixed shares
    jax/           the jax pipeline: gymnax envs, rollout and update under one jax.jit
    mixed/         the mixed pipeline: the torch loop on a gymnax env stepped under jit

Every pipeline's entry module (`PIPELINES[backend]`) exposes:
    train(config: TrainConfig, logger, *, resume: bool = False, env=None, policy=None) -> dict
        Trains; calls `logger.record(step, **row)` once per update with the keys of
        METRIC_KEYS and `wall_time` (see metrics.py for what each means); saves a checkpoint
        under `logger.run_dir` at the end, every `config.save_every` updates, and after
        Ctrl-C (then raises KeyboardInterrupt); returns the summary described in metrics.py.
        resume=True continues the run whose checkpoint is in `logger.run_dir` (resume.py).
        Refuses a config of another backend, a new run in a folder that holds another run,
        and a folder another process trains in (run_folder.py).
    evaluate(run_dir, episodes=20, seed=0, *, env=None, policy=None) -> float
        Loads the run's config.json and checkpoint and returns the mean episodic return of
        the greedy (deterministic) policy. FileNotFoundError when the run has no checkpoint.
    record_video(run_dir, path, episodes=1, seed=0, *, env=None, policy=None) -> dict
    check_env(config, env=None) -> None
    check_device(config, world_size=1) -> str   (torch and mixed: the device a run trains on,
        "cpu" or "cuda:N"; ValueError naming config.device for a GPU this machine lacks)
A logger is anything with `run_dir` (pathlib.Path) and `record(step, **metrics)`; an
optional `note(text)` receives status lines such as "compiling ...".
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..spec.errors import bad_value
from .config import BACKENDS, TrainConfig
from .episodes import RETURN_WINDOW
from .metrics import METRIC_KEYS

PIPELINES = {backend: f"puffer_backend.pipelines.{backend}.ppo" for backend in BACKENDS}

__all__ = ["TrainConfig", "PIPELINES", "METRIC_KEYS", "RETURN_WINDOW", "load_pipeline", "MemoryLogger"]


def load_pipeline(backend: str):
    """The pipeline module for `backend` (imports its framework)."""
    if backend not in PIPELINES:
        raise bad_value("backend", f"one of {sorted(PIPELINES)}", repr(backend))
    return importlib.import_module(PIPELINES[backend])


class MemoryLogger:
    """A logger that keeps records and notes in memory: for tests and for library use without the CLI.

    It creates `run_dir` when it does not exist and leaves an existing one as it is: whether a
    new run may use a folder is the pipeline's `train`'s decision (run_folder.py: not when the
    folder holds another run's checkpoint, metrics, summary or config.json)."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.records: list[dict] = []
        self.notes: list[str] = []

    def record(self, step: int, **metrics) -> None:
        self.records.append({"step": int(step), **{k: float(v) for k, v in metrics.items()}})

    def note(self, text: str) -> None:
        self.notes.append(str(text))
