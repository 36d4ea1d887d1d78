"""Presets and targets: TrainConfig's defaults < the env's preset < what the user sets."""
import dataclasses

import pytest

from puffer_backend.pipelines import TrainConfig, presets

gym = pytest.importorskip("gymnasium")


def test_continuous_control_preset_is_cleanrl_ppo_continuous_action():
    config = TrainConfig.for_env("Pendulum-v1", "jax")
    # CleanRL's ppo_continuous_action.py Args, field by field.
    cleanrl = dict(total_steps=1_000_000, learning_rate=3e-4, num_envs=1, num_steps=2048, anneal_lr=True, gamma=0.99,
                   gae_lambda=0.95, num_minibatches=32, update_epochs=10, norm_adv=True, clip_coef=0.2, clip_vloss=True,
                   ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, norm_obs=True, norm_reward=True)
    assert {k: getattr(config, k) for k in cleanrl} == cleanrl
    assert config.target_return is None  # Pendulum has no reward_threshold
    assert presets.preset_name("HalfCheetah-v5") == presets.preset_name("Reacher-misc") == "continuous control"
    assert presets.preset_name("CartPole-v1") is None and presets.preset_name("pkg.mod:make") is None


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
                                    "Pendulum-v1", "Blackjack-v1", "Breakout-MinAtar", "pkg.mod:make_env"])
def test_targets_are_gymnasium_reward_thresholds(env_id):
    spec = gym.registry.get(env_id)
    want = None if spec is None else spec.reward_threshold
    assert presets.env_target(env_id) == want
    assert TrainConfig.for_env(env_id, "torch").target_return == want


def test_layers_defaults_then_preset_then_fields():
    defaults = TrainConfig()
    cartpole = TrainConfig.for_env("CartPole-v1", "mixed")
    assert dataclasses.replace(cartpole, target_return=None) == defaults  # only the target differs
    assert cartpole.target_return == 475.0
    # A user's field wins over the preset, including a target of None (no early stop).
    config = TrainConfig.for_env("Pendulum-v1", "torch", num_envs=8, learning_rate=1e-3, target_return=None)
    assert (config.num_envs, config.learning_rate, config.num_steps, config.norm_obs) == (8, 1e-3, 2048, True)
    assert TrainConfig.for_env("CartPole-v1", "jax", target_return=None).target_return is None
    # The env and backend always come from the arguments.
    assert (config.env_id, config.backend) == ("Pendulum-v1", "torch")


def test_for_env_validates_and_names_unknown_fields():
    with pytest.raises(ValueError, match="fields: expected TrainConfig fields, received 'lr'"):
        TrainConfig.for_env("CartPole-v1", "torch", lr=0.1)
    with pytest.raises(ValueError, match=r"config.num_minibatches: expected a divisor of the batch size 4096"):
        TrainConfig.for_env("Pendulum-v1", "torch", num_envs=2, num_minibatches=3)
    with pytest.raises(ValueError, match="config.vec: expected 'sync' for backend jax"):
        TrainConfig.for_env("CartPole-v1", "jax", vec="async")
    with pytest.raises(ValueError, match="config.vec: expected one of"):
        TrainConfig.for_env("CartPole-v1", "torch", vec="threads")
    with pytest.raises(ValueError, match="config.norm_obs: expected a bool"):
        TrainConfig.for_env("CartPole-v1", "torch", norm_obs="yes")
