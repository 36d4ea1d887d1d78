"""The mixed pipeline: gymnax env under jit, torch policy, zero-copy exchange."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("gymnax")

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import CHECKPOINT_FILE  # noqa: E402
from puffer_backend.pipelines.mixed import ppo as mixed_ppo  # noqa: E402
from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv  # noqa: E402


def test_observations_are_zero_copy_views():
    env = GymnaxTorchEnv("CartPole-v1", 4, 8)
    obs = env.reset(0)
    assert obs.data_ptr() == env.last_obs.unsafe_buffer_pointer()
    env.step(0, torch.ones(4, dtype=torch.int64))  # as sampled: the env sends int32 to JAX
    obs = env.observation()
    assert obs.data_ptr() == env.last_obs.unsafe_buffer_pointer()
    assert obs.shape == (4, 4) and obs.dtype == torch.float32


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_actions_through_the_reused_buffer_step_as_fresh_views(env_id):
    """On the CPU each step copies its actions into one buffer that JAX reads in place; steps
    dispatched back to back (no observation read in between) still each see their own
    actions: the same rollout as with a fresh DLPack view per step (the path off the CPU)."""
    envs, steps = 3, 24
    buffered, fresh = GymnaxTorchEnv(env_id, envs, steps), GymnaxTorchEnv(env_id, envs, steps)
    with torch.inference_mode():  # as the loop resets; the steps below run outside it
        buffered.reset(5)
    fresh.reset(5)
    assert buffered._action_view.unsafe_buffer_pointer() == buffered._action_rows.data_ptr()
    fresh._action_rows = None
    gen = torch.Generator().manual_seed(3)
    for t in range(steps):
        action = (torch.randint(0, 2, (envs,), generator=gen) if env_id == "CartPole-v1"
                  else torch.rand(envs, 1, generator=gen) * 4 - 2)
        buffered.step(t, action)
        fresh.step(t, action)
    np.testing.assert_array_equal(buffered.observation().numpy(), fresh.observation().numpy())
    for got, want in zip(buffered.end_rollout()[:2], fresh.end_rollout()[:2]):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_restored_env_steps_without_compiling_again():
    """The state restored from a checkpoint's numpy arrays has the reset's array types (no
    weak-typed leaf), so the step compiled in warm_up serves the resumed run too."""
    env = GymnaxTorchEnv("Pendulum-v1", 2, 8, norm_obs=True, norm_reward=True)
    env.reset(0)
    env.warm_up()
    for t in range(8):
        env.step(t, torch.zeros(2, 1))
    env.end_rollout()
    resumed = GymnaxTorchEnv("Pendulum-v1", 2, 8, norm_obs=True, norm_reward=True)
    resumed.reset(1)
    resumed.warm_up()
    compiled = resumed._step._cache_size()
    resumed.restore(env.state_arrays(), reset_seed=1)
    for t in range(3):
        resumed.step(t, torch.zeros(2, 1))
    assert compiled == resumed._step._cache_size() == 1


def test_rollout_bookkeeping_matches_a_numpy_recount():
    """Rewards, dones (pipelines.gae's convention: the episode ended at step t) and the
    recent-return statistics kept inside the jitted step agree with episode returns
    recounted in numpy from the rollouts."""
    envs, steps = 3, 40
    env = GymnaxTorchEnv("CartPole-v1", envs, steps)
    env.reset(1)
    gen = torch.Generator().manual_seed(0)
    running, finished = np.zeros(envs), []
    for _ in range(6):  # enough rollouts for more than 20 finished episodes under random actions
        for t in range(steps):
            env.step(t, torch.randint(0, 2, (envs,), generator=gen))
        end = env.end_rollout()
        rewards, dones = end.rewards.numpy(), end.dones.numpy()
        assert not end.time_limits.any() and end.final_obs is None  # random play never lasts 500 steps
        for t in range(steps):
            running += rewards[t]
            for e in np.flatnonzero(dones[t]):
                finished.append(running[e])
                running[e] = 0.0
    mean_return, episodes = env.episode_stats()
    assert episodes == len(finished) > 20
    assert mean_return == pytest.approx(np.mean(finished[-20:]), rel=1e-6)


def test_time_limits_come_back_with_their_final_observation():
    """Pendulum's 200th step is a truncation of every env: the rollout that holds it marks
    (step, env) for each and hands the observation reached there, before the reset."""
    envs, steps = 3, 40
    env = GymnaxTorchEnv("Pendulum-v1", envs, steps)
    env.reset(2)
    action = torch.zeros(envs, 1)
    for rollout in range(5):
        observations = []
        for t in range(steps):
            env.step(t, action)
            observations.append(env.observation().clone())
        end = env.end_rollout()
        if rollout < 4:
            assert not end.time_limits.any() and not end.dones.any()
    step_index, env_index = end.time_limits.nonzero(as_tuple=True)
    assert step_index.tolist() == [39] * envs and env_index.tolist() == list(range(envs))
    assert end.dones[39].tolist() == [1.0] * envs and end.dones[:39].sum() == 0
    final = end.final_obs.numpy()
    np.testing.assert_allclose(np.hypot(final[:, 0], final[:, 1]), 1.0, atol=1e-5)  # (cos, sin, speed)
    assert not np.allclose(final, observations[39].numpy())  # what step 39 returned is the reset's


def test_cartpole_smoke_and_evaluate(tmp_path):
    config = TrainConfig(backend="mixed", total_steps=2048, seed=0)
    logger = MemoryLogger(tmp_path)
    summary = mixed_ppo.train(config, logger)
    assert summary["steps"] == 2048 and len(logger.records) == 4
    for record in logger.records:
        assert set(METRIC_KEYS) <= set(record)
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps", "mean_return"):
            assert math.isfinite(record[key]), (key, record)
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    assert summary["compile_s"] > 0  # the jitted env, compiled before training
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


@pytest.mark.slow
def test_compile_is_warmed_up_and_timed_apart(tmp_path):
    logger = MemoryLogger(tmp_path)
    summary = mixed_ppo.train(TrainConfig(backend="mixed", total_steps=1024, compile=True), logger)
    assert summary["steps"] == 1024 and summary["compile_s"] > 0
    assert "torch policy" in logger.notes[0] and logger.notes[1].startswith("compiled in")
    assert all(math.isfinite(r["policy_loss"]) for r in logger.records)
