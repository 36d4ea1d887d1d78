"""What every JAX-simulator family adapts to: gymnax's functional env interface.

The pipelines drive gymnax envs (`envs.gymnax_vec.VecEnv`: reset_env, step_env, is_truncated,
auto-reset outside the env). A family's adapter is a gymnax `Environment` over the
simulator's own env, so the jax pipeline, the mixed pipeline and the vector adapter run it
unchanged. `FamilyState` carries the simulator's state with the step count and whether the
last step hit a time limit: simulators report terminations and truncations in their own ways
(brax and Playground: `done` with no time limit of their own; jumanji: a LAST step with
discount 1; navix: a TRUNCATION step type), and the adapter turns each into gymnax's pair.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..gymnax_import import import_gymnax_module
from . import leaf_name

struct = import_gymnax_module("flax.struct")  # flax's own __init__ (flax.linen) is not needed here

__all__ = ["FamilyState", "FamilyParams", "FamilyEnv", "leaf_name"]


@struct.dataclass
class FamilyState:
    inner: Any             # the simulator's own state (brax State, jumanji (state, timestep), ...)
    time: Any              # steps taken in this episode
    truncated: Any         # the last step hit a time limit without terminating


@struct.dataclass
class FamilyParams:
    max_steps_in_episode: int = 1000
    """the time limit: ours for brax and Playground, the simulator's own for the others
    (read by the pipelines to size their final-observation buffers)"""


def _strong(tree):
    """`tree` without weak types: a simulator's state whose scalars start weakly typed (navix's
    `info["return"]`) and come out of a step strongly typed would be a new signature for
    every jitted function it passes through, compiled twice."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.result_type(x)), tree)


def _environment_base():
    return import_gymnax_module("gymnax.environments.environment").Environment


class FamilyEnv(_environment_base()):
    """A simulator as a gymnax env. Subclasses implement `_reset(key) -> (obs, inner)` and
    `_step(key, inner, action) -> (obs, inner, reward, terminated, truncated)`, and set
    `action_kind` ("discrete" with `num_actions`, or "box" with `action_shape`, `action_low`,
    `action_high`). `own_time_limit`: True when the simulator truncates episodes itself."""

    own_time_limit = False
    num_actions = 0  # an attribute here, where gymnax's base has a property
    pooled_resets = False  # resets on demand (gymnax_vec.GymnaxEnv.pooled_resets)

    def __init__(self, env_id: str, max_steps: int):
        self.env_id = env_id
        self.max_steps = int(max_steps)

    @property
    def default_params(self) -> FamilyParams:
        return FamilyParams(self.max_steps)

    @property
    def name(self) -> str:
        return self.env_id

    def reset_env(self, key, params):
        obs, inner = _strong(self._reset(key))
        return obs, FamilyState(inner, jnp.int32(0), jnp.bool_(False))

    def step_env(self, key, state, action, params):
        obs, inner, reward, terminated, truncated = self._step(key, state.inner, action)
        obs, inner = _strong((obs, inner))
        time = state.time + 1
        terminated = jnp.asarray(terminated).astype(bool)
        if not self.own_time_limit:
            truncated = time >= params.max_steps_in_episode
        truncated = jnp.asarray(truncated).astype(bool) & ~terminated
        state = FamilyState(inner, time, truncated)
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, {}

    def is_truncated(self, state, params):
        return state.truncated

    def observation_space(self, params=None):
        """Unbounded Boxes of the observation's leaves (a Dict of them for a pytree): the
        simulators do not all state bounds."""
        spaces = import_gymnax_module("gymnax.environments.spaces")
        obs, _ = jax.eval_shape(self._reset, jax.random.PRNGKey(0))
        leaves = jax.tree_util.tree_flatten_with_path(obs)[0]
        boxes = {leaf_name(path): spaces.Box(-jnp.inf, jnp.inf, leaf.shape, leaf.dtype) for path, leaf in leaves}
        return next(iter(boxes.values())) if len(boxes) == 1 and not leaves[0][0] else spaces.Dict(boxes)

    def action_space(self, params=None):
        spaces = import_gymnax_module("gymnax.environments.spaces")
        if self.action_kind == "discrete":
            return spaces.Discrete(self.num_actions)
        return spaces.Box(self.action_low, self.action_high, self.action_shape, jnp.float32)
