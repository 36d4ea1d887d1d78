"""gymnasium vector envs for the torch pipeline, with observations packed into flat rows.

Packing (`puffer_backend.spec.pack_batch`) is what PufferLib's emulation does: every
observation, however structured (Box, Discrete, MultiDiscrete, MultiBinary, Dict, Tuple),
becomes one row of the sample dtype, and the policy unpacks it with `nativize_tensor`
(`observation_layout`). Actions come back from the sampler as int64 indices (Discrete,
MultiDiscrete, MultiBinary) or float32 vectors (Box) and are turned into what the env's
action space holds (`ActionConverter`). Any registered gymnasium id or a user's factory;
`vec="async"` runs one process per env (gymnasium's AsyncVectorEnv).
"""
from __future__ import annotations

import numpy as np
import torch

from puffer_backend import torch_impl
from puffer_backend.spec import action_spec, bad_value, pack_batch, row_elements, sample_dtype
from puffer_backend.spec.errors import one_line

from ..episodes import EpisodeStats
from ..normalize import Normalizer
from .contract import EnvStep, RolloutEnd

__all__ = ["GymVecEnv", "ActionConverter", "make_gym_vec_env", "make_gym_env", "check_spaces"]


def _autoreset():
    import gymnasium as gym
    return gym.vector.AutoresetMode.SAME_STEP


def make_gym_vec_env(env_id: str, num_envs: int, vec: str = "sync", factory=None):
    """A gymnasium vector env with same-step autoreset (the observation after an episode's
    end is the next episode's first; `infos["final_obs"]` holds the one the end reached):
    `gymnasium.make_vec(env_id)`, or `factory` (a user's `() -> gymnasium.Env`) called once
    per env. vec: "sync" (SyncVectorEnv) or "async" (AsyncVectorEnv, one process per env).

    Raises ValueError naming env_id when the id is not registered, its dependencies are not
    installed, or the factory does not return a gymnasium env.
    """
    import gymnasium as gym

    if vec not in ("sync", "async"):
        raise bad_value("vec", "'sync' or 'async'", repr(vec))
    if factory is not None:
        probe = _call_factory(env_id, factory)
        probe.close()
        cls = gym.vector.SyncVectorEnv if vec == "sync" else gym.vector.AsyncVectorEnv
        return cls([factory] * num_envs, autoreset_mode=_autoreset())
    if env_id not in gym.registry:
        raise bad_value("env_id", "an id in gymnasium's registry or package.module:make_env", repr(env_id))
    try:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vec,
                            vector_kwargs={"autoreset_mode": _autoreset()})
    except (ImportError, gym.error.Error) as error:  # DependencyNotInstalled is both
        raise bad_value("env_id", "an env whose dependencies are installed",
                        f"{env_id!r} ({one_line(str(error))})") from None


def make_gym_env(env_id: str, factory=None, render_mode: str | None = None):
    """One gymnasium env (for checks and videos): `gymnasium.make(env_id, render_mode=...)`, or
    `factory(render_mode=...)` when it takes that argument, else `factory()`."""
    import gymnasium as gym

    if factory is not None:
        kwargs = {"render_mode": render_mode} if render_mode is not None and _takes(factory, "render_mode") else {}
        return _call_factory(env_id, factory, **kwargs)
    try:
        return gym.make(env_id, render_mode=render_mode)
    except (ImportError, gym.error.Error) as error:
        raise bad_value("env_id", "an env whose dependencies are installed",
                        f"{env_id!r} ({one_line(str(error))})") from None


def _takes(function, name: str) -> bool:
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _call_factory(env_id: str, factory, **kwargs):
    import gymnasium as gym

    env = factory(**kwargs)
    if not isinstance(env, gym.Env):
        raise bad_value("env_id", "a factory returning a gymnasium.Env", f"{env_id!r} returning "
                        f"{type(env).__name__}")
    return env


