"""Observation and reward normalization for continuous control (`norm_obs`, `norm_reward`).

The rule, as gymnasium's vector wrappers `NormalizeObservation` and `NormalizeReward` and
CleanRL's ppo_continuous_action.py (which adds the clips) apply it, with one statistic
shared by all envs:
- running mean and variance (`update_moments`: the parallel algorithm, starting from mean 0,
  variance 1, count 1e-4), updated with every batch of observations the envs return (the
  reset's too) and, for rewards, with every env's discounted return
  `returns = returns * gamma * (1 - terminated) + reward` (a time limit does not reset it);
- observations become `clip((obs - mean) / sqrt(var + 1e-8), -10, 10)`; the observation an
  episode reached before its auto-reset (`final_obs`, for the time-limit bootstrap) is
  normalized with the same statistics, without updating them;
- rewards become `clip(reward / sqrt(return_var + 1e-8), -10, 10)` (not centred).
The episode statistics (`mean_return`) always see the env's own rewards. Evaluation uses
the saved statistics, frozen.

Two forms, tested equal on the same stream and against gymnasium's wrappers:
- `Normalizer`: numpy, float64 statistics, for the torch pipeline (host data);
- `NormState` with `norm_init/norm_reset/norm_step`: a pytree of float32 statistics updated
  under `jit` (the jax pipeline's scan, the mixed pipeline's jitted step); inside
  `shard_map`, `axis_name` makes every device use the moments of the whole batch.
Both save and load the same checkpoint arrays (`state/obs_rms/...`, `state/return_rms/...`).
Framework-free at import; the JAX form imports JAX when first called.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..spec.errors import bad_value

__all__ = ["OBS_CLIP", "REWARD_CLIP", "EPSILON", "INITIAL_COUNT", "update_moments", "RunningMeanStd",
           "Normalizer", "RunningMoments", "NormState", "norm_init", "norm_reset", "norm_step", "rms_normalize",
           "norm_arrays", "norm_from_arrays", "norm_state_arrays", "saved_obs_rms"]

OBS_CLIP = 10.0
REWARD_CLIP = 10.0
EPSILON = 1e-8          # inside the square root of the scale
INITIAL_COUNT = 1e-4    # gymnasium's RunningMeanStd starts from this pseudo-count


def update_moments(mean, var, count, batch_mean, batch_var, batch_count):
    """Chan et al.'s parallel update of (mean, var, count) by a batch's moments (numpy or JAX)."""
    delta = batch_mean - mean
    total = count + batch_count
    new_mean = mean + delta * batch_count / total
    m2 = var * count + batch_var * batch_count + delta * delta * count * batch_count / total
    return new_mean, m2 / total, total


class RunningMeanStd:
    """Running mean and variance of `shape`-shaped samples, float64 (numpy)."""

    def __init__(self, shape=()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = INITIAL_COUNT

    def update(self, batch: np.ndarray) -> None:
        """Fold in a batch `(n, *shape)`."""
        batch = np.asarray(batch, np.float64)
        self.mean, self.var, self.count = update_moments(self.mean, self.var, self.count, batch.mean(axis=0),
                                                         batch.var(axis=0), batch.shape[0])


class Normalizer:
    """The rule on host data, for `num_envs` envs (numpy; the torch pipeline).

    obs_shape: the shape of one observation row (None: observations are left alone).
    norm_reward: scale rewards by the running std of the discounted return.
    `update = False` freezes the statistics (evaluation).
    """

    def __init__(self, obs_shape, num_envs: int, gamma: float, norm_reward: bool):
        self.obs_rms = RunningMeanStd(obs_shape) if obs_shape is not None else None
        self.return_rms = RunningMeanStd(()) if norm_reward else None
        self.returns = np.zeros(num_envs, np.float64)
        self.gamma = float(gamma)
        self.update = True

    def observations(self, rows: np.ndarray) -> np.ndarray:
        """Normalized observations `(n, *obs_shape)` of `rows`' float dtype (float32 for other
        inputs); the statistics see `rows` first."""
        if self.obs_rms is None:
            return rows
        if self.update:
            self.obs_rms.update(rows)
        return self.final_observations(rows)

    def final_observations(self, rows: np.ndarray) -> np.ndarray:
        """Observations normalized with the current statistics, which stay as they are."""
        if self.obs_rms is None:
            return rows
        scaled = (rows - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + EPSILON)
        dtype = rows.dtype if np.issubdtype(rows.dtype, np.floating) else np.float32
        return np.clip(scaled, -OBS_CLIP, OBS_CLIP).astype(dtype)

    def rewards(self, reward: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        """Scaled rewards `(num_envs,)` float32 of one step of every env."""
        if self.return_rms is None:
            return reward
        if self.update:
            self.returns = self.returns * self.gamma * (1.0 - terminated) + reward
            self.return_rms.update(self.returns)
        scaled = reward / np.sqrt(self.return_rms.var + EPSILON)
        return np.clip(scaled, -REWARD_CLIP, REWARD_CLIP).astype(np.float32)

    def arrays(self) -> dict:
        """The statistics as checkpoint arrays (see norm_arrays)."""
        obs = self.obs_rms
        ret = self.return_rms
        return norm_arrays(None if obs is None else (obs.mean, obs.var, obs.count),
                           None if ret is None else (ret.mean, ret.var, ret.count),
                           self.returns if ret is not None else None)

    def freeze(self, state: dict) -> None:
        """Use a checkpoint's statistics, frozen (evaluation and videos)."""
        self.load(state)
        self.update = False

    def load(self, state: dict) -> None:
        """Take the statistics of a checkpoint's `state` group; ValueError when one is missing."""
        obs, ret, returns = norm_from_arrays(state, self.obs_rms is not None, self.return_rms is not None)
        if obs is not None:
            self.obs_rms.mean, self.obs_rms.var, self.obs_rms.count = (np.asarray(obs[0], np.float64),
                                                                       np.asarray(obs[1], np.float64), float(obs[2]))
        if ret is not None:
            self.return_rms.mean, self.return_rms.var, self.return_rms.count = (float(ret[0]), float(ret[1]),
                                                                                float(ret[2]))
            if returns is not None and np.shape(returns) == self.returns.shape:
                self.returns = np.asarray(returns, np.float64)


