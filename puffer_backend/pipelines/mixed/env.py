"""A gymnax vector env driven from torch: the mixed pipeline's side of the env contract
(pipelines.envs.contract.RolloutEnv), one jitted JAX call per step, zero-copy both ways.

The env state, the PRNG key, the episode-return bookkeeping and the rollout's rewards, ends
and final observations all stay in JAX. Each `step` is a single jitted dispatch that steps
every env (auto-reset included) and writes reward, end and final observation into the
rollout slot `t`; the carry is donated, so those buffers are updated in place.
`end_rollout` folds the rollout into the recent-returns statistics (pipelines.episodes, one
more dispatch per rollout) and hands rewards, dones and the time-limit rows to torch. Torch
sees observations through `exchange.to_torch` (a DLPack view, no copy); actions go into one
torch buffer that the jitted step reads in place on the CPU (`exchange.to_jax` of each
action, a view of the torch tensor, elsewhere).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import torch

from puffer_backend import exchange, torch_impl
from puffer_backend.spec import Continuous, Discrete

from ..envs.contract import RolloutEnd
from ..envs.gymnax_vec import VecEnv, check_normalizable, make_env
from ..envs.rows import emulated_rows
from ..episodes import jax_stats_init, jax_stats_mean, jax_stats_update
from ..jax.trees import LeafPacker, restore_tree, tree_arrays
from ..normalize import (NormState, RunningMoments, norm_arrays, norm_from_arrays, norm_init, norm_reset,
                         norm_state_arrays, norm_step)

__all__ = ["GymnaxTorchEnv", "Carry"]

RUNNING, TERMINATED, TRUNCATED = 0, 1, 2  # how step t ended, per env (the `ends` buffer)


class Carry(NamedTuple):
    """Everything the jitted step threads through (all JAX arrays; None where unused)."""
    key: jax.Array
    state: Any             # the envs' states, packed (jax.trees.LeafPacker: a few arrays cross each call)
    rewards: jax.Array     # (num_steps, num_envs) float32, normalized under norm_reward
    ends: jax.Array        # (num_steps, num_envs) int8: RUNNING, TERMINATED or TRUNCATED at step t
    final_obs: jax.Array   # (num_steps, num_envs, obs_dim) float32: the observation step t reached
    pool: Any              # ResetPool of the rollout's step keys and reset states, drawn at t == 0, packed per step
    norm: Any = None       # pipelines.normalize.NormState under norm_obs / norm_reward, packed
    env_rewards: Any = None  # (num_steps, num_envs) float32: the env's own rewards, under norm_reward


class GymnaxTorchEnv:
    """`num_envs` gymnax envs stepped on torch actions (envs.contract.RolloutEnv; read that
    docstring for each method).

    Observations are float32 rows `(num_envs, obs_dim)` of the flattened gymnax observation,
    zero-copy DLPack views of JAX arrays (read them, do not write to them). Actions arrive as
    sampled (int64 indices, sent to JAX as int32 since JAX runs with x64 off; float32 vectors,
    clipped to the bounds inside the jitted step), copied on the CPU into one buffer that JAX
    reads in place. `step(t, action)` dispatches and returns at
    once (JAX computes while the caller does torch work); `observation()` waits. The state
    (env states, PRNG key, observation, episode statistics) is saved whole by
    `state_arrays()` and restored exactly. factory: a user's `() -> (env, env_params)` (else
    env_id is a gymnax id). norm_obs / norm_reward: pipelines.normalize inside the jitted
    step (observations, final observations, rewards). device: the torch device of every
    tensor ("cpu" or "cuda:N"); the env, its carry and its programs live on the JAX device
    with the same memory (the same GPU), so no step goes through the host.
    """

    compiles = True
    restores_episodes = True

    def __init__(self, env_id: str, num_envs: int, num_steps: int, *, factory=None, norm_obs: bool = False,
                 norm_reward: bool = False, gamma: float = 0.99, device: torch.device | str = "cpu"):
        self.gymnax_env = make_env(env_id, factory)
        self.vec = VecEnv(self.gymnax_env, num_envs)
        self.num_envs, self.num_steps = num_envs, num_steps
        self.norm_obs, self.norm_reward, self.gamma = norm_obs, norm_reward, gamma
        self.update_norm = True  # False freezes the statistics (evaluation); read when the step is traced
        self._loaded_norm = None
        self._step = jax.jit(self._step_impl, donate_argnums=0)
        self._reset = jax.jit(self._reset_impl)
        self._refill = jax.jit(self._refill_impl, donate_argnums=0)
        self._done_at = jax.jit(lambda ends, t: (ends[t] != RUNNING).astype(jnp.float32))
        self._stats_update = jax.jit(lambda stats, rewards, ends: jax_stats_update(stats, rewards, ends != RUNNING))
        self._stats_mean = jax.jit(jax_stats_mean)  # one call per update, compiled in warm_up
        self.carry: Carry | None = None
        self.stats = None
        self.last_obs = None  # the JAX array behind the last observation tensor
        check_normalizable(self.gymnax_env, norm_obs)
        width = self.gymnax_env.obs_dim
        self.observation_layout = torch_impl.nativize_dtype(emulated_rows(self.gymnax_env.obs_leaves))
        self.obs_width, self.obs_dtype = width, torch.float32
        self.device = torch.device(device)  # the JAX device of the carry is its twin (reset)
        self._t = 0
        # LeafPackers made when the reset is traced: the env state, one step's slot of the
        # reset pool (the pool crosses as one row per step and dtype), the normalization state.
        self._packer = self._slot_packer = self._norm_packer = None
        self._action_rows = self._action_view = None  # the CPU action buffer and its JAX view (reset)
        self._action_dtypes: tuple = ()
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
        # Strongly typed, as a restored state is (numpy arrays): a weak-typed leaf (gymnax's
        # `time = 0`) made the step compile a second time after a resume.
        state = jax.tree.map(lambda x: x if jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended)
                             else x.astype(x.dtype), state)
        self._packer = LeafPacker(state)
        self._slot_packer = LeafPacker(jax.tree.map(lambda x: x[0], pool))
        self._norm_packer = LeafPacker(norm) if norm is not None else None
        carry = Carry(key, self._packer.pack(state), jnp.zeros((t, n), jnp.float32), jnp.zeros((t, n), jnp.int8),
                      jnp.zeros((t, n, self.gymnax_env.obs_dim), jnp.float32), self._pack_pool(pool),
                      self._pack_norm(norm), jnp.zeros((t, n), jnp.float32) if self.norm_reward else None)
        return carry, obs

    # A jitted call costs per array (about 1 us each on the CPU): the pool's and the
    # normalization state's leaves cross it packed, a few arrays whatever the env.
    def _pack_pool(self, pool):
        return jax.vmap(self._slot_packer.pack)(pool)

    def _pack_norm(self, norm):
        return None if norm is None else self._norm_packer.pack(norm)

    def _unpack_norm(self, packed):
        return None if packed is None else self._norm_packer.unpack(packed)

    def _refill_impl(self, carry: Carry):
        key, sub = jax.random.split(carry.key)
        return carry._replace(key=key, pool=self._pack_pool(self.vec.draw_pool(sub, self.num_steps)))

    def _step_impl(self, carry: Carry, t, action):
        action = self.gymnax_env.env_action(action)
        slot = self._slot_packer.unpack(jax.tree.map(lambda x: x[t], carry.pool))
        out = self.vec.step_from_slot(slot, self._packer.unpack(carry.state), action)
        norm, obs, final_obs, reward = norm_step(self._unpack_norm(carry.norm), out.obs, out.final_obs, out.reward,
                                                 out.terminated, self.gamma, update=self.update_norm)
        end = jnp.where(out.terminated, TERMINATED, jnp.where(out.truncated, TRUNCATED, RUNNING)).astype(jnp.int8)
        carry = carry._replace(state=self._packer.pack(out.state), rewards=carry.rewards.at[t].set(reward),
                               norm=self._pack_norm(norm),
                               ends=carry.ends.at[t].set(end), final_obs=carry.final_obs.at[t].set(final_obs))
        if carry.env_rewards is not None:
            carry = carry._replace(env_rewards=carry.env_rewards.at[t].set(out.reward))
        return carry, obs

    def reset(self, seed: int) -> torch.Tensor:
        # Committed to the device that actions arrive on, as every later carry is (an action
        # imported from torch is committed): jit compiles once per signature, and a
        # committed and an uncommitted argument are two signatures.
        device = next(iter(exchange.to_jax(torch.zeros(1, device=self.device)).devices()))
        norm = self._loaded_norm
        if norm is None:
            norm = norm_init(self.gymnax_env.obs_dim, self.num_envs, self.norm_obs, self.norm_reward)
        carry, obs = self._reset(jax.random.PRNGKey(seed), norm)
        self.carry, self.last_obs, self.stats = jax.device_put((carry, obs, jax_stats_init(self.num_envs)), device)
        self._action_rows, self._action_view = self._action_buffer()
        return exchange.to_torch(self.last_obs)

    def _action_buffer(self) -> tuple:
        """On the CPU: a torch buffer for one step's actions and a JAX array on its memory. Each
        step copies its action in (int64 to int32 within the copy) and hands the jitted step the
        same array, where a new DLPack view and an int32 conversion per step cost ~10 us.
        (None, None) off the CPU (the copy and the step run on two frameworks' streams) or
        when JAX would copy the buffer instead of aliasing it."""
        if self.device.type != "cpu":
            return None, None
        shape = (self.num_envs,) if self.discrete else (self.num_envs, self.gymnax_env.action_dim)
        with torch.inference_mode(False):  # a normal tensor: steps run in and out of inference mode
            rows = torch.zeros(shape, dtype=torch.int32 if self.discrete else torch.float32)
        view = exchange.to_jax(rows)
        if view.unsafe_buffer_pointer() != rows.data_ptr():
            return None, None
        self._action_dtypes = (torch.int64, torch.int32) if self.discrete else (torch.float32,)
        return rows, view

    def warm_up(self) -> None:
        """Compile the step, the refill and the statistics update now (jit compiles at the
        first call), on a copy of the carry: the env's state is left as it is."""
        action = (torch.zeros(self.num_envs, dtype=torch.int32, device=self.device) if self.discrete
                  else torch.zeros(self.num_envs, self.gymnax_env.action_dim, device=self.device))
        carry = self._refill(jax.tree.map(jnp.copy, self.carry))  # a copy: refill donates its input
        carry, obs = self._step(carry, 0, exchange.to_jax(action))
        jax.block_until_ready((self._stats_update(self.stats, carry.rewards, carry.ends), self._stats_mean(self.stats)))

    def step(self, t: int, action: torch.Tensor) -> None:
        if t == 0:  # a new rollout: fresh step keys and reset states, one batched draw
            self.carry = self._refill(self.carry)
        rows = self._action_rows
        if rows is not None and action.shape == rows.shape and action.dtype in self._action_dtypes:
            # The last step read its actions before its observation was ready: the buffer is free.
            self.last_obs.block_until_ready()
            rows.copy_(action)
            action = self._action_view
        else:
            if self.discrete:
                action = action.to(torch.int32)  # JAX runs with x64 off: to_jax refuses int64
            action = exchange.to_jax(action)
        self.carry, self.last_obs = self._step(self.carry, t, action)
        self._t = t

    def observation(self) -> torch.Tensor:
        return exchange.to_torch(self.last_obs)

    def end_rollout(self) -> RolloutEnd:
        carry = self.carry
        own = carry.rewards if carry.env_rewards is None else carry.env_rewards
        self.stats = self._stats_update(self.stats, own, carry.ends)
        # Copies: the carry's buffers are donated to (overwritten by) the next rollout.
        rewards, ends = exchange.to_torch((carry.rewards, carry.ends), copy=True)
        time_limits = ends == TRUNCATED
        final_obs = None
        if time_limits.any():  # rare (CartPole: a 500-step episode); a row gather then
            final_obs = exchange.to_torch(carry.final_obs)[time_limits]
        return RolloutEnd(rewards, (ends != RUNNING).float(), time_limits, final_obs)

    def dones(self) -> torch.Tensor:
        return exchange.to_torch(self._done_at(self.carry.ends, self._t))

    def last_step(self) -> tuple:
        own = self.carry.rewards if self.carry.env_rewards is None else self.carry.env_rewards
        return np.asarray(own[self._t]), np.asarray(self.carry.ends[self._t] != RUNNING)

    def episode_stats(self) -> tuple:
        mean_return, count = jax.device_get((self._stats_mean(self.stats), self.stats.count))
        return float(mean_return), int(count)

    def state_arrays(self) -> dict:
        """`env/key`, `env/state/...`, `env/obs`, `env/stats/...` (numpy copies of what the next
        rollouts depend on) and the normalization statistics (pipelines.normalize). Call
        between rollouts: the rollout buffers and the reset pool are rewritten from these by
        the next rollout."""
        arrays = tree_arrays({"key": self.carry.key, "state": self._packer.unpack(self.carry.state), "obs": self.last_obs,
                              "stats": self.stats})
        state = {f"env/{name}": value for name, value in arrays.items()}
        norm = self._unpack_norm(self.carry.norm)
        if norm is not None:
            host = jax.device_get(norm)
            state.update(norm_arrays(host.obs, host.ret, host.returns))
        return state

    def restore(self, state: dict, reset_seed: int) -> torch.Tensor:
        """Continue exactly from `state_arrays()` (after `reset`, which sets up the carry;
        `reset_seed` is not needed). ValueError when the arrays are of another env or env count."""
        template = {"key": self.carry.key, "state": self._packer.unpack(self.carry.state), "obs": self.last_obs,
                    "stats": self.stats}
        arrays = {name.removeprefix("env/"): value for name, value in state.items() if name.startswith("env/")}
        restored = restore_tree(template, arrays, "state/env")
        self.carry = self.carry._replace(key=restored["key"], state=self._packer.pack(restored["state"]))
        norm = self._unpack_norm(self.carry.norm)
        if norm is not None:
            norm = restore_tree(norm, norm_state_arrays(state, norm), "state/norm")
            self.carry = self.carry._replace(norm=self._pack_norm(norm))
        self.last_obs, self.stats = restored["obs"], restored["stats"]
        return exchange.to_torch(self.last_obs)

    def freeze_normalization(self, state: dict) -> None:
        """Use a checkpoint's statistics from the next `reset` on, frozen (evaluation)."""
        if not (self.norm_obs or self.norm_reward):
            return
        obs, ret, returns = norm_from_arrays(state, self.norm_obs, self.norm_reward)
        as_moments = lambda m: None if m is None else RunningMoments(*(jnp.asarray(x, jnp.float32) for x in m))  # noqa: E731
        if returns is None or np.shape(returns) != (self.num_envs,):
            returns = np.zeros(self.num_envs)
        self._loaded_norm = NormState(as_moments(obs), as_moments(ret),
                                      jnp.asarray(returns, jnp.float32) if self.norm_reward else None)
        self.update_norm = False

    def close(self) -> None:
        """Nothing to release: the envs are JAX arrays."""
