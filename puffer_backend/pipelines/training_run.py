"""What every pipeline's training loop does after each update, written once: `TrainingRun`.

A pipeline runs its own rollouts and updates (the torch learner's loop, the jax program's
chunks) inside `with TrainingRun(...) as run:` and hands each finished update to
`run.end_update(...)`. The run then:
- counts updates and environment steps, and records the update's row (pipelines.metrics'
  keys: mean_return and episodes from the env's statistics, sps and wall_time from the
  clock, the update's losses);
- applies the target rule (pipelines.episodes.target_reached): `steps_to_target` is the
  step of the first row that reaches `config.target_return`, and `should_stop()` is then
  True, as it is once Ctrl-C was pressed (pipelines.interrupt); under torchrun rank 0's
  statistics and Ctrl-C decide on every rank (`agree`);
- stops a run whose losses or parameters turn non-finite (NaN or infinite): the update's row
  is recorded, then `NonFiniteError` names the update and what went non-finite, and the
  last checkpoint written before it is kept (nothing is saved after it);
- saves by one cadence (`save_due`): after the update that reaches a multiple of
  `config.save_every` (for chunks of updates: the chunk that crosses one), never after the
  last update, which the end of the run saves;
- at the end of the `with` block, writes the last checkpoint (inside the Ctrl-C guard, so a
  second Ctrl-C waits for it), sets `summary` (pipelines.metrics: steps, sps, compile_s,
  wall_time, mean_return, episodes, steps_to_target when a target is set, plus the
  pipeline's extras) and raises KeyboardInterrupt when Ctrl-C stopped the run.
An exception inside the block propagates without a save: the last checkpoint written stays.
Framework-free.
"""
from __future__ import annotations

import math

from .episodes import target_reached
from .interrupt import StopOnInterrupt

__all__ = ["TrainingRun", "NonFiniteError", "save_due", "LOSS_KEYS"]

LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")


class NonFiniteError(FloatingPointError):
    """Training produced a NaN or infinite loss or parameter; the message names the update
    and the checkpoint that was kept."""


def save_due(updates: int, saved_at: int, save_every: int, num_updates: int) -> bool:
    """True when the updates since the last save (at `saved_at`) reached a multiple of
    `save_every` (0: never) and the run is not over (the end saves anyway)."""
    return bool(save_every) and updates // save_every > saved_at // save_every and updates < num_updates


def _single_process(*flags: bool) -> tuple:
    return flags


class TrainingRun:
    """One run's bookkeeping around a pipeline's updates (see the module docstring).

    save: `save(run)` writes the checkpoint of `run.update` / `run.step` (called on the main
    process only). done_updates: updates already done (a resumed run). is_main: this process
    records rows and saves (rank 0 under torchrun; process 0 of several JAX hosts). agree:
    `agree(*flags) -> flags` as rank 0 has them, for several processes that must stop at the
    same update (pipelines.torch.runtime.DistInfo.agree).
    """

    def __init__(self, config, logger, clock, *, save, num_updates: int, steps_per_update: int,
                 done_updates: int = 0, is_main: bool = True, agree=_single_process, extra_summary=None):
        self.config, self.logger, self.clock = config, logger, clock
        self.num_updates, self.steps_per_update = num_updates, steps_per_update
        self.update = done_updates
        self.step = done_updates * steps_per_update
        self.mean_return, self.episodes = math.nan, 0
        self.steps_to_target = None
        self.summary: dict | None = None
        self._save, self._is_main, self._agree = save, is_main, agree
        self._saved_at = done_updates
        self._last_checkpoint = done_updates if done_updates else None  # a resumed run's checkpoint
        self._first_reaching = None
        self._interrupt = StopOnInterrupt()
        self._extra_summary = extra_summary or {}

    def __enter__(self) -> "TrainingRun":
        self._interrupt.__enter__()
        return self

    def remaining_updates(self) -> range:
        """The numbers (from 1) of the updates still to run."""
        return range(self.update + 1, self.num_updates + 1)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C was pressed (on this process)."""
        return self._interrupt.requested

    def end_update(self, mean_return, episodes, losses: dict, at: float | None = None,
                   params_finite: bool = True) -> None:
        """One more update is done: count it and record its row. `losses` holds LOSS_KEYS;
        `at`: the clock reading the row is stamped with (default now); params_finite: whether
        every parameter after the update is finite. Raises NonFiniteError after recording the
        row when a loss or a parameter is not finite."""
        self.update += 1
        self.step += self.steps_per_update
        self.mean_return, self.episodes = float(mean_return), int(episodes)
        row = {key: float(losses[key]) for key in LOSS_KEYS}
        if self._is_main:
            self.logger.record(self.step, mean_return=self.mean_return, episodes=self.episodes,
                               **self.clock.stamp(self.step, at), **row)
        bad = [key for key, value in row.items() if not math.isfinite(value)]
        if bad or not params_finite:
            self._stop_non_finite(bad)
        if self._first_reaching is None and target_reached(self.mean_return, self.episodes, self.config.target_return):
            self._first_reaching = self.step

    def should_stop(self) -> bool:
        """The target was reached or Ctrl-C pressed (rank 0's decision, on every process)."""
        reached, interrupted = self._agree(self._first_reaching is not None, self._interrupt.requested)
        if reached and self.steps_to_target is None:
            self.steps_to_target = self._first_reaching if self._first_reaching is not None else self.step
        return reached or interrupted

    def _stop_non_finite(self, bad_losses: list) -> None:
        what = (f"{' and '.join(bad_losses)} not finite" if bad_losses
                else "the policy's parameters not finite")
        kept = (f"the checkpoint of update {self._last_checkpoint} is kept" if self._last_checkpoint is not None
                else "no checkpoint was written before it (--save-every N keeps one every N updates)")
        raise NonFiniteError(f"update {self.update}: {what}; training stopped, {kept}")

    def save_if_due(self) -> None:
        """Save when the cadence (`save_due`) asks for it."""
        if save_due(self.update, self._saved_at, self.config.save_every, self.num_updates):
            if self._is_main:
                self._save(self)
            self._saved_at = self._last_checkpoint = self.update

    def __exit__(self, exc_type, exc, traceback) -> bool:
        try:
            if exc_type is None:
                summary = self.clock.summary(self.step)  # before the save: its time is not training
                if self._is_main:
                    self._save(self)
                summary.update(mean_return=self.mean_return, episodes=self.episodes, **self._extra_summary)
                if self.config.target_return is not None:
                    summary["steps_to_target"] = self.steps_to_target
                self.summary = summary
        finally:
            self._interrupt.__exit__(exc_type, exc, traceback)
        if exc_type is None and self._interrupt.requested:
            raise KeyboardInterrupt
        return False
