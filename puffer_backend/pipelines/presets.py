"""Hyperparameters that fit the env: per-env presets and each env's target return.

The layers of a run's settings, lowest first:
    TrainConfig's defaults (CleanRL's ppo.py: CartPole)
    < the env's preset (`preset(env_id, backend)`: this module)
    < whatever the user sets (a config file, `--set`, flags; or keyword arguments in Python).
`TrainConfig.for_env(env_id, backend, **fields)` applies them in that order; a layer that
sets a field wins over the layers below it, including the preset's `target_return` (set it
to None to run all steps).

A preset is:
- for continuous control (Box actions: Pendulum, MountainCarContinuous, the MuJoCo and Box2D
  ones, gymnax's Pendulum, Reacher, Swimmer, PointRobot), CleanRL's ppo_continuous_action.py:
  1 env x 2048 steps, 32 minibatches, 10 epochs, Adam 3e-4 (annealed), no entropy bonus,
  observation and reward normalization (pipelines.normalize), 1M steps;
- for every env with a `reward_threshold` in gymnasium's registry (gymnax ids too, by the
  same id: CartPole-v1 475, Acrobot-v1 -100, MountainCar-v0 -110, ...): `target_return`, so
  that a run stops once it is reached (pipelines.episodes.target_reached).
Envs without either (MinAtar, users' factories) keep TrainConfig's defaults.
Framework-free (gymnasium's registry is read when installed; it imports neither torch nor JAX).
"""
from __future__ import annotations

import re

__all__ = ["CONTINUOUS_CONTROL", "CONTINUOUS_ENVS", "preset", "preset_name", "env_target"]

# CleanRL's ppo_continuous_action.py where it differs from TrainConfig's defaults (its gamma,
# GAE lambda, clip, value and grad-norm coefficients are the defaults' values).
CONTINUOUS_CONTROL = {
    "total_steps": 1_000_000,
    "num_envs": 1,
    "num_steps": 2048,
    "num_minibatches": 32,
    "update_epochs": 10,
    "learning_rate": 3e-4,
    "ent_coef": 0.0,
    "norm_obs": True,
    "norm_reward": True,
}

# Env names (the id without its version) whose actions are a Box.
CONTINUOUS_ENVS = frozenset({
    # gymnasium classic control and Box2D
    "Pendulum", "MountainCarContinuous", "LunarLanderContinuous", "BipedalWalker", "BipedalWalkerHardcore",
    # gymnasium MuJoCo
    "Ant", "HalfCheetah", "Hopper", "Humanoid", "HumanoidStandup", "InvertedDoublePendulum", "InvertedPendulum",
    "Pusher", "Reacher", "Swimmer", "Walker2d",
    # gymnax (ids without a version)
    "PointRobot-misc", "Reacher-misc", "Swimmer-misc",
})

_VERSION = re.compile(r"-v\d+$")


def preset_name(env_id: str) -> str | None:
    """"continuous control" for a Box-action env this module knows, else None."""
    name = _VERSION.sub("", env_id.rsplit("/", 1)[-1]) if isinstance(env_id, str) else None
    return "continuous control" if name in CONTINUOUS_ENVS else None


def env_target(env_id: str) -> float | None:
    """The env's `reward_threshold` in gymnasium's registry (gymnax ids by the same id), or
    None: no threshold, an id gymnasium does not know, a user's factory, or no gymnasium."""
    if not isinstance(env_id, str) or ":" in env_id:
        return None
    try:
        import gymnasium
    except ImportError:
        return None
    spec = gymnasium.registry.get(env_id)
    threshold = getattr(spec, "reward_threshold", None)
    return float(threshold) if threshold is not None else None


def preset(env_id: str, backend: str = "mixed") -> dict:
    """The TrainConfig fields that `env_id`'s preset sets (the same for every backend today;
    `backend` is there for presets that would differ); {} for an env without one."""
    fields = dict(CONTINUOUS_CONTROL) if preset_name(env_id) else {}
    target = env_target(env_id)
    if target is not None:
        fields["target_return"] = target
    return fields
