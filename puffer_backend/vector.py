"""A JAX simulator as a gymnasium vector env of torch tensors, for existing torch training code.

`JaxVectorEnv(env, num_envs)` steps `num_envs` copies of a gymnax-interface env (a gymnax id,
an id of the families `pipelines.envs.gymnax_vec.make_env` knows, a gymnax `(env, params)`
pair or a built `GymnaxEnv`) with one jitted call per step: transition, time limit,
same-step auto-reset and the episode counters, with the env state, the PRNG key and the
counters donated to the call and kept in JAX. Observations reach torch through
`exchange.to_torch` (DLPack views, no copy); actions go to JAX through `exchange.to_jax`.
It follows gymnasium 1.x's `VectorEnv` (SAME_STEP autoreset, `final_obs`, the `episode`
statistics of `RecordEpisodeStatistics`) and also answers PufferLib's vecenv calls
(`async_reset`, `send`, `recv`). docs/vector.md states the semantics.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from . import exchange
from .pipelines.envs.gymnax_vec import GymnaxEnv, make_env, pack_rows, select_rows
from .spec.errors import bad_type, bad_value

__all__ = ["JaxVectorEnv"]

_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class _Carry(NamedTuple):
    """What each step reads and rewrites (donated): all JAX arrays."""
    key: jax.Array
    state: Any
    ep_return: jax.Array  # (num_envs,) float32: the running episode's return so far
    ep_length: jax.Array  # (num_envs,) int32: its steps so far


class _Step(NamedTuple):
    """What one step hands to torch (fresh buffers, never donated). The last three are
    converted only on steps where an episode ended."""
    obs: jax.Array        # (num_envs, obs_dim) float32, a reset observation where an episode ended
    reward: jax.Array     # (num_envs,) float32
    flags: jax.Array      # (3, num_envs) bool: terminated, truncated (never where terminated), ended
    any_done: jax.Array   # () bool
    action_mask: Any      # (num_envs, k) bool, or None
    final_obs: jax.Array  # (num_envs, obs_dim) float32: the observation the step reached
    ep_return: jax.Array  # (num_envs,) float32: the ended episode's return, else 0
    ep_length: jax.Array  # (num_envs,) int32: its length, else 0


class JaxVectorEnv(gymnasium.vector.VectorEnv):
    """`num_envs` copies of a JAX env, stepped on torch (or numpy) actions, giving torch tensors.

    env: a gymnax id ('CartPole-v1'), an id `make_env` takes ('brax/inverted_pendulum', ...
    where supported), a gymnax `(env, env_params)` pair, or a `GymnaxEnv`.
    seed: the key of the first `reset()` without a seed. device: the torch device of every
    tensor (None: "cpu"); the env runs on the JAX device that sees that memory.
    check_actions: discrete actions are checked to lie in [0, n) (a host read of the
    actions: a sync on an accelerator); False skips the check.

    reset(seed=None, options=None) -> (obs, infos); step(actions) -> (obs, rewards,
    terminations, truncations, infos): obs float32 `(num_envs, obs_dim)`, rewards float32,
    terminations and truncations bool `(num_envs,)`, all torch tensors on `device`. The
    tensors of a step are its own buffers: the env never writes to them again (do not
    write to them either: they are JAX's memory).
    Raises TypeError/ValueError naming the argument for bad input.
    """

    def __init__(self, env, num_envs: int, *, seed: int = 0, device=None, check_actions: bool = True):
        self.gymnax_env = _as_gymnax_env(env)
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
            raise bad_value("num_envs", "a positive int", repr(num_envs))
        _check_seed(seed, "seed")
        if check_actions is not True and check_actions is not False:
            raise bad_value("check_actions", "True or False", repr(check_actions))
        self.num_envs = int(num_envs)
        self.device = _torch_device(device)
        self.check_actions = check_actions
        self._seed = int(seed)
        genv = self.gymnax_env
        self.mask_slice = genv.mask_slice
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
        self.render_mode = None
        self.single_observation_space = _observation_space(genv)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        if genv.discrete:
            self.single_action_space = gymnasium.spaces.Discrete(genv.num_actions)
        else:
            self.single_action_space = gymnasium.spaces.Box(np.asarray(genv.action_low, np.float32),
                                                            np.asarray(genv.action_high, np.float32),
                                                            (genv.action_dim,), np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.num_agents = self.num_envs  # PufferLib's name for the batch
        # The JAX device behind `self.device`: where the carry lives, as actions arrive there.
        self._jax_device = next(iter(exchange.to_jax(torch.zeros(1, device=self.device)).devices()))
        self._reset_fn = jax.jit(self._reset_impl)
        self._step_fn = jax.jit(self._step_impl, donate_argnums=0)
        self._carry: _Carry | None = None
        self._key = None
        self._episode_start = np.zeros(self.num_envs)
        self._all_envs = np.ones(self.num_envs, dtype=bool)
        self._pending = None  # PufferLib's send/recv: the step recv hands out

    # ------------------------------------------------------------------------------ JAX side

    def _rows(self, obs):
        return pack_rows(obs, (self.num_envs,))

    def _mask(self, rows):
        if self.mask_slice is None:
            return None
        start, stop = self.mask_slice
        return rows[:, start:stop] > 0.5

    def _reset_impl(self, key):
        genv = self.gymnax_env
        key, sub = jax.random.split(key)
        obs, state = jax.vmap(lambda k: genv.env.reset(k, genv.params))(jax.random.split(sub, self.num_envs))
        rows = self._rows(obs)
        zeros = jnp.zeros(self.num_envs, jnp.float32)
        return _Carry(key, _strong(state), zeros, jnp.zeros(self.num_envs, jnp.int32)), rows, self._mask(rows)

    def _step_impl(self, carry: _Carry, action):
        genv, n = self.gymnax_env, self.num_envs
        env, params = genv.env, genv.params
        action = genv.env_action(action)
        key, sub = jax.random.split(carry.key)
        # gymnax's own key use in `env.step`: one key per env, split into step and reset keys.
        step_keys, reset_keys = jnp.swapaxes(jax.vmap(jax.random.split)(jax.random.split(sub, n)), 0, 1)
        obs_st, state_st, reward, terminated, _ = jax.vmap(
            lambda k, s, a: env.step_env(k, s, a, params))(step_keys, carry.state, action)
        truncated = jax.vmap(lambda s: env.is_truncated(s, params))(state_st)
        terminated = terminated.reshape(n).astype(bool)
        truncated = truncated.reshape(n).astype(bool) & ~terminated
        done = terminated | truncated
        any_done = done.any()

        reset = jax.vmap(lambda k: env.reset(k, params))

        def reset_all(_):
            obs_re, state_re = reset(reset_keys)
            pick = lambda r, s: select_rows(done, r, s)  # noqa: E731
            return _strong((jax.tree.map(pick, state_re, state_st), jax.tree.map(pick, obs_re, obs_st)))

        def reset_up_to(size):
            def reset_some(_):
                # The ended envs' indices (padded with n), each reset with its own key: the
                # same states as reset_all, for a fraction of the work. An ended env's reset is
                # row `rank` of the batch; they go in by a gather and a select (on the CPU about
                # 7% of a 1024-env brax step faster than a scatter into every state leaf).
                index = jnp.nonzero(done, size=size, fill_value=n)[0]
                obs_re, state_re = reset(reset_keys[jnp.minimum(index, n - 1)])
                rank = jnp.minimum(jnp.cumsum(done) - 1, size - 1)
                put = lambda s, r: s if not _per_env(s, n) else select_rows(done, r[rank].astype(s.dtype), s)  # noqa: E731
                return _strong((jax.tree.map(put, state_st, state_re), jax.tree.map(put, obs_st, obs_re)))
            return reset_some

        # Resets only where some env ended (gymnax's env.step resets every env on every step),
        # computed for the smallest of RESET_TIERS' sizes that holds the ended envs.
        sizes = _reset_sizes(n)
        branch = jnp.where(any_done, 1 + jnp.searchsorted(jnp.asarray(sizes, jnp.int32), done.sum()), 0)
        state, obs = jax.lax.switch(branch, [lambda _: _strong((state_st, obs_st)),
                                             *map(reset_up_to, sizes), reset_all], None)
        reward = reward.reshape(n).astype(jnp.float32)
        ep_return = carry.ep_return + reward
        ep_length = carry.ep_length + 1
        rows = self._rows(obs)
        out = _Step(rows, reward, jnp.stack([terminated, truncated, done]), any_done, self._mask(rows),
                    self._rows(obs_st), jnp.where(done, ep_return, 0.0), jnp.where(done, ep_length, 0))
        carry = _Carry(key, state, jnp.where(done, 0.0, ep_return), jnp.where(done, 0, ep_length))
        return carry, out

    # ----------------------------------------------------------------------------- torch side

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset every env: `seed` (an int) starts a new key, None continues the current one
        (the constructor's `seed` before the first reset). Returns (obs, infos); infos holds
        `action_mask` where the env has one. options: None or {} (nothing else is taken)."""
        if seed is not None:
            _check_seed(seed, "seed")
        if options:
            raise bad_value("options", "None or an empty dict (JaxVectorEnv takes no reset options)", repr(options))
        super().reset(seed=seed)
        if seed is not None:
            key = jax.random.PRNGKey(seed)
        elif self._carry is not None:
            key = self._carry.key
        else:
            key = jax.random.PRNGKey(self._seed)
        key = jax.device_put(key, self._jax_device)
        # Committed to the actions' device as every later carry is: one compiled step.
        self._carry, obs, mask = jax.device_put(self._reset_fn(key), self._jax_device)
        self._episode_start[:] = time.perf_counter()
        infos = {}
        if mask is not None:
            infos["action_mask"], infos["_action_mask"] = exchange.to_torch(mask), self._all_envs
        return exchange.to_torch(obs), infos

    def step(self, actions):
        """Step every env on `actions` (one per env: int indices `(num_envs,)` for Discrete,
        float `(num_envs, action_dim)` for Box, torch or numpy); an env whose episode ends
        is reset in the same step. Returns (obs, rewards, terminations, truncations, infos)."""
        if self._carry is None:
            raise gymnasium.error.ResetNeeded("JaxVectorEnv: call reset() before step()")
        action = exchange.to_jax(self._checked_action(actions))
        self._carry, out = self._step_fn(self._carry, action)
        to_torch = exchange.to_torch  # one leaf at a time: the hot path, ~2 us a leaf
        obs, reward = to_torch(out.obs), to_torch(out.reward)
        terminated, truncated, done = to_torch(out.flags).unbind()
        infos = {}
        if out.action_mask is not None:
            infos["action_mask"], infos["_action_mask"] = to_torch(out.action_mask), self._all_envs
        if to_torch(out.any_done).item():
            infos.update(self._ended(out, done))
        return obs, reward, terminated, truncated, infos

    def _ended(self, out: _Step, done: torch.Tensor) -> dict:
        """gymnasium's keys for envs that ended, each with its `_` mask (numpy bool, as
        gymnasium's; `np.nonzero` of a tensor would call torch's own `nonzero`): final_obs
        (torch rows) and final_info (SyncVectorEnv's SAME_STEP mode), and episode as
        RecordEpisodeStatistics gives it (numpy r float64, l int64, t float64), both at the
        top (the vector wrapper) and in final_info (the per-env one, which CleanRL reads)."""
        ended = done.cpu().numpy()
        now = time.perf_counter()
        elapsed = np.where(ended, np.round(now - self._episode_start, 6), 0.0)
        self._episode_start[ended] = now
        episode = {"r": np.asarray(out.ep_return, np.float64), "l": np.asarray(out.ep_length, np.int64),
                   "t": elapsed}
        return {"final_obs": exchange.to_torch(out.final_obs), "_final_obs": ended,
                "final_info": {"episode": episode, "_episode": ended}, "_final_info": ended,
                "episode": episode, "_episode": ended}

    def _checked_action(self, actions) -> torch.Tensor:
        """`actions` as the tensor JAX receives: on `device`, int32 or float32, shape checked."""
        if isinstance(actions, np.ndarray):
            if actions.dtype.byteorder == ">" or actions.dtype.kind not in "iuf":
                raise bad_type("actions", "an integer or float array", actions)
            actions = torch.from_numpy(np.ascontiguousarray(actions))
        elif isinstance(actions, jax.Array):
            actions = exchange.to_torch(actions)
        elif not isinstance(actions, torch.Tensor):
            raise bad_type("actions", "a torch.Tensor or numpy.ndarray", actions)
        genv, n = self.gymnax_env, self.num_envs
        if genv.discrete:
            if actions.dtype not in _INT_DTYPES:
                raise bad_type("actions", f"integer action indices for Discrete({genv.num_actions})", actions)
            if tuple(actions.shape) != (n,):
                raise bad_value("actions", f"shape ({n},): one index per env", f"shape {tuple(actions.shape)}")
            if self.check_actions and n:
                low, high = (int(v) for v in torch.aminmax(actions))
                if low < 0 or high >= genv.num_actions:
                    raise bad_value("actions", f"indices in [0, {genv.num_actions})",
                                    f"values in [{low}, {high}]")
            dtype = torch.int32  # JAX runs with x64 off
        else:
            if actions.dtype not in _FLOAT_DTYPES:
                raise bad_type("actions", f"float actions for a Box of shape ({genv.action_dim},)", actions)
            if tuple(actions.shape) != (n, genv.action_dim):
                raise bad_value("actions", f"shape ({n}, {genv.action_dim}): one action per env",
                                f"shape {tuple(actions.shape)}")
            dtype = torch.float32  # the env's action dtype; bounds are applied in JAX
        if actions.requires_grad:
            actions = actions.detach()
        return actions.to(device=self.device, dtype=dtype)

    # ------------------------------------------------------------------- PufferLib's vecenv calls

    def async_reset(self, seed: int | None = None) -> None:
        """PufferLib's reset: `recv()` then returns the first observations."""
        obs, infos = self.reset(seed)
        zeros = torch.zeros(self.num_envs, device=self.device)
        self._pending = (obs, zeros, zeros.bool(), zeros.bool(), infos)

    def send(self, actions) -> None:
        """PufferLib's step: `recv()` then returns its result."""
        self._pending = self.step(actions)

    def recv(self):
        """PufferLib's (obs, rewards, terminals, truncations, infos, env_ids, masks): infos is
        a list with one {"episode_return", "episode_length"} per episode ended at this step;
        env_ids numpy `arange(num_envs)`; masks numpy all True (every agent acts)."""
        if self._pending is None:
            raise gymnasium.error.ResetNeeded("JaxVectorEnv: call async_reset() or send() before recv()")
        obs, rewards, terminals, truncations, infos = self._pending
        self._pending = None
        episodes = []
        if "_episode" in infos:
            ended = infos["_episode"]
            returns, lengths = infos["episode"]["r"][ended], infos["episode"]["l"][ended]
            episodes = [{"episode_return": float(r), "episode_length": int(n)} for r, n in zip(returns, lengths)]
        return (obs, rewards, terminals, truncations, episodes, np.arange(self.num_envs),
                np.ones(self.num_envs, dtype=bool))


# Fractions of the envs that a step's partial resets are computed for: an untrained brax
# policy ends its episodes within ~5 steps, so a fifth of the envs can end at every step.
# Each size is one more reset to compile: below ALL_TIERS_FROM envs only the first is built
# (brax, one process, two runs of benchmarks/reset_tiers.py: 64 and 256 envs gained nothing
# and 3% steps/s for 4-6 s more compile; 512 and 1024 envs gained 4-6% and 8-9%).
RESET_TIERS = (8, 4, 2)
ALL_TIERS_FROM = 512


def _reset_sizes(n: int) -> tuple:
    """The partial reset sizes for n envs, ascending: n // k for k in RESET_TIERS from
    ALL_TIERS_FROM envs, else for its first (at least 1, below n)."""
    tiers = RESET_TIERS if n >= ALL_TIERS_FROM else RESET_TIERS[:1]
    return tuple(sorted({max(1, n // k) for k in tiers} - {n}))


def _strong(tree):
    """Every leaf without JAX's weak type: a reset's state and a step's state then have one
    signature (gymnax's Pendulum resets `last_u` to a weak 0.0), so the step compiles once."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.asarray(x).dtype), tree)


def _as_gymnax_env(env) -> GymnaxEnv:
    if isinstance(env, GymnaxEnv):
        return env
    if isinstance(env, str):
        return make_env(env)
    if isinstance(env, tuple) and len(env) == 2 and hasattr(env[0], "step_env"):
        return make_env(type(env[0]).__name__, factory=lambda: env)
    raise bad_type("env", "an env id (str), a gymnax (env, env_params) pair or a GymnaxEnv", env)


def _per_env(leaf, n: int) -> bool:
    """A leaf with a row per env (MuJoCo Warp also keeps empty scratch arrays shared by all)."""
    return leaf.ndim > 0 and leaf.shape[0] == n


def _check_seed(seed, name: str) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise bad_value(name, "an int in [0, 2**32)", repr(seed))


def _torch_device(device) -> torch.device:
    if device is None:
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (TypeError, RuntimeError):
        raise bad_value("device", "a torch device or its name ('cpu', 'cuda:0')", repr(device)) from None


def _observation_space(genv: GymnaxEnv) -> gymnasium.spaces.Box:
    """A Box of the float32 rows: the env's own bounds for a single Box leaf, else unbounded."""
    low = np.full(genv.obs_dim, -np.inf, np.float32)
    high = np.full(genv.obs_dim, np.inf, np.float32)
    space = genv.env.observation_space(genv.params)
    if len(genv.obs_leaves) == 1 and type(space).__name__ == "Box":
        low = np.broadcast_to(np.asarray(space.low, np.float32), genv.obs_shape).reshape(-1).copy()
        high = np.broadcast_to(np.asarray(space.high, np.float32), genv.obs_shape).reshape(-1).copy()
    return gymnasium.spaces.Box(low, high, (genv.obs_dim,), np.float32)
