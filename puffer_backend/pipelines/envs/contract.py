"""The env contract of the torch learner's loop (pipelines.torch.loop): one rollout interface that
the gymnasium vector env (`gym_vec.GymVecEnv`, the torch pipeline) and the gymnax env stepped from
torch (`mixed.env.GymnaxTorchEnv`, the mixed pipeline) both implement, so that "mixed" is the
torch loop with a JAX env.

The env owns what only the env knows (PureJaxRL's `LogWrapper` idea):
- its episode statistics (pipelines.episodes, over the env's own rewards, before normalization);
- its normalization statistics (pipelines.normalize), when the run normalizes;
- the time-limit bootstrap's inputs, in one convention (pipelines.gae): `dones[t, e]` is 1.0
  where the episode ended at step t, terminated or truncated; `time_limits[t, e]` is True
  where it was truncated without terminating; `final_obs` holds the observation each of
  those steps reached before its auto-reset, in the row-major order of `time_limits`.
The loop owns the policy, the buffer and the update: it never looks inside an env.

Designed for what comes next: observations are rows of one sample dtype with a
`nativize_dtype` layout (flat Box, Dict, nested, pixels: PufferLib's emulation), actions come as
the sampler gives them (the env converts: int32 for JAX with x64 off, clipped Box actions),
and every tensor lives on the env's `device` (an env on a GPU hands device tensors across).

This module is framework-free: it states the contract; the envs implement it.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

__all__ = ["EnvStep", "RolloutEnd", "RolloutEnv"]


class EnvStep(NamedTuple):
    """One vectorized step, the shape every env family gives inside (numpy or JAX arrays).

    obs is already the next episode's first observation where an episode ended; final_obs is
    the observation the step reached before that reset (what a time limit is bootstrapped
    from). terminated: the MDP ended (no bootstrap); truncated: a time limit and not
    terminated. state: the env state after the step (JAX envs), else None.
    """
    obs: Any          # (num_envs, ...) next observations
    reward: Any       # (num_envs,) float32, the env's own
    terminated: Any   # (num_envs,) bool
    truncated: Any    # (num_envs,) bool, never where terminated
    final_obs: Any    # (num_envs, ...) or None where the family keeps them apart
    state: Any = None

    @property
    def done(self):
        return self.terminated | self.truncated


class RolloutEnd(NamedTuple):
    """What an env hands the loop after a rollout of `num_steps` steps (torch tensors on the
    env's device, valid until the next step).

    rewards: `(num_steps, num_envs)` float32, normalized when the run normalizes rewards.
    dones: `(num_steps, num_envs)` float32, 1.0 where the episode ended at step t.
    time_limits: `(num_steps, num_envs)` bool, True where step t hit a time limit without
        terminating.
    final_obs: `(k, width)` rows of the observations those k steps reached (row-major order of
        `time_limits`), normalized as observations are; None when k == 0.
    """
    rewards: Any
    dones: Any
    time_limits: Any
    final_obs: Any


class RolloutEnv(Protocol):
    """`num_envs` envs stepped on torch actions, `num_steps` steps a rollout.

    Attributes: num_envs, num_steps; observation_layout (what `torch_impl.nativize_tensor`
    needs to unpack a row), obs_width and obs_dtype (a row's elements and torch dtype: what
    the rollout buffer stores); action_spec (puffer_backend.spec); device (torch.device of
    every tensor); compiles (True when the first reset and step compile programs: the loop
    times them as compile time); restores_episodes (True when `restore` continues the episodes
    under way, False when it resets the envs).
    """
    num_envs: int
    num_steps: int
    observation_layout: Any
    obs_width: int
    obs_dtype: Any
    action_spec: Any
    device: Any
    compiles: bool
    restores_episodes: bool

    def reset(self, seed: int):
        """Reset every env (env i seeded from `seed`); returns the observation rows `(num_envs, width)`."""

    def warm_up(self) -> None:
        """Compile what the first step would (nothing for an env that does not compile),
        leaving the env's state as it is."""

    def step(self, t: int, action) -> None:
        """Step every env on `action` (as sampled: int64 indices or float32 vectors) as step `t`
        of the rollout (0 <= t < num_steps; t = 0 starts a new rollout); may return before the
        step is done."""

    def observation(self):
        """The observation rows after the latest step (waits for it)."""

    def end_rollout(self) -> RolloutEnd:
        """The rollout just taken (steps 0 .. num_steps - 1); folds its episodes into the statistics."""

    def dones(self):
        """The latest step's dones as a float32 tensor `(num_envs,)` on the device, 1.0 where an
        episode ended (what a recurrent policy's state is reset by; no host synchronization
        where the env has none)."""

    def last_step(self) -> tuple:
        """(the env's own rewards, dones) of the latest step as numpy `(num_envs,)`: for
        evaluation loops, which step `t = 0` over and over."""

    def episode_stats(self) -> tuple:
        """(mean_return, episodes) by pipelines.episodes' rule."""

    def state_arrays(self) -> dict:
        """Numpy arrays of everything the next rollouts depend on that the env can save
        (episode and normalization statistics; env states where the family can restore them),
        for the checkpoint's `state` group. Call between rollouts."""

    def restore(self, state: dict, reset_seed: int):
        """Continue from a checkpoint's `state` group (after `reset`); an env that cannot
        restore its episodes mid-way resets with `reset_seed`. Returns the observation rows."""

    def freeze_normalization(self, state: dict) -> None:
        """Use a checkpoint's normalization statistics, frozen (evaluation); call before `reset`."""

    def close(self) -> None:
        """Release the envs (worker processes, renderers)."""
