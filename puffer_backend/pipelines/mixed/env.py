"""A gymnax vector env driven from torch: one jitted JAX call per step, zero-copy both ways.

The env state, the PRNG key, the episode-return bookkeeping and the rollout's rewards, ends
and final observations all stay in JAX. Each `step` is a single jitted dispatch that steps
every env (auto-reset included) and writes reward, end and final observation into the
rollout slot `t`; the carry is donated, so those buffers are updated in place.
`end_rollout` folds the rollout into the recent-returns statistics (pipelines.episodes, one
more dispatch per rollout) and hands rewards, dones and the time-limit rows to torch. Torch
sees observations through `exchange.to_torch` (a DLPack view, no copy) and sends actions
with `exchange.to_jax` (a view of the torch tensor).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import torch

from puffer_backend import exchange, torch_impl
from puffer_backend.spec import Continuous, Discrete

from ..envs.gymnax_vec import VecEnv, make_env
from ..episodes import jax_stats_init, jax_stats_mean, jax_stats_update
from ..jax.trees import restore_tree, tree_arrays
from ..normalize import (RunningMoments, NormState, norm_arrays, norm_from_arrays, norm_init, norm_reset, norm_state_arrays,
                         norm_step)

__all__ = ["GymnaxTorchEnv", "Carry", "RolloutEnd"]

RUNNING, TERMINATED, TRUNCATED = 0, 1, 2  # how step t ended, per env (the `ends` buffer)


class Carry(NamedTuple):
    """Everything the jitted step threads through (all JAX arrays; None where unused)."""
    key: jax.Array
    state: Any
    rewards: jax.Array     # (num_steps, num_envs) float32, normalized under norm_reward
    ends: jax.Array        # (num_steps, num_envs) int8: RUNNING, TERMINATED or TRUNCATED at step t
    final_obs: jax.Array   # (num_steps, num_envs, obs_dim) float32: the observation step t reached
    pool: Any              # ResetPool: the rollout's step keys and reset states, drawn at t == 0
    norm: Any = None       # pipelines.normalize.NormState under norm_obs / norm_reward
    env_rewards: Any = None  # (num_steps, num_envs) float32: the env's own rewards, under norm_reward


class RolloutEnd(NamedTuple):
    """A finished rollout as torch tensors (copies: the JAX buffers are reused).

    rewards, dones: `(num_steps, num_envs)` float32, dones 1.0 where the episode ended at step
    t (pipelines.gae's convention). truncated_at: (step indices, env indices) of the time
    limits reached without termination, final_obs `(k, obs_dim)` their final observations,
    for the bootstrap; both None when there was none.
    """
    rewards: torch.Tensor
    dones: torch.Tensor
    truncated_at: tuple | None
    final_obs: torch.Tensor | None


class GymnaxTorchEnv:
    """`num_envs` gymnax envs stepped on torch actions.

    reset(seed) -> obs tensor `(num_envs, obs_dim)` float32 (a zero-copy view of a JAX array:
        read it, do not write to it).
    step(t, action) -> next obs tensor; `action` is int32 `(num_envs,)` (discrete) or float32
        `(num_envs, action_dim)` (continuous; clipped to the bounds inside the jitted step).
        `step_async(t, action)` then `observation()` is the same in two halves.
    end_rollout() -> RolloutEnd for the `num_steps` steps just taken; also updates the
        recent-return statistics.
    warm_up() compiles the jitted functions (after reset), so compile time can be measured apart.
    mean_return() / episodes(): recent-episode statistics (one small transfer each), of the
        env's own rewards.
    state_arrays() / restore(arrays): between rollouts, everything the next rollouts depend on
        (env states, PRNG key, last observation, episode statistics), for a checkpoint; the
        normalization statistics go through norm_arrays() / load_norm(state, freeze=False).
    observation_layout, action_spec: what the torch agent is built from.
    factory: a user's `() -> (env, env_params)` (else env_id is a gymnax id). norm_obs /
    norm_reward: pipelines.normalize inside the jitted step (observations, final
    observations, rewards); norm_arrays() gives the statistics for a checkpoint, and
    load_norm(state) takes a checkpoint's (call it before `reset`: the jitted functions read
    whether to update them when they are traced).
    """

    def __init__(self, env_id: str, num_envs: int, num_steps: int, *, factory=None, norm_obs: bool = False,
                 norm_reward: bool = False, gamma: float = 0.99):
        self.gymnax_env = make_env(env_id, factory)
        self.vec = VecEnv(self.gymnax_env, num_envs)
        self.num_envs, self.num_steps = num_envs, num_steps
        self.norm_obs, self.norm_reward, self.gamma = norm_obs, norm_reward, gamma
        self.update_norm = True  # False freezes the statistics (evaluation); read when the step is traced
        self._loaded_norm = None
        self._step = jax.jit(self._step_impl, donate_argnums=0)
        self._reset = jax.jit(self._reset_impl)
        self._refill = jax.jit(self._refill_impl, donate_argnums=0)
        self._stats_update = jax.jit(lambda stats, rewards, ends: jax_stats_update(stats, rewards, ends != RUNNING))
        self.carry: Carry | None = None
        self.stats = None
        self.last_obs = None  # the JAX array behind the last observation tensor
        width = self.gymnax_env.obs_dim
        self.observation_layout = torch_impl.nativize_dtype(
            {"observation_dtype": np.dtype(np.float32), "emulated_observation_dtype": np.dtype((np.float32, (width,)))})
        self.action_spec = (Discrete(self.gymnax_env.num_actions) if self.gymnax_env.discrete
                            else Continuous((self.gymnax_env.action_dim,)))

    @property
    def discrete(self) -> bool:
        return self.gymnax_env.discrete

    def _reset_impl(self, key, norm):
        key, sub = jax.random.split(key)
        obs, state = self.vec.reset(sub)
        n, t = self.num_envs, self.num_steps
        key, sub = jax.random.split(key)
        pool = self.vec.draw_pool(sub, t)
        norm, obs = norm_reset(norm, obs, update=self.update_norm)
        carry = Carry(key, state, jnp.zeros((t, n), jnp.float32), jnp.zeros((t, n), jnp.int8),
                      jnp.zeros((t, n, self.gymnax_env.obs_dim), jnp.float32), pool, norm,
                      jnp.zeros((t, n), jnp.float32) if self.norm_reward else None)
        return carry, obs

    def _refill_impl(self, carry: Carry):
        key, sub = jax.random.split(carry.key)
        return carry._replace(key=key, pool=self.vec.draw_pool(sub, self.num_steps))

    def _step_impl(self, carry: Carry, t, action):
        action = self.gymnax_env.env_action(action)
        out = self.vec.step_from_pool(carry.pool, t, carry.state, action)
        norm, obs, final_obs, reward = norm_step(carry.norm, out.obs, out.final_obs, out.reward, out.terminated,
                                                 self.gamma, update=self.update_norm)
        end = jnp.where(out.terminated, TERMINATED, jnp.where(out.truncated, TRUNCATED, RUNNING)).astype(jnp.int8)
        carry = carry._replace(state=out.state, rewards=carry.rewards.at[t].set(reward), norm=norm,
                               ends=carry.ends.at[t].set(end), final_obs=carry.final_obs.at[t].set(final_obs))
        if carry.env_rewards is not None:
            carry = carry._replace(env_rewards=carry.env_rewards.at[t].set(out.reward))
        return carry, obs

    def reset(self, seed: int) -> torch.Tensor:
        # Committed to the device that actions arrive on, as every later carry is (an action
        # imported from torch is committed): jit compiles once per signature, and a
        # committed and an uncommitted argument are two signatures.
        device = next(iter(exchange.to_jax(torch.zeros(1)).devices()))
        norm = self._loaded_norm
        if norm is None:
            norm = norm_init(self.gymnax_env.obs_dim, self.num_envs, self.norm_obs, self.norm_reward)
        carry, obs = self._reset(jax.random.PRNGKey(seed), norm)
        self.carry, self.last_obs, self.stats = jax.device_put((carry, obs, jax_stats_init(self.num_envs)), device)
        return exchange.to_torch(self.last_obs)

    def warm_up(self) -> None:
        """Compile the step, the refill and the statistics update now (jit compiles at the
        first call), on a copy of the carry: the env's state is left as it is."""
        action = (torch.zeros(self.num_envs, dtype=torch.int32) if self.discrete
                  else torch.zeros(self.num_envs, self.gymnax_env.action_dim))
        carry = self._refill(jax.tree.map(jnp.copy, self.carry))  # a copy: refill donates its input
        carry, obs = self._step(carry, 0, exchange.to_jax(action))
        jax.block_until_ready(self._stats_update(self.stats, carry.rewards, carry.ends))

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

    def end_rollout(self) -> RolloutEnd:
        carry = self.carry
        own = carry.rewards if carry.env_rewards is None else carry.env_rewards
        self.stats = self._stats_update(self.stats, own, carry.ends)
        # Copies: the carry's buffers are donated to (overwritten by) the next rollout.
        rewards, ends = exchange.to_torch((carry.rewards, carry.ends), copy=True)
        truncated = ends == TRUNCATED
        truncated_at = final_obs = None
        if truncated.any():  # rare (CartPole: a 500-step episode); an index copy then
            truncated_at = truncated.nonzero(as_tuple=True)
            final_obs = exchange.to_torch(carry.final_obs)[truncated_at]
        return RolloutEnd(rewards, (ends != RUNNING).float(), truncated_at, final_obs)

    def state_arrays(self) -> dict:
        """Numpy copies of what the next rollouts depend on, named `key`, `state/...`, `obs`,
        `stats/...`. Call between rollouts: the rollout buffers and the reset pool are
        rewritten from these by the next rollout."""
        return tree_arrays({"key": self.carry.key, "state": self.carry.state, "obs": self.last_obs,
                            "stats": self.stats})

    def restore(self, arrays: dict, norm_state: dict | None = None) -> torch.Tensor:
        """Continue from `state_arrays()` (after `reset`, which sets up the carry), and from the
        normalization statistics in `norm_state` (a checkpoint's state group, as norm_arrays()
        wrote it) when this env normalizes; returns the observation tensor. ValueError when the
        arrays are of another env or env count."""
        template = {"key": self.carry.key, "state": self.carry.state, "obs": self.last_obs, "stats": self.stats}
        restored = restore_tree(template, arrays, "state/env")
        self.carry = self.carry._replace(key=restored["key"], state=restored["state"])
        if self.carry.norm is not None:
            norm = restore_tree(self.carry.norm, norm_state_arrays(norm_state or {}, self.carry.norm), "state/norm")
            self.carry = self.carry._replace(norm=norm)
        self.last_obs, self.stats = restored["obs"], restored["stats"]
        return exchange.to_torch(self.last_obs)

    def last_reward_done(self):
        """Numpy copies of slot 0's reward (the env's own) and done (for evaluation loops:
        `step(0, action)`)."""
        own = self.carry.rewards if self.carry.env_rewards is None else self.carry.env_rewards
        return np.asarray(own[0]), np.asarray(self.carry.ends[0] != RUNNING)

    def norm_arrays(self) -> dict:
        """The normalization statistics as checkpoint arrays (pipelines.normalize); {} without."""
        norm = self.carry.norm if self.carry is not None else None
        if norm is None:
            return {}
        host = jax.device_get(norm)
        return norm_arrays(host.obs, host.ret, host.returns)

    def load_norm(self, state: dict, freeze: bool = True) -> None:
        """Use a checkpoint's statistics from the next `reset` on (frozen: evaluation)."""
        obs, ret, returns = norm_from_arrays(state, self.norm_obs, self.norm_reward)
        as_rms = lambda m: None if m is None else RunningMoments(*(jnp.asarray(x, jnp.float32) for x in m))  # noqa: E731
        if returns is not None and np.shape(returns) != (self.num_envs,):
            returns = None
        self._loaded_norm = NormState(as_rms(obs), as_rms(ret), None if not self.norm_reward else
                                      jnp.asarray(returns if returns is not None else np.zeros(self.num_envs),
                                                  jnp.float32))
        self.update_norm = not freeze

    def mean_return(self) -> float:
        return float(jax_stats_mean(self.stats))

    def episodes(self) -> int:
        return int(self.stats.count)