def check_spaces(env_id: str, observation_space, action_space, norm_obs: bool = False):
    """The action spec of an env whose spaces the pipeline trains: an observation the spec
    layer packs (Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple of those; float
    rows when `norm_obs`) and a Discrete, MultiDiscrete, MultiBinary or float Box action.
    ValueError naming env_id (or config.norm_obs) otherwise."""
    import gymnasium as gym

    try:
        sample_dtype(observation_space)
    except (TypeError, ValueError):
        raise bad_value("env_id", "an env whose observation space packs into rows (Box, Discrete, MultiDiscrete, "
                        "MultiBinary, Dict, Tuple of those)", f"{env_id!r} with {_space(observation_space)}") from None
    if norm_obs and not np.issubdtype(sample_dtype(observation_space), np.floating):
        raise bad_value("config.norm_obs", "an env whose packed observations are floats",
                        f"{env_id!r} with {np.dtype(sample_dtype(observation_space)).name} rows")
    if isinstance(action_space, gym.spaces.Box) and not np.issubdtype(action_space.dtype, np.floating):
        raise bad_value("env_id", "an env whose Box actions are floats", f"{env_id!r} with {_space(action_space)}")
    try:
        return action_spec(action_space)
    except (TypeError, ValueError):
        raise bad_value("env_id", "an env with Discrete, MultiDiscrete, MultiBinary or Box actions",
                        f"{env_id!r} with {_space(action_space)}") from None


def _space(space) -> str:
    text = one_line(repr(space))
    return text if len(text) <= 120 else text[:117] + "..."


class ActionConverter:
    """Sampled actions -> the env's actions: Discrete and MultiDiscrete indices shifted by the
    space's `start`, Box actions clipped to the bounds (the pipeline keeps the unclipped draw,
    as CleanRL), then reshaped to the space's shape and cast to its dtype where they differ
    (a sampled action is int64 `(batch,)` or `(batch, heads)`, or float32 `(batch, width)`)."""

    def __init__(self, space):
        import gymnasium as gym

        spec = action_spec(space)
        self.shape = tuple(space.shape)
        self.dtype = np.dtype(space.dtype)
        self.start = None
        self.clip = None
        if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)) and np.any(space.start != 0):
            self.start = np.asarray(space.start).reshape(-1) if self.shape else np.asarray(space.start)
        if isinstance(space, gym.spaces.Box):
            self.clip = (space.low.reshape(-1), space.high.reshape(-1))
        self.reshape = self.shape != spec.action_shape
        self.cast = self.dtype != spec.action_dtype

    def __call__(self, action: np.ndarray) -> np.ndarray:
        if self.clip is not None:
            action = np.clip(action, *self.clip)
        if self.start is not None:
            action = action + self.start
        if self.reshape:
            action = action.reshape((action.shape[0],) + self.shape)
        if self.cast:
            action = action.astype(self.dtype)
        return action


def _sync_vector_env():
    import gymnasium as gym
    return gym.vector.SyncVectorEnv


def _packing_is_reshape(space, num_envs: int) -> bool:
    """True when packed rows are the observations themselves, reshaped (a Box of the sample dtype)."""
    import gymnasium as gym
    if not isinstance(space, gym.spaces.Box) or space.dtype != sample_dtype(space):
        return False
    probe = np.stack([space.sample() for _ in range(num_envs)])
    packed = pack_batch(space, probe)
    return packed.dtype == probe.dtype and np.array_equal(packed, probe.reshape(num_envs, -1))


