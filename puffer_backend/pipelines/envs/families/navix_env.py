"""navix envs: `reset(key) -> Timestep`, `step(Timestep, action) -> Timestep`, the timestep
carrying the state. Its step type tells a TRUNCATION (1, navix's own `max_steps`) from a
TERMINATION (2). Observations are uint8 grids (symbolic, first person by default).
"""
from __future__ import annotations

import jax.numpy as jnp

from .base import FamilyEnv

__all__ = ["NavixEnv", "navix_ids", "make_navix"]

_TRUNCATION, _TERMINATION = 1, 2


class NavixEnv(FamilyEnv):
    own_time_limit = True
    action_kind = "discrete"

    def __init__(self, env_id: str, env):
        super().__init__(env_id, int(env.max_steps))
        self.env = env
        self.num_actions = int(env.action_space.maximum) + 1
        # navix's public step resets a finished timestep under a cond, which vmap turns into
        # computing both branches; the pipelines reset finished envs themselves.
        self._transition = getattr(env, "_step", env.step)

    def _reset(self, key):
        timestep = self.env.reset(key)
        return timestep.observation, timestep

    def _step(self, key, timestep, action):
        timestep = self._transition(timestep, jnp.asarray(action, jnp.int32))
        return (timestep.observation, timestep, timestep.reward, timestep.step_type == _TERMINATION,
                timestep.step_type == _TRUNCATION)


def navix_ids() -> list[str]:
    import navix

    return sorted(navix.registry())


def make_navix(name: str) -> NavixEnv:
    import navix

    return NavixEnv(f"navix/{name}", navix.make(name))
