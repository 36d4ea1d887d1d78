"""gymnax environments by gymnasium-style id, vectorized and jit-friendly.

`make_env(env_id)` builds one gymnax env and says what its policy needs (observation width,
discrete or continuous actions). `VecEnv` vmaps reset/step over a batch of envs with
gymnax's auto-reset, and reports terminations and time-limit truncations apart, with the
observation reached before a reset (`final_obs`), so that truncations can be bootstrapped.
Used by the jax pipeline and by the mixed pipeline's env.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ...spec.errors import bad_type, bad_value, one_line
from . import GYMNAX_IDS
from .families import family_of, leaf_name, make_family_env
from .contract import EnvStep
from .gymnax_import import make_gymnax

__all__ = ["GymnaxEnv", "make_env", "describe_env", "observation_leaves", "pack_rows", "action_mask", "check_normalizable", "select_rows",
           "ResetPool",
           "VecEnv"]



@dataclass(frozen=True)
class GymnaxEnv:
    """One gymnax env and the shapes its policy needs.

    obs_dim: width of the flat float32 observation rows; obs_shape: the env's own shape of
    one observation (rows are `obs.reshape(-1, *obs_shape)` of it: MinAtar's (10, 10, C)).
    discrete: True for a Discrete action space (then `num_actions` is its size), False for a
    Box (then `action_dim` is its width and `action_low`/`action_high` its bounds per dimension).
    obs_leaves: the observation's leaves in row order, `(name, shape)` each: a row is the
    leaves flattened, cast to float32 and concatenated (`pack_rows`). Names are the leaves'
    pytree paths joined by "/" (jumanji's `grid`, a Dict's `state`); a single-array
    observation has one leaf named "".
    mask_slice: `(start, stop)` of the action mask's columns in a row (a leaf named
    `action_mask` with one column per action, 1.0 where the action is allowed), else None.
    """
    env_id: str
    env: Any
    params: Any
    obs_dim: int
    discrete: bool
    num_actions: int = 0
    action_dim: int = 0
    action_low: tuple = (-1.0,)
    action_high: tuple = (1.0,)
    max_episode_steps: int = 0
    obs_shape: tuple = ()
    obs_leaves: tuple = ()
    mask_slice: tuple | None = None
    pooled_resets: bool = True
    """reset states drawn for every step of a rollout up front (VecEnv.draw_pool): right for
    gymnax's cheap resets; False resets on demand, for simulators whose reset is costly
    (craftax generates a world) or whose state is large (MJX)"""

    @property
    def policy_width(self) -> int:
        """Width of the actor's last layer: the logits or the Normal's mean."""
        return self.num_actions if self.discrete else self.action_dim

    def env_action(self, action):
        """The action the env receives: Box actions clipped to the bounds per dimension (the
        learner keeps the raw draw, as CleanRL); discrete ones as they are. JAX, jit-friendly."""
        if self.discrete:
            return action
        low = jnp.asarray(self.action_low, jnp.float32)
        high = jnp.asarray(self.action_high, jnp.float32)
        return jnp.clip(action, low, high)


def make_env(env_id: str, factory=None) -> GymnaxEnv:
    """The env of a gymnax id ('CartPole-v1', 'Breakout-MinAtar', ...: gymnax.registered_envs),
    of a `FAMILY/ID` of another JAX simulator (`envs.families`: 'brax/ant',
    'jumanji/Snake-v1', ...; 'gymnax/CartPole-v1' is 'CartPole-v1'), or of a user's
    `factory() -> (env, env_params)` (then `env_id` only names it).

    Observations may be any pytree of arrays (jumanji's named tuples, dicts, pixels): their
    leaves are packed into float32 rows (`pack_rows`, `obs_leaves`). Raises TypeError if
    `env_id` is not a str, ValueError naming env_id, in one line, for an id no registry has or
    that cannot be built, an observation leaf that is not a bool, int or float array, and
    actions that are neither Discrete nor a float Box.
    """
    if not isinstance(env_id, str):
        raise bad_type("env_id", "a str", env_id)
    if factory is not None:
        made = factory()
        if not (isinstance(made, tuple) and len(made) == 2 and hasattr(made[0], "step")):
            raise bad_value("env_id", "a factory returning a gymnax (env, env_params) pair",
                            f"{env_id!r} returning {type(made).__name__}")
        env, params = made
    else:
        family = family_of(env_id)
        if family is not None and family[0] != "gymnax":
            env, params = make_family_env(env_id)
            return describe_env(env_id, env, params)
        env_id = family[1] if family is not None else env_id
        if env_id not in GYMNAX_IDS:
            raise bad_value("env_id", f"a gymnax id (one of {', '.join(GYMNAX_IDS)}) or package.module:make_env",
                            repr(env_id))
        try:
            env, params = make_gymnax(env_id)  # imported here: gymnax's registry imports every env
        except Exception as error:  # e.g. MNISTBandit downloads its data set when made
            raise bad_value("env_id", "a gymnax env that builds here",
                            f"{env_id!r} ({type(error).__name__}: {one_line(str(error))[:160]})") from None
    return describe_env(env_id, env, params)


def observation_leaves(env, params) -> list:
    """`(name, shape, dtype)` of each leaf of the env's observation, in row order (JAX's tree
    order), read from an abstract reset: nothing runs."""
    obs, _ = jax.eval_shape(lambda: env.reset(jax.random.PRNGKey(0), params))
    return [(leaf_name(path), tuple(int(n) for n in leaf.shape), np.dtype(leaf.dtype))
            for path, leaf in jax.tree_util.tree_flatten_with_path(obs)[0]]


def describe_env(env_id: str, env, params) -> GymnaxEnv:
    """The GymnaxEnv of a gymnax-interface env: its observation leaves and its actions checked."""
    leaves = observation_leaves(env, params)
    for name, _, dtype in leaves:
        if dtype.kind not in "biuf":
            raise bad_value("env_id", "an env whose observation leaves are bool, int or float arrays",
                            f"{env_id!r} with {name or 'observations'} of dtype {dtype}")
    if not leaves:
        raise bad_value("env_id", "an env with observations", f"{env_id!r} whose observation has no arrays")
    widths = [int(np.prod(shape)) for _, shape, _ in leaves]
    obs_dim = sum(widths)
    obs_leaves = tuple((name, shape) for name, shape, _ in leaves)
    obs_shape = leaves[0][1] if len(leaves) == 1 else (obs_dim,)
    max_steps = int(getattr(params, "max_steps_in_episode", 0))
    pooled = bool(getattr(env, "pooled_resets", True))
    act_space = env.action_space(params)
    kind = type(act_space).__name__
    if kind == "Discrete":
        num_actions = int(act_space.n)
        return GymnaxEnv(env_id, env, params, obs_dim, True, num_actions=num_actions, max_episode_steps=max_steps,
                         obs_shape=obs_shape, obs_leaves=obs_leaves, pooled_resets=pooled,
                         mask_slice=_mask_slice(leaves, widths, num_actions))
    if kind != "Box" or not np.issubdtype(np.dtype(getattr(act_space, "dtype", np.float32)), np.floating):
        raise bad_value("env_id", "an env with Discrete or float Box actions",
                        f"{env_id!r} with a {kind} action space")
    dim = int(np.prod(act_space.shape))
    low = tuple(float(x) for x in np.broadcast_to(np.asarray(act_space.low, np.float64), (dim,)))
    high = tuple(float(x) for x in np.broadcast_to(np.asarray(act_space.high, np.float64), (dim,)))
    return GymnaxEnv(env_id, env, params, obs_dim, False, action_dim=dim, action_low=low, action_high=high,
                     max_episode_steps=max_steps, obs_shape=obs_shape, obs_leaves=obs_leaves, pooled_resets=pooled)


def _mask_slice(leaves, widths, num_actions: int):
    """The columns of a leaf named `action_mask` with one entry per action (jumanji's and
    PufferLib's convention), else None."""
    start = 0
    for (name, shape, _), width in zip(leaves, widths):
        if name.rpartition("/")[2] == "action_mask" and shape == (num_actions,):
            return (start, start + width)
        start += width
    return None


def check_normalizable(gymnax_env: GymnaxEnv, norm_obs: bool) -> None:
    """ValueError naming config.norm_obs for an env with an action mask: the mask is read from
    the observation rows, which normalization would rescale."""
    if norm_obs and gymnax_env.mask_slice is not None:
        raise bad_value("config.norm_obs", "False for an env with an action mask (the mask is read from the "
                        "observation rows, which normalization rescales)", f"True for {gymnax_env.env_id!r}")


def pack_rows(obs, batch_shape: tuple) -> jax.Array:
    """Observations (a pytree of arrays with leading `batch_shape`) as float32 rows
    `(*batch_shape, obs_dim)`: each leaf flattened, cast to float32 and concatenated in tree
    order, the layout `obs_leaves` describes (exact for bools, uint8 pixels and ints below 2**24)."""
    parts = [leaf.reshape(batch_shape + (-1,)).astype(jnp.float32) for leaf in jax.tree.leaves(obs)]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


def action_mask(gymnax_env: GymnaxEnv, rows):
    """The bool action mask `(batch, num_actions)` in observation rows, or None. A row that
    allows no action (a jumanji Snake trapped by its own body, one step before it dies)
    allows every action: the env ends the episode whatever is done, and a row without a
    distribution would make the update's log-probabilities NaN."""
    if gymnax_env.mask_slice is None:
        return None
    start, stop = gymnax_env.mask_slice
    mask = rows[..., start:stop] > 0.5
    return mask | ~mask.any(axis=-1, keepdims=True)


def select_rows(done, fresh, current):
    """`fresh` in the rows of envs that are done, `current` elsewhere. A leaf without a row
    per env (MuJoCo Warp's empty scratch arrays) is shared by all envs: kept as it is."""
    if current.ndim == 0 or current.shape[0] != done.shape[0]:
        return current
    return jnp.where(done.reshape(done.shape + (1,) * (current.ndim - 1)), fresh, current)


class ResetPool(NamedTuple):
    """Randomness and reset states for `steps` steps of `num_envs` envs, drawn in one batched call."""
    step_keys: jax.Array  # (steps, num_envs) keys for the transitions
    obs: jax.Array        # (steps, num_envs, obs_dim) float32: first observation of a fresh episode
    state: Any            # (steps, num_envs, ...) the matching env states
    reset_keys: Any = None  # (steps, num_envs) keys of on-demand resets (then obs and state are None)


class VecEnv:
    """`num_envs` copies of one gymnax env, vmapped; pure functions, safe under jit/scan.

    reset(key) -> (obs (num_envs, obs_dim) float32, state)
    step(key, state, action) -> contract.EnvStep (JAX arrays; final_obs and state always set)
    An env that finishes is reset inside `step` (gymnax auto-reset).
    draw_pool(key, steps) + step_from_pool(pool, t, state, action) (or step_from_slot with
    the pool's slot t, as the mixed env hands it packed): the same auto-reset
    process with every random draw and reset state of a rollout made up front in one
    batched call. Per step only the transition and a select remain: on XLA:CPU, per-op
    overhead makes gymnax's per-step reset (threefry + reset_env on every step, used or
    not) cost about twice the transition itself.
    """

    def __init__(self, gymnax_env: GymnaxEnv, num_envs: int):
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
            raise bad_value("num_envs", "a positive int", repr(num_envs))
        self.gymnax_env = gymnax_env
        self.num_envs = int(num_envs)
        env, params = gymnax_env.env, gymnax_env.params
        self._reset = jax.vmap(lambda k: env.reset(k, params))
        self._step = jax.vmap(lambda k, s, a: env.step(k, s, a, params))

    def _flat(self, obs):
        return pack_rows(obs, (self.num_envs,))

    def reset(self, key):
        return self.reset_with(jax.random.split(key, self.num_envs))

    def reset_with(self, keys):
        """(obs rows, states) of every env reset with its own key of `keys` `(num_envs, ...)`."""
        obs, state = self._reset(keys)
        return self._flat(obs), state

    def draw_pool(self, key, steps: int) -> ResetPool:
        env, params = self.gymnax_env.env, self.gymnax_env.params
        step_key, reset_key = jax.random.split(key)
        shape = (steps, self.num_envs)
        step_keys = jax.random.split(step_key, steps * self.num_envs)
        step_keys = step_keys.reshape(shape + step_keys.shape[1:])  # legacy uint32 keys have a trailing 2
        reset_keys = jax.random.split(reset_key, steps * self.num_envs)
        if not self.gymnax_env.pooled_resets:
            return ResetPool(step_keys, None, None, reset_keys.reshape(shape + reset_keys.shape[1:]))
        obs, state = jax.vmap(lambda k: env.reset(k, params))(reset_keys)
        state = jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), state)
        return ResetPool(step_keys, pack_rows(obs, (steps * self.num_envs,)).reshape(shape + (-1,)), state)

    def step_from_pool(self, pool: ResetPool, t, state, action) -> EnvStep:
        """gymnax's step (transition, time limit, auto-reset) with slot `t` of `pool`."""
        return self.step_from_slot(jax.tree.map(lambda x: x[t], pool), state, action)

    def step_from_slot(self, slot: ResetPool, state, action) -> EnvStep:
        """`step_from_pool` with the pool's slot of this step (every leaf without its steps axis)."""
        env, params = self.gymnax_env.env, self.gymnax_env.params
        obs, next_state, reward, terminated, _ = jax.vmap(
            lambda k, s, a: env.step_env(k, s, a, params))(slot.step_keys, state, action)
        truncated = jax.vmap(lambda s: env.is_truncated(s, params))(next_state)
        shape = (self.num_envs,)
        terminated = terminated.reshape(shape).astype(bool)
        truncated = truncated.reshape(shape).astype(bool) & ~terminated
        done = terminated | truncated
        final_obs = self._flat(obs)
        if slot.state is None:  # reset on demand: only on steps where some episode ended
            fresh_obs, fresh = jax.lax.cond(done.any(), lambda keys: self.reset_with(keys),
                                            lambda keys: (final_obs, next_state), slot.reset_keys)
        else:
            fresh_obs, fresh = slot.obs, slot.state
        next_state = jax.tree.map(lambda r, s: select_rows(done, r, s), fresh, next_state)
        next_obs = jnp.where(done[:, None], fresh_obs, final_obs)
        return EnvStep(next_obs, reward.astype(jnp.float32).reshape(shape), terminated, truncated, final_obs, next_state)

    def step(self, key, state, action) -> EnvStep:
        obs, state, reward, terminated, truncated, info = self._step(jax.random.split(key, self.num_envs), state, action)
        shape = (self.num_envs,)
        # gymnax's is_truncated is True on any step past the limit, terminal or not.
        terminated = terminated.reshape(shape).astype(bool)
        truncated = truncated.reshape(shape).astype(bool) & ~terminated
        return EnvStep(self._flat(obs), reward.astype(jnp.float32).reshape(shape), terminated, truncated,
                       self._flat(info["final_observation"]), state)