class GymVecEnv:
    """A gymnasium vector env on torch actions, packed rows out: the torch pipeline's side of the
    env contract (envs.contract.RolloutEnv; read that docstring for each method).

    Observations are packed rows `(num_envs, width)` of the sample dtype (`observation_layout`
    unpacks them with `torch_impl.nativize_tensor`); actions are converted to what the
    space holds (ActionConverter). The env keeps its episode statistics (pipelines.episodes,
    the env's own rewards) and, under norm_obs / norm_reward, its `normalizer`
    (pipelines.normalize.Normalizer). gymnasium envs cannot be restored mid-episode: `restore`
    resets them with the seed it is given.
    factory: a user's `() -> gymnasium.Env` (else `env_id` is a registry id); vec: "sync" or
    "async"; num_steps: steps per rollout (1 for evaluation). device: where the tensors it
    hands out live; off the CPU each step's rows go across in one non-blocking copy from a
    pinned staging buffer, and the actions come back to numpy once per step. Raises
    ValueError naming env_id for an env it cannot train.
    """

    compiles = False
    restores_episodes = False

    def __init__(self, env_id: str, num_envs: int, num_steps: int = 1, *, vec: str = "sync", factory=None,
                 norm_obs: bool = False, norm_reward: bool = False, gamma: float = 0.99,
                 device: torch.device | str = "cpu"):
        self.env = make_gym_vec_env(env_id, num_envs, vec, factory)
        try:
            self.device = torch.device(device)
            self._setup(env_id, num_envs, num_steps, norm_obs, norm_reward, gamma)
        except BaseException:
            self.env.close()
            raise

    def _setup(self, env_id: str, num_envs: int, num_steps: int, norm_obs: bool, norm_reward: bool,
               gamma: float) -> None:
        self.num_envs, self.num_steps = num_envs, num_steps
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        self.action_spec = check_spaces(env_id, self.observation_space, self.action_space, norm_obs)
        self._row_dtype = np.dtype(sample_dtype(self.observation_space))
        self.obs_dtype = torch_impl.numpy_to_torch_dtype_dict[self._row_dtype]
        self.obs_width = row_elements(self.observation_space)
        self.observation_layout = torch_impl.nativize_dtype(self.observation_space)
        self._convert = ActionConverter(self.action_space)
        self._identity_pack = _packing_is_reshape(self.observation_space, num_envs)
        # Flat rows from a sync vector env: step its single envs here (_step_envs), writing each
        # observation straight into its row.
        self._single_envs = None
        if self._identity_pack and isinstance(self.env, _sync_vector_env()):
            self._single_envs = list(self.env.envs)
        self.normalizer = None
        if norm_obs or norm_reward:
            self.normalizer = Normalizer((self.obs_width,) if norm_obs else None, num_envs, gamma, norm_reward)
        self.stats = EpisodeStats(num_envs)
        # The rollout so far, in the contract's convention (envs.contract.RolloutEnd).
        self._rewards = np.zeros((num_steps, num_envs), np.float32)
        self._dones = np.zeros((num_steps, num_envs), np.float32)
        self._time_limits = np.zeros((num_steps, num_envs), bool)
        self._final_rows: list[torch.Tensor] = []
        self._obs = None
        self._last = (np.zeros(num_envs, np.float32), np.zeros(num_envs, bool))
        self._on_cpu = self.device.type == "cpu"
        # Off the CPU: the host side of each step's copy, page-locked so the copy is a true
        # asynchronous DMA (see _rows_to_device for why one buffer is enough).
        self._staging = None
        if self.device.type == "cuda":
            self._staging = torch.empty((num_envs, self.obs_width), dtype=self.obs_dtype, pin_memory=True)

    def _pack(self, obs, rows: int) -> np.ndarray:
        if self._identity_pack:
            # Checked once in __init__: for a flat Box pack_batch returns exactly this view,
            # and skipping its per-call dtype bookkeeping saves ~30 us per step.
            return np.ascontiguousarray(obs).reshape(rows, -1)
        return pack_batch(self.observation_space, obs)

    def reset(self, seed: int) -> torch.Tensor:
        obs, _ = self.env.reset(seed=seed)
        rows = self._pack(obs, self.num_envs)
        if self.normalizer is not None:
            rows = self.normalizer.observations(rows)
        self._obs = self._to_device(rows)
        return self._obs

    def warm_up(self) -> None:
        """Nothing compiles."""

    def step(self, t: int, action: torch.Tensor) -> None:
        if t == 0:  # a new rollout: what an unfinished one gathered is not this one's
            self._final_rows = []
        out = self._vector_step(self._convert(action.numpy() if self._on_cpu else action.cpu().numpy()))
        rows, reward = out.obs, out.reward
        if self.normalizer is not None:
            rows = self.normalizer.observations(rows)
            reward = self.normalizer.rewards(out.reward, out.terminated)
        done = out.done
        self._rewards[t], self._dones[t], self._time_limits[t] = reward, done, out.truncated
        if out.truncated.any():  # rare: the rows are gathered in the row-major order of _time_limits
            self._final_rows.append(self._pack_final(out.final_obs, np.flatnonzero(out.truncated)))
        self.stats.add(out.reward, done)
        self._last = (out.reward, done)
        self._t = t
        self._obs = torch.from_numpy(rows) if self._on_cpu else self._rows_to_device(rows)

    def observation(self) -> torch.Tensor:
        return self._obs

    def _vector_step(self, actions: np.ndarray) -> EnvStep:
        """One step of every env as the contract's EnvStep: packed rows, the env's own rewards
        as float32, truncated only where not terminated, and final_obs gymnasium's per-env
        object array (None when no episode ended)."""
        if self._single_envs is not None:
            rows, reward, terminated, truncated, infos = self._step_envs(actions)
        else:
            obs, reward, terminated, truncated, infos = self.env.step(actions)
            rows = self._pack(obs, self.num_envs)
        return EnvStep(rows, reward.astype(np.float32, copy=False), terminated, truncated & ~terminated,
                       infos.get("final_obs"))

    def end_rollout(self) -> RolloutEnd:
        final_obs = self._to_device(torch.cat(self._final_rows)) if self._final_rows else None
        self._final_rows = []
        return RolloutEnd(self._to_device(self._rewards), self._to_device(self._dones),
                          self._to_device(self._time_limits), final_obs)

    def _to_device(self, array) -> torch.Tensor:
        """A numpy array (or CPU tensor) on the env's device: a view on the CPU, else a
        blocking copy (resets and rollout ends, not per step)."""
        tensor = torch.from_numpy(array) if isinstance(array, np.ndarray) else array
        return tensor if self._on_cpu else tensor.to(self.device)

    def _rows_to_device(self, rows: np.ndarray) -> torch.Tensor:
        """One step's rows on the device: copied into the pinned staging buffer, then one
        non-blocking host-to-device copy into a fresh tensor (the loop still reads the last
        step's). The staging buffer is rewritten only at the next step, after the actions
        computed from these rows came back to the host, which waits for this copy."""
        if self._staging is None:
            return torch.from_numpy(rows).to(self.device)
        np.copyto(self._staging.numpy(), rows)
        return self._staging.to(self.device, non_blocking=True)

    def dones(self) -> torch.Tensor:
        return self._to_device(self._dones[self._t].copy())  # a copy: the row is rewritten next rollout

    def last_step(self) -> tuple:
        return self._last

    def episode_stats(self) -> tuple:
        return self.stats.mean_return, self.stats.episodes

    def state_arrays(self) -> dict:
        """`episodes/recent`, `episodes/count` (pipelines.episodes) and the normalization
        statistics (pipelines.normalize); the episodes under way are not kept."""
        state = {f"episodes/{name}": value for name, value in self.stats.state_arrays().items()}
        if self.normalizer is not None:
            state.update(self.normalizer.arrays())
        return state

    def restore(self, state: dict, reset_seed: int) -> torch.Tensor:
        if self.normalizer is not None:  # before the reset, whose observations it sees
            self.normalizer.load(state)
        obs = self.reset(reset_seed)
        self.stats.restore({name.removeprefix("episodes/"): value for name, value in state.items()
                            if name.startswith("episodes/")})
        return obs

    def freeze_normalization(self, state: dict) -> None:
        if self.normalizer is not None:
            self.normalizer.freeze(state)

    def _step_envs(self, actions: np.ndarray):
        """SyncVectorEnv.step with same-step autoreset, for flat Box rows: each env steps on
        its row of `actions`, and an env whose episode ended is reset at once, its final
        observation kept in `infos["final_obs"]` (an object array, as gymnasium's). Returns
        (rows `(num_envs, width)`, rewards float64, terminated, truncated, infos). The same
        single envs and wrappers as the vector env, so the same episodes; without its
        per-step bookkeeping (info dicts merged per env, `concatenate`, a deepcopy of the
        batch), which costs about as much as CartPole's own steps."""
        n = self.num_envs
        rows = np.empty((n, self.obs_width), dtype=self._row_dtype)
        rewards = np.empty(n)
        terminated = np.empty(n, dtype=bool)
        truncated = np.empty(n, dtype=bool)
        final_obs = None
        for i, env in enumerate(self._single_envs):
            obs, rewards[i], terminated[i], truncated[i], _ = env.step(actions[i])
            if terminated[i] or truncated[i]:
                if final_obs is None:
                    final_obs = np.full(n, None, dtype=object)
                final_obs[i] = obs
                obs, _ = env.reset()
            rows[i] = np.asarray(obs).reshape(-1)
        return rows, rewards, terminated, truncated, {} if final_obs is None else {"final_obs": final_obs}

    def _pack_final(self, final_obs, envs: np.ndarray) -> torch.Tensor:
        """The final observations of `envs` (an object array entry per env) as packed rows."""
        from gymnasium.vector.utils import concatenate, create_empty_array

        items = [final_obs[i] for i in envs]
        batch = concatenate(self.observation_space, items, create_empty_array(self.observation_space, len(items)))
        rows = self._pack(batch, len(items))
        if self.normalizer is not None:
            rows = self.normalizer.final_observations(rows)
        return torch.from_numpy(rows)

    def close(self) -> None:
        self.env.close()
