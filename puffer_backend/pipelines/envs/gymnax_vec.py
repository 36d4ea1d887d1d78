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
from .contract import EnvStep
from .gymnax_import import import_gymnax

__all__ = ["GymnaxEnv", "make_env", "ResetPool", "VecEnv"]



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
    """The gymnax env of a gymnax id ('CartPole-v1', 'Breakout-MinAtar', ...: gymnax.registered_envs),
    or of a user's `factory() -> (env, env_params)` (then `env_id` only names it).

    Raises TypeError if `env_id` is not a str, ValueError naming env_id for an id gymnax does
    not register or cannot build, and for an env whose observations are not a Box or
    Discrete, or whose actions are not Discrete or a Box.
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
        if env_id not in GYMNAX_IDS:
            raise bad_value("env_id", f"a gymnax id (one of {', '.join(GYMNAX_IDS)}) or package.module:make_env",
                            repr(env_id))
        gymnax = import_gymnax()  # imported here: it pulls in its whole registry

        try:
            env, params = gymnax.make(env_id)
        except Exception as error:  # e.g. MNISTBandit downloads its data set when made
            raise bad_value("env_id", "a gymnax env that builds here",
                            f"{env_id!r} ({type(error).__name__}: {one_line(str(error))[:160]})") from None
    obs_space = env.observation_space(params)
    act_space = env.action_space(params)
    kind = type(obs_space).__name__
    if kind not in ("Box", "Discrete"):
        raise bad_value("env_id", "a gymnax env with a Box or Discrete observation space",
                        f"{env_id!r} with a {kind} observation space")
    obs_shape = tuple(int(n) for n in getattr(obs_space, "shape", ()) or ())
    obs_dim = int(np.prod(obs_shape))
    max_steps = int(getattr(params, "max_steps_in_episode", 0))
    if type(act_space).__name__ == "Discrete":
        return GymnaxEnv(env_id, env, params, obs_dim, True, num_actions=int(act_space.n), max_episode_steps=max_steps,
                         obs_shape=obs_shape, obs_leaves=(("", obs_shape),))
    if type(act_space).__name__ != "Box":
        raise bad_value("env_id", "a gymnax env with Discrete or Box actions",
                        f"{env_id!r} with a {type(act_space).__name__} action space")
    dim = int(np.prod(act_space.shape))
    low = tuple(float(x) for x in np.broadcast_to(np.asarray(act_space.low, np.float64), (dim,)))
    high = tuple(float(x) for x in np.broadcast_to(np.asarray(act_space.high, np.float64), (dim,)))
    return GymnaxEnv(env_id, env, params, obs_dim, False, action_dim=dim, action_low=low, action_high=high,
                     max_episode_steps=max_steps, obs_shape=obs_shape, obs_leaves=(("", obs_shape),))


class ResetPool(NamedTuple):
    """Randomness and reset states for `steps` steps of `num_envs` envs, drawn in one batched call."""
    step_keys: jax.Array  # (steps, num_envs) keys for the transitions
    obs: jax.Array        # (steps, num_envs, obs_dim) float32: first observation of a fresh episode
    state: Any            # (steps, num_envs, ...) the matching env states


class VecEnv:
    """`num_envs` copies of one gymnax env, vmapped; pure functions, safe under jit/scan.

    reset(key) -> (obs (num_envs, obs_dim) float32, state)
    step(key, state, action) -> contract.EnvStep (JAX arrays; final_obs and state always set)
    An env that finishes is reset inside `step` (gymnax auto-reset).
    draw_pool(key, steps) + step_from_pool(pool, t, state, action): the same auto-reset
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
        return obs.reshape(self.num_envs, -1).astype(jnp.float32)

    def reset(self, key):
        obs, state = self._reset(jax.random.split(key, self.num_envs))
        return self._flat(obs), state

    def draw_pool(self, key, steps: int) -> ResetPool:
        env, params = self.gymnax_env.env, self.gymnax_env.params
        step_key, reset_key = jax.random.split(key)
        shape = (steps, self.num_envs)
        step_keys = jax.random.split(step_key, steps * self.num_envs)
        step_keys = step_keys.reshape(shape + step_keys.shape[1:])  # legacy uint32 keys have a trailing 2
        reset_keys = jax.random.split(reset_key, steps * self.num_envs)
        obs, state = jax.vmap(lambda k: env.reset(k, params))(reset_keys)
        state = jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), state)
        return ResetPool(step_keys, obs.reshape(shape + (-1,)).astype(jnp.float32), state)

    def step_from_pool(self, pool: ResetPool, t, state, action) -> EnvStep:
        """gymnax's step (transition, time limit, auto-reset) with slot `t` of `pool`."""
        env, params = self.gymnax_env.env, self.gymnax_env.params
        obs, next_state, reward, terminated, _ = jax.vmap(
            lambda k, s, a: env.step_env(k, s, a, params))(pool.step_keys[t], state, action)
        truncated = jax.vmap(lambda s: env.is_truncated(s, params))(next_state)
        shape = (self.num_envs,)
        terminated = terminated.reshape(shape).astype(bool)
        truncated = truncated.reshape(shape).astype(bool) & ~terminated
        done = terminated | truncated
        fresh = jax.tree.map(lambda x: x[t], pool.state)
        next_state = jax.tree.map(lambda r, s: jnp.where(done.reshape(shape + (1,) * (s.ndim - 1)), r, s),
                                  fresh, next_state)
        final_obs = self._flat(obs)
        next_obs = jnp.where(done[:, None], pool.obs[t], final_obs)
        return EnvStep(next_obs, reward.astype(jnp.float32).reshape(shape), terminated, truncated, final_obs, next_state)

    def step(self, key, state, action) -> EnvStep:
        obs, state, reward, terminated, truncated, info = self._step(jax.random.split(key, self.num_envs), state, action)
        shape = (self.num_envs,)
        # gymnax's is_truncated is True on any step past the limit, terminal or not.
        terminated = terminated.reshape(shape).astype(bool)
        truncated = truncated.reshape(shape).astype(bool) & ~terminated
        return EnvStep(self._flat(obs), reward.astype(jnp.float32).reshape(shape), terminated, truncated,
                       self._flat(info["final_observation"]), state)
