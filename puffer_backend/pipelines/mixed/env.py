"""A gymnax vector env driven from torch: one jitted JAX call per step, zero-copy both ways.

The env state, the PRNG key, the episode-return bookkeeping and the rollout's rewards and
dones all stay in JAX. Each `step` is a single jitted dispatch that steps every env
(auto-reset included) and writes reward and done into the rollout slot `t`; the carry is
donated, so those buffers are updated in place. `end_rollout` folds the rollout into the
recent-returns ring buffer (one more dispatch per rollout) and hands rewards and dones to
torch. Torch sees observations through `exchange.to_torch` (a DLPack view, no copy) and
sends actions with `exchange.to_jax` (a view of the torch tensor).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import torch

from puffer_backend import exchange

from ..envs.gymnax_vec import VecEnv, make_env
from ..episodes import RETURN_WINDOW, jax_stats_init, jax_stats_mean, jax_stats_update

__all__ = ["GymnaxTorchEnv", "Carry"]


class Carry(NamedTuple):
    """Everything the jitted step threads through (all JAX arrays)."""
    key: jax.Array
    state: Any
    rewards: jax.Array     # (num_steps, num_envs) float32
    dones: jax.Array       # (num_steps, num_envs) bool: the episode ended at step t
    pool: Any              # ResetPool: the rollout's step keys and reset states, drawn at t == 0


class GymnaxTorchEnv:
    """`num_envs` gymnax envs stepped on torch actions.

    reset(seed) -> obs tensor `(num_envs, obs_dim)` float32 (a zero-copy view of a JAX array:
        read it, do not write to it).
    step(t, action) -> next obs tensor; `action` is int32 `(num_envs,)` (discrete) or float32
        `(num_envs, action_dim)` (continuous; clipped to the bounds inside the jitted step).
        `step_async(t, action)` then `observation()` is the same in two halves.
    end_rollout() -> (rewards, dones, next_done) as float32 torch tensors for the `num_steps`
        steps just taken, dones in CleanRL's convention (dones[t]: obs t starts an episode);
        also updates the recent-return statistics.
    mean_return() / episodes(): recent-episode statistics (one small transfer each).
    """

    def __init__(self, env_id: str, num_envs: int, num_steps: int):
        self.spec = make_env(env_id)
        self.vec = VecEnv(self.spec, num_envs)
        self.num_envs, self.num_steps = num_envs, num_steps
        self._step = jax.jit(self._step_impl, donate_argnums=0)
        self._reset = jax.jit(self._reset_impl)
        self._refill = jax.jit(self._refill_impl, donate_argnums=0)
        self._stats_update = jax.jit(jax_stats_update)
        self.carry: Carry | None = None
        self.stats = None
        self._next_done = None  # torch (num_envs,) float32: done at the last step of the previous rollout
        self.last_obs = None  # the JAX array behind the last observation tensor

    @property
    def discrete(self) -> bool:
        return self.spec.discrete

    def _reset_impl(self, key):
        key, sub = jax.random.split(key)
        obs, state = self.vec.reset(sub)
        n, t = self.num_envs, self.num_steps
        key, sub = jax.random.split(key)
        pool = self.vec.draw_pool(sub, t)
        carry = Carry(key, state, jnp.zeros((t, n), jnp.float32), jnp.zeros((t, n), bool), pool)
        return carry, obs

    def _refill_impl(self, carry: Carry):
        key, sub = jax.random.split(carry.key)
        return carry._replace(key=key, pool=self.vec.draw_pool(sub, self.num_steps))

    def _step_impl(self, carry: Carry, t, action):
        if not self.spec.discrete:
            action = jnp.clip(action, self.spec.action_low, self.spec.action_high)
        out = self.vec.step_from_pool(carry.pool, t, carry.state, action)
        carry = carry._replace(state=out.state, rewards=carry.rewards.at[t].set(out.reward),
                               dones=carry.dones.at[t].set(out.done))
        return carry, out.obs

    def reset(self, seed: int) -> torch.Tensor:
        self.carry, self.last_obs = self._reset(jax.random.PRNGKey(seed))
        self.stats = jax_stats_init(self.num_envs, RETURN_WINDOW)
        self._next_done = torch.zeros(self.num_envs)
        return exchange.to_torch(self.last_obs)

    def step(self, t: int, action: torch.Tensor) -> torch.Tensor:
        self.step_async(t, action)
        return self.observation()

    def step_async(self, t: int, action: torch.Tensor) -> None:
        """Dispatch the step and return at once: JAX computes while the caller does torch work."""
        if t == 0:  # a new rollout: fresh step keys and reset states, one batched draw
            self.carry = self._refill(self.carry)
        self.carry, self.last_obs = self._step(self.carry, t, exchange.to_jax(action))

    def observation(self) -> torch.Tensor:
        """The latest observation as a torch view (waits for a dispatched step to finish)."""
        return exchange.to_torch(self.last_obs)

    def end_rollout(self):
        rewards, step_dones = self.carry.rewards, self.carry.dones
        self.stats = self._stats_update(self.stats, rewards, step_dones)
        # Copies: the carry's buffers are donated to (overwritten by) the next rollout.
        rewards, step_dones = exchange.to_torch((rewards, step_dones), copy=True)
        step_dones = step_dones.float()
        dones = torch.cat([self._next_done[None], step_dones[:-1]])
        self._next_done = step_dones[-1].clone()
        return rewards, dones, self._next_done

    def last_reward_done(self):
        """Numpy copies of slot 0's reward and done (for evaluation loops: `step(0, action)`)."""
        return np.asarray(self.carry.rewards[0]), np.asarray(self.carry.dones[0])

    def mean_return(self) -> float:
        return float(jax_stats_mean(self.stats))

    def episodes(self) -> int:
        return int(self.stats.count)

    def observation_native_dtype(self, pp):
        """The policy's observation layout: one float32 leaf of width obs_dim."""
        width = self.spec.obs_dim
        return pp.nativize_dtype({"observation_dtype": np.dtype(np.float32),
                                  "emulated_observation_dtype": np.dtype((np.float32, (width,)))})