def norm_arrays(obs_moments, return_moments, returns) -> dict:
    """Checkpoint arrays (the `state` group) of the statistics: `obs_rms/{mean,var,count}`,
    `return_rms/{mean,var,count}` and `norm_returns` (each env's discounted return); a
    disabled part is left out."""
    out = {}
    for prefix, moments in (("obs_rms", obs_moments), ("return_rms", return_moments)):
        if moments is not None:
            for name, value in zip(("mean", "var", "count"), moments):
                out[f"{prefix}/{name}"] = np.asarray(value)
    if returns is not None:
        out["norm_returns"] = np.asarray(returns)
    return out


def norm_from_arrays(state: dict, norm_obs: bool, norm_reward: bool):
    """(obs moments or None, return moments or None, returns or None) from a checkpoint's
    `state` group; ValueError naming the missing array when the run normalized and it is absent."""
    def moments(prefix):
        names = [f"{prefix}/{name}" for name in ("mean", "var", "count")]
        missing = [name for name in names if name not in state]
        if missing:
            raise bad_value("checkpoint", f"the normalization statistics state/{missing[0]}",
                            "a checkpoint without them")
        return tuple(state[name] for name in names)
    return (moments("obs_rms") if norm_obs else None, moments("return_rms") if norm_reward else None,
            state.get("norm_returns") if norm_reward else None)


def norm_state_arrays(state: dict, template) -> dict:
    """A checkpoint's statistics named by their paths in a `NormState` like `template`
    (`obs/mean`, `ret/count`, `returns`), for `jax.trees.restore_tree`: resuming carries on
    with the saved statistics exactly."""
    obs, ret, returns = norm_from_arrays(state, template.obs is not None, template.ret is not None)
    arrays = {f"{part}/{name}": value for part, moments in (("obs", obs), ("ret", ret)) if moments is not None
              for name, value in zip(("mean", "var", "count"), moments)}
    if returns is not None:
        arrays["returns"] = returns
    return arrays


