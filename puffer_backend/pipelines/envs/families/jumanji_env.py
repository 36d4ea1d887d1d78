"""jumanji envs: `reset(key) -> (state, timestep)`, `step(state, action) -> (state, timestep)`.

A episode ends at a LAST step; its discount tells a termination (0) from jumanji's own time
limit (1). Observations are named tuples (Snake: `grid`, `step_count`, `action_mask`): the
`action_mask` leaf reaches the sampler as its mask.
"""
from __future__ import annotations

import numpy as np

from ....spec.errors import bad_value
from .base import FamilyEnv

__all__ = ["JumanjiEnv", "jumanji_ids", "make_jumanji"]

_LAST = 2  # dm_env's StepType.LAST, which jumanji uses


class JumanjiEnv(FamilyEnv):
    own_time_limit = True

    def __init__(self, env_id: str, env):
        super().__init__(env_id, int(getattr(env, "time_limit", 0) or 0))
        self.env = env
        spec = env.action_spec
        kind = type(spec).__name__
        if kind == "DiscreteArray":
            self.action_kind, self.num_actions = "discrete", int(spec.num_values)
        elif kind == "BoundedArray" and np.issubdtype(spec.dtype, np.floating):
            self.action_kind, self.action_shape = "box", tuple(int(n) for n in spec.shape)
            self.action_low, self.action_high = np.asarray(spec.minimum), np.asarray(spec.maximum)
        else:
            raise bad_value("env_id", "a jumanji env with a DiscreteArray or float BoundedArray action spec (the jax "
                            "and mixed pipelines train Discrete or Box actions)", f"{env_id!r} with a {kind} action spec")

    def _reset(self, key):
        state, timestep = self.env.reset(key)
        return timestep.observation, state

    def _step(self, key, state, action):
        state, timestep = self.env.step(state, action)
        last = timestep.step_type == _LAST
        terminated = last & (timestep.discount == 0)
        return timestep.observation, state, timestep.reward, terminated, last & ~terminated


def jumanji_ids() -> list[str]:
    import jumanji

    return sorted(jumanji.registered_environments())


def make_jumanji(name: str) -> JumanjiEnv:
    import jumanji

    return JumanjiEnv(f"jumanji/{name}", jumanji.make(name))


