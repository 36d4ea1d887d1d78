"""A gymnax env with an action mask, for the adapter's mask tests until a family with masks
(jumanji) is reachable through `make_env`.

Each step a random non-empty subset of the NUM_ACTIONS actions is allowed; the observation
row is `[time / limit, mask...]`. An allowed action earns 1; a forbidden one earns
FORBIDDEN_REWARD and terminates: the env itself records every illegal action taken, so a test
can check a sampler against the env's own verdict. Episodes also terminate at random (10%
a step) and are truncated at `max_steps_in_episode`.
"""
import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from puffer_backend.pipelines.envs.gymnax_vec import make_env

NUM_ACTIONS = 5
FORBIDDEN_REWARD = -100.0
MASK_SLICE = (1, 1 + NUM_ACTIONS)


@struct.dataclass
class State(environment.EnvState):
    allowed: jax.Array


@struct.dataclass
class Params(environment.EnvParams):
    max_steps_in_episode: int = 12


def _draw_mask(key):
    allowed = jax.random.bernoulli(key, 0.5, (NUM_ACTIONS,))
    forced = jax.random.randint(key, (), 0, NUM_ACTIONS)  # never an empty mask
    return allowed.at[forced].set(True)


class MaskedChoice(environment.Environment):
    @property
    def default_params(self):
        return Params()

    def get_obs(self, state, params=None, key=None):
        limit = 12 if params is None else params.max_steps_in_episode
        return jnp.concatenate([jnp.array([state.time / limit], jnp.float32), state.allowed.astype(jnp.float32)])

    def reset_env(self, key, params):
        state = State(time=0, allowed=_draw_mask(key))
        return self.get_obs(state, params), state

    def step_env(self, key, state, action, params):
        legal = state.allowed[action]
        mask_key, end_key = jax.random.split(key)
        reward = jnp.where(legal, 1.0, FORBIDDEN_REWARD)
        terminated = ~legal | jax.random.bernoulli(end_key, 0.1)
        state = State(time=state.time + 1, allowed=_draw_mask(mask_key))
        return self.get_obs(state, params), state, reward, terminated, {}

    def is_terminated(self, state, params):
        return jnp.array(False)

    def action_space(self, params=None):
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (1 + NUM_ACTIONS,), jnp.float32)


def masked_gymnax_env():
    """The env as a GymnaxEnv with its mask columns named (what make_env does for envs whose
    observation has an `action_mask` leaf)."""
    env = MaskedChoice()
    built = make_env("MaskedChoice", factory=lambda: (env, env.default_params))
    return dataclasses.replace(built, mask_slice=MASK_SLICE,
                               obs_leaves=(("time", (1,)), ("action_mask", (NUM_ACTIONS,))))
