"""The episode-statistics rule of every pipeline, the command and the acceptance benchmark.

The rule, stated once:
- `mean_return` is the mean return (the env's own rewards, summed over an episode) of the
  RETURN_WINDOW = 20 most recently completed episodes over all envs, NaN before the first
  one ends. Episodes that end on the same step enter in env order.
- the target is reached (`target_reached`) once at least RETURN_WINDOW episodes have
  completed and `mean_return >= target`: a mean over fewer episodes decides nothing.
- `first_step_reaching(records, target)` applies that rule to recorded rows, which carry
  `mean_return` and `episodes` (episodes completed so far).

Two forms keep the statistics, tested equal on the same episode stream:
- `EpisodeStats`: numpy, fed step by step (the torch pipeline, where rewards are on the host);
- `JaxEpisodeStats` with `jax_stats_init/update/mean`: a pytree updated under `jit` once per
  rollout (the jax pipeline and the mixed pipeline's env), so the statistics never leave
  the device.
This module imports no framework; the JAX form imports JAX when first called.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..spec.errors import bad_value

__all__ = ["RETURN_WINDOW", "EVAL_HORIZON", "target_reached", "first_step_reaching", "EpisodeStats", "JaxEpisodeStats",
           "jax_stats_init", "jax_stats_update", "jax_stats_mean"]

RETURN_WINDOW = 20
# Evaluation (and videos) stop an episode that has not ended after this many steps and count
# its return so far: envs without a time limit (CliffWalking) can run forever under a
# greedy policy.
EVAL_HORIZON = 10_000


def target_reached(mean_return, episodes, target, window: int = RETURN_WINDOW) -> bool:
    """True when `target` is set (not None), at least `window` episodes have completed and
    `mean_return >= target`. NaN or missing values never reach a target."""
    if target is None or mean_return is None or episodes is None:
        return False
    mean_return, episodes = float(mean_return), float(episodes)
    return episodes >= window and mean_return >= float(target)  # NaN compares False


def first_step_reaching(records, target, window: int = RETURN_WINDOW):
    """The `step` of the first record (a mapping with step, mean_return, episodes) that
    reaches `target` by `target_reached`; None when none does or `target` is None."""
    for row in records:
        if target_reached(row.get("mean_return"), row.get("episodes"), target, window):
            return row["step"]
    return None


class EpisodeStats:
    """The rule on host data, one vectorized step at a time (cheap: one add and one `any`).

    add(rewards `(num_envs,)`, dones bool `(num_envs,)`): rewards of one step of every env,
    dones where that step ended an episode (terminated or truncated).
    """

    def __init__(self, num_envs: int, window: int = RETURN_WINDOW):
        self.running = np.zeros(num_envs, dtype=np.float64)
        self.recent: list[float] = []
        self.window = window
        self.episodes = 0

    def add(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        self.running += rewards
        if dones.any():
            finished = self.running[dones]
            self.recent.extend(finished.tolist())
            del self.recent[:-self.window]
            self.episodes += len(finished)
            self.running[dones] = 0.0

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.recent)) if self.recent else math.nan

    def target_reached(self, target) -> bool:
        return target_reached(self.mean_return, self.episodes, target, self.window)

    def state_arrays(self) -> dict:
        """The completed episodes' statistics as arrays, for a checkpoint: `recent` (the latest
        returns, oldest first) and `count`. Unfinished episodes are not kept (a resumed torch
        run resets its envs, which ends them)."""
        return {"recent": np.asarray(self.recent, dtype=np.float64), "count": np.asarray(self.episodes, dtype=np.int64)}

    def restore(self, arrays: dict) -> None:
        """Continue from `state_arrays()`: the same recent returns and count, no episode under way.
        ValueError naming `checkpoint` when one of them is missing."""
        for name in ("recent", "count"):
            if name not in arrays:
                raise bad_value("checkpoint", f"the episode statistics state/episodes/{name}", "a checkpoint without it")
        self.recent = [float(x) for x in np.asarray(arrays["recent"]).reshape(-1)][-self.window:]
        self.episodes = int(arrays["count"])
        self.running[:] = 0.0


class JaxEpisodeStats(NamedTuple):
    """The rule's state as a pytree: running returns per env and a ring buffer of the latest
    completed returns over all envs."""
    running: Any   # (num_envs,) float32: return of each env's current episode so far
    recent: Any    # (window,) float32: completed returns, ring buffer
    count: Any     # () int32: completed episodes so far


def jax_stats_init(num_envs: int, window: int = RETURN_WINDOW) -> JaxEpisodeStats:
    import jax.numpy as jnp

    return JaxEpisodeStats(jnp.zeros((num_envs,), jnp.float32), jnp.zeros((window,), jnp.float32),
                           jnp.zeros((), jnp.int32))


def jax_stats_update(stats: JaxEpisodeStats, rewards, dones, gather=None) -> JaxEpisodeStats:
    """Fold a trajectory in: rewards and dones `(time, num_envs)`, in time order; jit-friendly.

    Completed episodes enter the ring buffer in time order (env order within one step), so the
    buffer always holds the `window` most recent ones. One scatter per call, not per step.
    gather: when the envs are split over devices (inside `shard_map`), a function that
    concatenates a `(time, local_envs)` array over devices into `(time, num_envs)`, so every
    device fills the same ring buffer.
    """
    import jax
    import jax.numpy as jnp

    def accumulate(running, step):
        reward, done = step
        total = running + reward
        return jnp.where(done, 0.0, total), total

    running, totals = jax.lax.scan(accumulate, stats.running, (rewards, dones.astype(bool)))
    if gather is not None:
        totals, dones = gather(totals), gather(dones)
    flat_done = dones.reshape(-1).astype(jnp.int32)
    window = stats.recent.shape[0]
    order = jnp.cumsum(flat_done) - 1  # rank of each completed episode within this trajectory
    finished = flat_done.sum()
    # Only the last `window` completions may be written: older ones would collide on a slot.
    keep = (flat_done > 0) & (order >= finished - window)
    slot = jnp.where(keep, (stats.count + order) % window, window)  # slot `window` is dropped
    recent = stats.recent.at[slot].set(totals.reshape(-1), mode="drop")
    count = stats.count + finished
    return JaxEpisodeStats(running, recent, count)


def jax_stats_mean(stats: JaxEpisodeStats):
    """Mean of the most recent completed returns (at most `window`); NaN before the first one."""
    import jax.numpy as jnp

    window = stats.recent.shape[0]
    filled = jnp.minimum(stats.count, window)
    total = jnp.where(jnp.arange(window) < filled, stats.recent, 0.0).sum()
    return jnp.where(filled > 0, total / jnp.maximum(filled, 1), jnp.nan)
