"""What the recorded metrics mean, the same in every pipeline, and the clock that times them.

A pipeline records one row per update: `logger.record(step, **row)` with `step` the
environment steps done so far (over all envs and ranks) and the keys of METRIC_KEYS plus
`wall_time`:
- mean_return, episodes: the episode-statistics rule (pipelines.episodes);
- sps: environment steps per second of training over the run so far: steps divided by the
  time since the training loop started, compile time excluded (`RunClock.sps`);
- policy_loss, value_loss, entropy, approx_kl: the last minibatch of the update, as CleanRL
  logs them (torch.learner.update_losses, jax.program.reported_losses);
- clipfrac: the fraction of samples whose probability ratio left [1 - clip_coef, 1 + clip_coef]
  (|ratio - 1| > clip_coef), the mean over the update's minibatches;
- wall_time: seconds since the run started (`train` was called), compile time included; a
  resumed run goes on from the times its checkpoint saved, so the columns have no seam.
The summary that `train` returns holds steps, sps, compile_s (seconds spent compiling: JAX
programs, the torch.compile warm-up; 0 when nothing is compiled) and wall_time, plus
mean_return, episodes and, when a target is set, steps_to_target.
"""
from __future__ import annotations

import contextlib
import math
import time

__all__ = ["METRIC_KEYS", "WALL_TIME", "CLOCK_KEYS", "RunClock", "notify"]

METRIC_KEYS = ("mean_return", "episodes", "sps", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")
WALL_TIME = "wall_time"
CLOCK_KEYS = (WALL_TIME, "training_s", "compile_s")  # RunClock.times(): what a checkpoint keeps of the clock


class RunClock:
    """Times a run: created when the run starts; `compiling()` measures compile time apart;
    `start_training()` marks the start of the training loop.

    `at` arguments are readings of the clock's timer (`now()`), for rows whose moment is
    known only afterwards (the jax pipeline records a chunk of updates after it returns and
    gives each row its share of the chunk's time).

    A resumed run goes on from the times its checkpoint saved (`times()`, then
    `continue_from(times)`): wall_time, training time and compile time add up over the whole
    run. `compile_s` is this process's compile time; `summary` reports the whole run's.
    """

    def __init__(self, timer=time.perf_counter):
        self._timer = timer
        self._start = timer()
        self._training_start = None
        self._compile_in_training = 0.0
        self.compile_s = 0.0
        self._before = dict.fromkeys(CLOCK_KEYS, 0.0)

    def continue_from(self, times: dict) -> None:
        """Count the times of the run so far (a checkpoint's `times()`) before this process's."""
        self._before = {key: float(times[key]) for key in self._before}

    def times(self, at: float | None = None) -> dict:
        """The run's wall_time, training_s and compile_s so far, for a checkpoint."""
        return {WALL_TIME: self.wall_time(at), "training_s": self.training_s(at),
                "compile_s": self._before["compile_s"] + self.compile_s}

    def now(self) -> float:
        return self._timer()

    @contextlib.contextmanager
    def compiling(self):
        """Time spent inside counts as compile time (excluded from sps)."""
        begin = self._timer()
        try:
            yield
        finally:
            spent = self._timer() - begin
            self.compile_s += spent
            if self._training_start is not None:
                self._compile_in_training += spent

    def start_training(self) -> None:
        self._training_start = self._timer()

    def wall_time(self, at: float | None = None) -> float:
        """Seconds since the run started."""
        return self._before[WALL_TIME] + (self._timer() if at is None else at) - self._start

    def training_s(self, at: float | None = None) -> float:
        """Seconds of training so far: since start_training(), compile time excluded."""
        if self._training_start is None:
            return self._before["training_s"]
        return (self._before["training_s"] + (self._timer() if at is None else at) - self._training_start
                - self._compile_in_training)

    def sps(self, steps: int, at: float | None = None) -> float:
        """Environment steps per second of training over the run so far (NaN before any time passed)."""
        seconds = self.training_s(at)
        return steps / seconds if seconds > 0 else math.nan

    def stamp(self, steps: int, at: float | None = None) -> dict:
        """The timing columns of a row recorded at `steps`: sps and wall_time."""
        at = self._timer() if at is None else at
        return {"sps": self.sps(steps, at), WALL_TIME: self.wall_time(at)}

    def summary(self, steps: int) -> dict:
        """steps, sps, compile_s and wall_time of the run so far, for `train`'s summary."""
        at = self._timer()
        return {"steps": int(steps), "sps": self.sps(steps, at),
                "compile_s": self._before["compile_s"] + self.compile_s, WALL_TIME: self.wall_time(at)}


def notify(logger, text: str) -> None:
    """Hand a status line (e.g. "compiling ...") to the logger's `note`, when it has one."""
    note = getattr(logger, "note", None)
    if note is not None:
        note(text)
