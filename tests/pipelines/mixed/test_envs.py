"""The mixed pipeline on gymnax envs beyond CartPole: an image-like MinAtar observation, a
user's gymnax factory, continuous control with its preset (normalization in the jitted step),
an env refused with one line."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("gymnax")

from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.mixed import ppo  # noqa: E402
from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv  # noqa: E402
from puffer_backend.pipelines.normalize import Normalizer  # noqa: E402

SHORT = dict(total_steps=128, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1)


@pytest.mark.parametrize("env_id", ["Breakout-MinAtar", "tests.pipelines.envs.toy_envs:make_gymnax_cartpole",
                                    "Pendulum-v1"])
def test_trains_and_evaluates(env_id, tmp_path):
    config = TrainConfig.for_env(env_id, "mixed", **SHORT)
    logger = MemoryLogger(tmp_path)
    summary = ppo.train(config, logger)
    assert summary["steps"] == 128 and len(logger.records) == 2
    assert np.isfinite(ppo.evaluate(tmp_path, episodes=2))
    _, checkpoint = load_checkpoint(tmp_path)
    if env_id == "Breakout-MinAtar":
        # The rows keep MinAtar's (10, 10, 4) shape in their layout: network "auto" puts the
        # MinAtar CNN (16 3x3 filters, 8 x 8 x 16 features) before the MLPs.
        assert checkpoint.params["encoders.0.convs.0.weight"].shape == (16, 4, 3, 3)
        assert checkpoint.params["actor.0.weight"].shape == (64, 1024)
    assert ("obs_rms/mean" in checkpoint.state) == ("return_rms/var" in checkpoint.state) == config.norm_obs


def test_refused_env_names_env_id(tmp_path):
    with pytest.raises(ValueError, match=r"^env_id: expected a gymnax id \(one of .*received 'Blackjack-v1'$"):
        ppo.train(TrainConfig(backend="mixed", env_id="Blackjack-v1", **SHORT), MemoryLogger(tmp_path))


def test_normalized_step_equals_the_normalizer_on_the_raw_stream():
    """The jitted step's normalized observations, final observations and rewards are the numpy
    Normalizer's output on the same env's raw stream (float32 against float64 statistics)."""
    envs, steps, gamma = 3, 210, 0.9
    normed = GymnaxTorchEnv("Pendulum-v1", envs, steps, norm_obs=True, norm_reward=True, gamma=gamma)
    raw = GymnaxTorchEnv("Pendulum-v1", envs, steps)
    ours = Normalizer((3,), envs, gamma, norm_reward=True)
    np.testing.assert_allclose(normed.reset(2).numpy(), ours.observations(raw.reset(2).numpy().copy()), rtol=1e-4,
                               atol=1e-5)
    gen = torch.Generator().manual_seed(0)
    statistics_at = []  # final observations are normalized with the statistics of their step
    for t in range(steps):
        action = torch.rand(envs, 1, generator=gen) * 4 - 2
        normed.step(t, action)
        raw.step(t, action)
        got = normed.observation().numpy().copy()
        want = ours.observations(raw.observation().numpy().copy())
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        statistics_at.append(copy.deepcopy(ours))
    got_end, raw_end = normed.end_rollout(), raw.end_rollout()
    np.testing.assert_array_equal(got_end.dones, raw_end.dones)
    want_rewards = np.stack([ours_reward for ours_reward in _replay_rewards(raw_end.rewards.numpy(), gamma)])
    np.testing.assert_allclose(got_end.rewards.numpy(), want_rewards, rtol=1e-4, atol=1e-5)
    (normed_mean, normed_episodes), (raw_mean, raw_episodes) = normed.episode_stats(), raw.episode_stats()
    assert normed_episodes == raw_episodes == envs  # the statistics see the env's own rewards
    assert normed_mean == pytest.approx(raw_mean)
    steps_cut, _ = got_end.time_limits.nonzero(as_tuple=True)
    assert steps_cut.tolist() == [199] * envs  # the 200th step: final observations normalized too
    np.testing.assert_allclose(got_end.final_obs.numpy(),
                               statistics_at[199].final_observations(raw_end.final_obs.numpy()), rtol=1e-4, atol=1e-4)


def _replay_rewards(rewards, gamma):
    ours = Normalizer(None, rewards.shape[1], gamma, norm_reward=True)
    for row in rewards:
        yield ours.rewards(row, np.zeros(row.shape, bool))
