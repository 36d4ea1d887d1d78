"""The mixed pipeline: gymnax env under jit, torch policy, zero-copy exchange."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("gymnax")

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.mixed import ppo as mixed_ppo  # noqa: E402
from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv  # noqa: E402


def test_observations_are_zero_copy_views():
    env = GymnaxTorchEnv("CartPole-v1", 4, 8)
    obs = env.reset(0)
    assert obs.data_ptr() == env.last_obs.unsafe_buffer_pointer()
    obs = env.step(0, torch.ones(4, dtype=torch.int32))
    assert obs.data_ptr() == env.last_obs.unsafe_buffer_pointer()
    assert obs.shape == (4, 4) and obs.dtype == torch.float32


def test_rollout_bookkeeping_matches_a_numpy_recount():
    """Rewards, dones (CleanRL's convention) and the recent-return ring buffer kept inside the
    jitted step agree with episode returns recounted in numpy from the rollouts."""
    envs, steps = 3, 40
    env = GymnaxTorchEnv("CartPole-v1", envs, steps)
    env.reset(1)
    gen = torch.Generator().manual_seed(0)
    running, finished = np.zeros(envs), []
    previous_done = np.zeros(envs, bool)
    for _ in range(6):  # enough rollouts for more than 20 finished episodes under random actions
        for t in range(steps):
            env.step(t, torch.randint(0, 2, (envs,), generator=gen, dtype=torch.int32))
        rewards, dones, next_done = (x.numpy() for x in env.end_rollout())
        np.testing.assert_array_equal(dones[0], previous_done)
        step_done = np.concatenate([dones[1:], next_done[None]]).astype(bool)  # done after step t
        for t in range(steps):
            running += rewards[t]
            for e in np.flatnonzero(step_done[t]):
                finished.append(running[e])
                running[e] = 0.0
        previous_done = next_done.astype(bool)
    assert env.episodes() == len(finished) > 20
    assert env.mean_return() == pytest.approx(np.mean(finished[-20:]), rel=1e-6)


def test_cartpole_smoke_and_evaluate(tmp_path):
    config = TrainConfig(backend="mixed", total_steps=2048, seed=0)
    logger = MemoryLogger(tmp_path)
    summary = mixed_ppo.train(config, logger)
    assert summary["steps"] == 2048 and len(logger.records) == 4
    for record in logger.records:
        assert set(METRIC_KEYS) <= set(record)
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps", "mean_return"):
            assert math.isfinite(record[key]), (key, record)
    assert (tmp_path / "checkpoint.pt").is_file()
    score = mixed_ppo.evaluate(tmp_path, episodes=4, seed=3)
    assert 8 <= score <= 500


def test_cartpole_learns_something(tmp_path):
    """Regression guard: a random policy averages ~22; 20k steps of PPO give well above 45."""
    logger = MemoryLogger(tmp_path)
    mixed_ppo.train(TrainConfig(backend="mixed", total_steps=20_480, seed=0), logger)
    assert logger.records[-1]["mean_return"] > 45


def test_pendulum_smoke(tmp_path):
    config = TrainConfig(backend="mixed", env_id="Pendulum-v1", total_steps=1024)
    logger = MemoryLogger(tmp_path)
    mixed_ppo.train(config, logger)
    assert all(math.isfinite(r["value_loss"]) for r in logger.records)
    assert -2000 < mixed_ppo.evaluate(tmp_path, episodes=2) < 0


def test_unknown_env_names_env_id(tmp_path):
    with pytest.raises(ValueError, match="env_id"):
        mixed_ppo.train(TrainConfig(backend="mixed", env_id="Blackjack-v1"), MemoryLogger(tmp_path))
