"""A run trained with observation and reward normalization, played back on every backend:
train, evaluate and record a video (the saved statistics, frozen, on each path)."""
import math

import numpy as np
import pytest

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

pytest.importorskip("gymnasium")
pytest.importorskip("pygame")

SHORT = dict(total_steps=64, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1)
PENDULUM_STEPS = 200  # Pendulum-v1's time limit: every episode lasts this long


def _needs(backend):
    pytest.importorskip("torch" if backend != "jax" else "jax")
    if backend != "torch":
        pytest.importorskip("jax")
        pytest.importorskip("gymnax")


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_normalized_run_trains_evaluates_and_records_a_video(backend, tmp_path):
    _needs(backend)
    config = TrainConfig.for_env("Pendulum-v1", backend, **SHORT)
    assert config.norm_obs and config.norm_reward  # the continuous-control preset normalizes
    pipeline = load_pipeline(backend)
    run_dir = tmp_path / "run"
    pipeline.train(config, MemoryLogger(run_dir))

    mean_return = pipeline.evaluate(run_dir, episodes=2, seed=3)
    # Pendulum's reward is in [-16.3, 0] per step: a return is finite and in that range times 200.
    assert math.isfinite(mean_return) and -16.3 * PENDULUM_STEPS <= mean_return <= 0.0
    out = pipeline.record_video(run_dir, tmp_path / "pendulum.gif", episodes=1, seed=3)
    assert out["frames"] == PENDULUM_STEPS + 1 and len(out["returns"]) == 1
    assert (tmp_path / "pendulum.gif").stat().st_size > 0
    if backend == "torch":
        # Two paths over the same seed (the vector env's first env and the video's single
        # env), the same frozen statistics and the greedy policy: the same episode.
        alone = pipeline.evaluate(run_dir, episodes=1, seed=3)
        np.testing.assert_allclose(out["returns"][0], alone, rtol=1e-5)
