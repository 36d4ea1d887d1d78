"""brax and MuJoCo Playground envs: `reset(rng) -> State`, `step(State, action) -> State`,
continuous actions in [-1, 1], `done` set only by termination (neither has a time limit of
its own outside its training wrappers, so the adapter counts steps: `episode_length`, 1000
by default as in both libraries' training configs). The step takes no key: the simulator
keeps its randomness in its state. Observations are an array or, for some Playground envs,
a dict of arrays (`state`, `privileged_state`).
"""
from __future__ import annotations

import jax.numpy as jnp

from .base import FamilyEnv

__all__ = ["PhysicsEnv", "brax_ids", "playground_ids", "make_brax", "make_playground"]

DEFAULT_EPISODE_LENGTH = 1000


class PhysicsEnv(FamilyEnv):
    """A brax or Playground env (both share brax's `State` interface) as a gymnax env."""

    action_kind = "box"

    def __init__(self, env_id: str, env, max_steps: int):
        super().__init__(env_id, max_steps)
        self.env = env
        self.action_shape = (int(env.action_size),)
        self.action_low, self.action_high = -1.0, 1.0

    def _reset(self, key):
        state = self.env.reset(key)
        return state.obs, state

    def _step(self, key, state, action):
        state = self.env.step(state, action)
        return state.obs, state, state.reward, state.done > 0, jnp.bool_(False)


def brax_ids() -> list[str]:
    from brax import envs

    return sorted(envs._envs)  # brax's registry has no public listing


def make_brax(name: str, episode_length: int = DEFAULT_EPISODE_LENGTH) -> PhysicsEnv:
    from brax import envs

    return PhysicsEnv(f"brax/{name}", envs.get_environment(name), episode_length)


def playground_ids() -> list[str]:
    from mujoco_playground import registry

    return sorted(registry.ALL_ENVS)


def make_playground(name: str) -> PhysicsEnv:
    """Playground's env `name` on MJX's JAX implementation: the pipelines vmap reset and step
    over the envs, and the Warp implementation that Playground may default to keeps some
    leaves of its state unbatched (zero-size contact arrays), so its states cannot be
    selected per env."""
    from mujoco_playground import registry

    config = registry.get_default_config(name)
    env = registry.load(name, config_overrides={"impl": "jax"}) if "impl" in config else registry.load(name)
    return PhysicsEnv(f"playground/{name}", env, int(config.episode_length))
