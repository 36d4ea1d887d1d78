"""Continuing a run from its checkpoint: which settings may change, and the checks every pipeline runs.

A run resumes in its own folder from `checkpoint.npz` (pipelines.checkpoint): the policy, the
optimizer state, the RNG state, the step and update counters, the episode statistics and the
clock (so `wall_time` and `sps` go on from where they were). What else is restored depends on
the pipeline (docs/cli.md, "Resuming a run"): the jax and mixed pipelines restore their env
states too and continue bit for bit; the torch pipeline resets its gymnasium envs.

Only the fields in RESUME_MAY_CHANGE may differ from the saved config.json: raising
`total_steps` continues a finished run. Anything else (backend, env, sizes, hyperparameters)
would make another run, and is refused. Framework-free.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..spec.errors import bad_value
from .checkpoint import Checkpoint, load_checkpoint
from .config import TrainConfig
from .metrics import CLOCK_KEYS

__all__ = ["RESUME_MAY_CHANGE", "check_resumable", "resume_checkpoint", "resume_config", "resumed_env_seed"]

# Settings that a resumed run may change: the length of the run, when it stops (target_return,
# None for --no-early-stop), how its envs are stepped (vec: torch resets its envs anyway), saved,
# compiled (and whether compiled programs are cached) and logged, and the device it trains on
# (checkpoints hold numpy arrays: they load on any device). (out_dir, run_name: the run's
# folder, which the command sets.)
RESUME_MAY_CHANGE = ("total_steps", "target_return", "vec", "compile", "save_every", "logger", "out_dir",
                     "run_name", "extra", "compile_cache", "device")


def check_resumable(saved: TrainConfig, config: TrainConfig, checkpoint: Checkpoint) -> None:
    """ValueError `config.<field>: expected ..., received ...` unless `config` continues the run
    of `saved` whose `checkpoint` is being resumed: every field outside RESUME_MAY_CHANGE equal,
    and at least one update left to run."""
    for field in dataclasses.fields(TrainConfig):
        if field.name in RESUME_MAY_CHANGE:
            continue
        before, now = getattr(saved, field.name), getattr(config, field.name)
        if before != now:
            raise bad_value(f"config.{field.name}",
                            f"{before!r}, the value of the run being resumed (a resumed run may change only "
                            f"{', '.join(RESUME_MAY_CHANGE[:5])}; start a new run to change the rest)", repr(now))
    if config.num_updates <= checkpoint.update:
        need = (checkpoint.update + 1) * config.steps_per_update()
        raise bad_value("config.total_steps",
                        f"at least {need} to resume (the run has done {checkpoint.step} steps, "
                        f"{checkpoint.update} updates of {config.steps_per_update()})", repr(config.total_steps))


def resume_checkpoint(run_dir, config: TrainConfig, backend: str) -> Checkpoint:
    """The checkpoint of `run_dir` (written by `backend`), checked to be resumable with `config`.

    Raises FileNotFoundError when there is no checkpoint, ValueError when it is damaged or
    another backend's, lacks the run's clock, or `config` changes what a resumed run may not
    change (check_resumable).
    """
    saved, checkpoint = load_checkpoint(run_dir, backend)
    check_resumable(saved, config, checkpoint)
    clock = checkpoint.info.get("clock")
    if not (isinstance(clock, dict) and all(isinstance(clock.get(key), (int, float)) for key in CLOCK_KEYS)):
        raise bad_value("checkpoint", f"the run's clock ({', '.join(CLOCK_KEYS)}) in its header", repr(clock))
    return checkpoint


def resume_config(run_dir, **changes) -> TrainConfig:
    """The saved config of `run_dir` with `changes` applied (e.g. total_steps=...), validated
    and checked with check_resumable: the config to pass to `train(config, logger,
    resume=True)`. Raises FileNotFoundError, or ValueError naming the field at fault."""
    saved, checkpoint = load_checkpoint(run_dir)
    config = dataclasses.replace(saved, **changes)
    config.validate()
    check_resumable(saved, config, checkpoint)
    return config


def resumed_env_seed(seed: int, update: int) -> int:
    """The seed that resets the envs of a run resumed after `update` updates: a 32-bit value
    drawn from (seed, update), so two resumes of the same checkpoint see the same episodes and
    a resumed run does not replay the episodes its first reset began."""
    return int(np.random.SeedSequence([seed, update]).generate_state(1)[0])
