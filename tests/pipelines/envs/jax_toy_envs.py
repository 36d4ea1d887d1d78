"""Small JAX envs in a family adapter's interface (`envs.families.base.FamilyEnv`), built through
`package.module:function` factories as users build theirs.

`make_masked_env`: observations are a dict with an `action_mask` leaf (a random non-empty set of
the 4 actions, new each step) and a float vector; an action outside the mask costs -1, any other
0. A run that honours the mask has returns of exactly 0; a policy that ignores it loses about
half its steps.
"""
import jax
import jax.numpy as jnp

from puffer_backend.pipelines.envs.families.base import FamilyEnv

NUM_ACTIONS, LENGTH = 4, 20


class MaskedEnv(FamilyEnv):
    action_kind = "discrete"
    num_actions = NUM_ACTIONS

    def __init__(self):
        super().__init__("masked", LENGTH)

    def _observe(self, key):
        k_mask, k_pick, k_x = jax.random.split(key, 3)
        mask = jax.random.bernoulli(k_mask, 0.5, (NUM_ACTIONS,))
        mask = mask.at[jax.random.randint(k_pick, (), 0, NUM_ACTIONS)].set(True)
        return {"action_mask": mask, "x": jax.random.normal(k_x, (3,))}

    def _reset(self, key):
        obs = self._observe(key)
        return obs, obs["action_mask"]

    def _step(self, key, mask, action):
        obs = self._observe(key)
        reward = jnp.where(mask[action], 0.0, -1.0)
        return obs, obs["action_mask"], reward, jnp.bool_(False), jnp.bool_(False)


def make_masked_env():
    env = MaskedEnv()
    return env, env.default_params