# --- The JAX form -----------------------------------------------------------------------

class RunningMoments(NamedTuple):
    """Running moments as a pytree (float32 under JAX's default x64 off)."""
    mean: Any
    var: Any
    count: Any


class NormState(NamedTuple):
    """The normalization state carried through a rollout; a disabled part is None."""
    obs: RunningMoments | None       # moments of observation rows `(obs_dim,)`, replicated over devices
    ret: RunningMoments | None       # moments of the discounted return `()`, replicated over devices
    returns: Any          # (num_envs,) discounted return per env (split over devices), or None


def norm_init(obs_dim: int, num_envs: int, norm_obs: bool, norm_reward: bool) -> NormState | None:
    """The initial state; None when neither part is enabled (nothing is carried then)."""
    import jax.numpy as jnp

    if not (norm_obs or norm_reward):
        return None
    def rms(shape):
        return RunningMoments(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.asarray(INITIAL_COUNT, jnp.float32))
    return NormState(rms((obs_dim,)) if norm_obs else None, rms(()) if norm_reward else None,
                     jnp.zeros((num_envs,), jnp.float32) if norm_reward else None)


def _rms_update(rms: RunningMoments, batch, axis_name):
    """Fold a batch `(n, ...)` in; with `axis_name` (inside shard_map) the batch is the
    concatenation over devices of equal parts, and every device gets the same result."""
    import jax
    import jax.numpy as jnp

    mean = batch.mean(axis=0)
    if axis_name is None:
        var, count = batch.var(axis=0), batch.shape[0]
    else:
        mean = jax.lax.pmean(mean, axis_name)
        square = jax.lax.pmean((batch * batch).mean(axis=0), axis_name)
        var = jnp.maximum(square - mean * mean, 0.0)
        count = batch.shape[0] * jax.lax.axis_size(axis_name)
    return RunningMoments(*update_moments(rms.mean, rms.var, rms.count, mean, var, count))


def rms_normalize(rms: RunningMoments, x, clip: float = OBS_CLIP):
    """`clip((x - mean) / sqrt(var + 1e-8), -clip, clip)` (JAX)."""
    import jax.numpy as jnp

    return jnp.clip((x - rms.mean) / jnp.sqrt(rms.var + EPSILON), -clip, clip)


def saved_obs_rms(state: dict, norm_obs: bool) -> RunningMoments | None:
    """A checkpoint's observation statistics as float32 JAX moments (frozen for evaluation
    and videos), or None for a run without norm_obs."""
    import jax.numpy as jnp

    if not norm_obs:
        return None
    return RunningMoments(*(jnp.asarray(x, jnp.float32) for x in norm_from_arrays(state, True, False)[0]))


def norm_reset(state: NormState | None, obs, axis_name=None, update: bool = True):
    """(state, normalized obs) for the first observations `(num_envs, obs_dim)` of a reset."""
    if state is None or state.obs is None:
        return state, obs
    if update:
        state = state._replace(obs=_rms_update(state.obs, obs, axis_name))
    return state, rms_normalize(state.obs, obs)


def norm_step(state: NormState | None, obs, final_obs, reward, terminated, gamma: float, axis_name=None,
              update: bool = True):
    """One step of every env: (state, obs, final_obs, reward), normalized by the rule above.

    obs and final_obs `(num_envs, obs_dim)` (obs already the next episode's first where an
    episode ended), reward and terminated `(num_envs,)`. `update=False` freezes the statistics.
    """
    import jax.numpy as jnp

    if state is None:
        return state, obs, final_obs, reward
    if state.obs is not None:
        if update:
            state = state._replace(obs=_rms_update(state.obs, obs, axis_name))
        obs, final_obs = rms_normalize(state.obs, obs), rms_normalize(state.obs, final_obs)
    if state.ret is not None:
        if update:
            returns = state.returns * gamma * (1.0 - terminated.astype(jnp.float32)) + reward
            state = state._replace(ret=_rms_update(state.ret, returns, axis_name), returns=returns)
        reward = jnp.clip(reward / jnp.sqrt(state.ret.var + EPSILON), -REWARD_CLIP, REWARD_CLIP)
    return state, obs, final_obs, reward
