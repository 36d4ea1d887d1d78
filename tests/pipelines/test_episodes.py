"""The one episode-statistics rule: its numpy and JAX forms against a deque and against each
other on the same episode stream, and the target rule on rows."""
import collections
import math

import numpy as np
import pytest

from puffer_backend.pipelines.episodes import (RETURN_WINDOW, EpisodeStats, first_step_reaching,
                                               target_reached)


def _stream(seed, chunks=6, steps=16, envs=5, done_rate=0.1):
    rng = np.random.default_rng(seed)
    rewards = [rng.normal(size=(steps, envs)).astype(np.float32) for _ in range(chunks)]
    dones = [rng.random((steps, envs)) < done_rate for _ in range(chunks)]
    return rewards, dones


def _deque_means(reward_chunks, done_chunks, window):
    """Reference: a running return per env, a deque of the latest `window` completed returns."""
    running = np.zeros(reward_chunks[0].shape[1])
    recent = collections.deque(maxlen=window)
    means, counts, count = [], [], 0
    for rewards, dones in zip(reward_chunks, done_chunks):
        for r, d in zip(rewards, dones):
            running += r
            for env in np.flatnonzero(d):
                recent.append(running[env])
                running[env] = 0.0
                count += 1
        means.append(np.mean(recent) if recent else np.nan)
        counts.append(count)
    return means, counts


@pytest.mark.parametrize("done_rate", [0.02, 0.6])  # 0.6: far more than `window` episodes per chunk
def test_numpy_form_matches_a_deque(done_rate):
    rewards, dones = _stream(0, done_rate=done_rate)
    stats = EpisodeStats(5, 7)
    got = []
    for chunk_r, chunk_d in zip(rewards, dones):
        for r, d in zip(chunk_r, chunk_d):
            stats.add(r, d)
        got.append((stats.mean_return, stats.episodes))
    want_means, want_counts = _deque_means(rewards, dones, 7)
    np.testing.assert_allclose([g[0] for g in got], want_means, rtol=1e-6)
    assert [g[1] for g in got] == want_counts


@pytest.mark.parametrize("done_rate", [0.02, 0.6])
def test_jax_form_equals_numpy_form_on_the_same_stream(done_rate):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from puffer_backend.pipelines.episodes import jax_stats_init, jax_stats_mean, jax_stats_update

    rewards, dones = _stream(1, done_rate=done_rate)
    numpy_stats, jax_stats = EpisodeStats(5, 7), jax_stats_init(5, 7)
    update = jax.jit(jax_stats_update)
    for chunk_r, chunk_d in zip(rewards, dones):
        for r, d in zip(chunk_r, chunk_d):  # numpy: step by step, as the torch pipeline feeds it
            numpy_stats.add(r, d)
        jax_stats = update(jax_stats, jnp.asarray(chunk_r), jnp.asarray(chunk_d))  # JAX: a rollout at once
        assert int(jax_stats.count) == numpy_stats.episodes
        np.testing.assert_allclose(float(jax_stats_mean(jax_stats)), numpy_stats.mean_return, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(jax_stats.running), numpy_stats.running, rtol=1e-5, atol=1e-5)
    assert numpy_stats.episodes > 0


def test_nan_before_the_first_episode():
    stats = EpisodeStats(2)
    stats.add(np.ones(2), np.zeros(2, bool))
    assert math.isnan(stats.mean_return) and stats.episodes == 0 and not stats.target_reached(-1e9)
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from puffer_backend.pipelines.episodes import jax_stats_init, jax_stats_mean, jax_stats_update

    state = jax_stats_update(jax_stats_init(2, 20), jnp.ones((4, 2)), jnp.zeros((4, 2), bool))
    assert math.isnan(float(jax_stats_mean(state)))
    np.testing.assert_allclose(np.asarray(state.running), [4.0, 4.0])


@pytest.mark.parametrize("mean, episodes, target, reached", [
    (480.0, 20, 475.0, True), (475.0, 20, 475.0, True), (474.9, 20, 475.0, False),
    (500.0, 19, 475.0, False),  # a mean over fewer than 20 episodes decides nothing
    (math.nan, 100, 475.0, False), (500.0, 100, None, False), (None, 20, 1.0, False), (5.0, None, 1.0, False),
    (-150.0, 25.0, -200.0, True),
])
def test_target_rule(mean, episodes, target, reached):
    assert target_reached(mean, episodes, target) is reached


def test_numpy_stats_apply_the_rule():
    stats = EpisodeStats(1)
    for _ in range(RETURN_WINDOW - 1):
        stats.add(np.array([500.0]), np.array([True]))
    assert stats.mean_return == 500.0 and not stats.target_reached(475.0)
    stats.add(np.array([500.0]), np.array([True]))
    assert stats.target_reached(475.0)


def test_first_step_reaching_reads_rows():
    rows = [{"step": 512, "mean_return": 500.0, "episodes": 3},   # high, but over 3 episodes only
            {"step": 1024, "mean_return": 460.0, "episodes": 25},
            {"step": 1536, "mean_return": 480.0, "episodes": 40},
            {"step": 2048, "mean_return": 490.0, "episodes": 60}]
    assert first_step_reaching(rows, 475.0) == 1536
    assert first_step_reaching(rows, 495.0) is None
    assert first_step_reaching(rows, None) is None
    assert first_step_reaching([{"step": 1, "mean_return": 9.0}], 1.0) is None  # no episode count: not reached


def test_numpy_stats_continue_from_their_state_arrays():
    """A resumed torch run keeps the window and the count; episodes under way are dropped (its
    envs are reset), so the next episode's return counts from the resume."""
    rng = np.random.default_rng(3)
    stats = EpisodeStats(4)
    for _ in range(300):
        stats.add(rng.normal(size=4), rng.random(4) < 0.1)
    arrays = stats.state_arrays()
    resumed = EpisodeStats(4)
    resumed.restore({k: np.array(v) for k, v in arrays.items()})
    assert resumed.episodes == stats.episodes > RETURN_WINDOW
    assert resumed.recent == stats.recent and resumed.mean_return == stats.mean_return
    resumed.add(np.array([1.0, 2.0, 3.0, 4.0]), np.array([False, True, False, False]))
    assert resumed.recent[-1] == 2.0 and resumed.episodes == stats.episodes + 1
