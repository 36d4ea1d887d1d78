"""craftax envs (Symbolic and Pixels, full and Classic): craftax's envs without auto-reset,
which already follow gymnax's interface. `done` covers both death and craftax's time limit
(`max_timesteps`); the adapter calls the step that reached the limit a truncation.
"""
from __future__ import annotations

from .base import FamilyEnv

__all__ = ["CraftaxEnv", "CRAFTAX_IDS", "make_craftax"]

CRAFTAX_IDS = ("Craftax-Symbolic-v1", "Craftax-Pixels-v1", "Craftax-Classic-Symbolic-v1", "Craftax-Classic-Pixels-v1")


class CraftaxEnv(FamilyEnv):
    own_time_limit = True
    action_kind = "discrete"

    def __init__(self, env_id: str, env):
        self.env = env
        self.inner_params = env.default_params
        super().__init__(env_id, int(self.inner_params.max_timesteps))
        self.num_actions = int(env.action_space(self.inner_params).n)

    def _reset(self, key):
        return self.env.reset_env(key, self.inner_params)

    def _step(self, key, state, action):
        obs, state, reward, done, _ = self.env.step_env(key, state, action, self.inner_params)
        time_up = state.timestep >= self.inner_params.max_timesteps
        return obs, state, reward, done & ~time_up, done & time_up


def make_craftax(name: str) -> CraftaxEnv:
    from craftax.craftax_env import make_craftax_env_from_name

    return CraftaxEnv(f"craftax/{name}", make_craftax_env_from_name(name, auto_reset=False))
