"""The jax pipeline: short runs, the checkpoint, evaluation, PureJaxRL's make_train.

Each jitted program costs a compile of several seconds, so the runs are few and small.
"""
import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import Checkpoint, flatten_tree, load_checkpoint, save_checkpoint  # noqa: E402
from puffer_backend.pipelines.envs import gymnax_vec as gymnax_envs  # noqa: E402
from puffer_backend.pipelines.jax import policy as jax_policy, ppo as jax_ppo  # noqa: E402


def test_cartpole_train_records_checkpoint_and_evaluate(tmp_path):
    cfg = TrainConfig(backend="jax", total_steps=4 * 32 * 6, num_envs=4, num_steps=32, update_epochs=2,
                      num_minibatches=2, seed=1, extra={"chunk_updates": 3})
    logger = MemoryLogger(tmp_path / "run")
    summary = jax_ppo.train(cfg, logger)
    assert [r["step"] for r in logger.records] == [128 * (i + 1) for i in range(6)]  # 2 chunks of 3
    for r in logger.records:
        assert set(METRIC_KEYS) <= set(r)
        for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps"):
            assert math.isfinite(r[k]), (k, r)
        assert 0.0 < r["entropy"] <= math.log(2) + 1e-6
    # Random CartPole episodes last ~10-40 steps, so episodes finished within 768 steps.
    assert 5.0 < logger.records[-1]["mean_return"] < 200.0
    assert summary["steps"] == 768 and summary["sps"] > 0 and summary["compile_s"] > 0
    # Rows recorded after their chunk still get their own time, and sps counts training only.
    wall = [r["wall_time"] for r in logger.records]
    training = [r["step"] / r["sps"] for r in logger.records]
    assert all(b > a for a, b in zip(wall, wall[1:])) and all(b > a for a, b in zip(training, training[1:]))
    assert all(t <= w - summary["compile_s"] + 1e-6 for t, w in zip(training, wall))
    assert summary["steps"] / summary["sps"] == pytest.approx(training[-1], abs=0.5)
    assert [r["episodes"] for r in logger.records] == sorted(r["episodes"] for r in logger.records)
    assert logger.notes[0].startswith("compiling the jax program") and logger.notes[1].startswith("compiled in")
    config, checkpoint = load_checkpoint(tmp_path / "run", "jax")
    assert config == cfg and (checkpoint.step, checkpoint.update) == (768, 6)  # config.json: its only copy
    assert checkpoint.params["actor/0/kernel"].shape == (4, 64)
    assert int(checkpoint.state["update"]) == 6 and checkpoint.state["keys"].shape[0] == 1
    assert any(name.endswith("mu/actor/0/kernel") for name in checkpoint.optimizer)  # Adam's first moment
    first = jax_ppo.evaluate(tmp_path / "run", episodes=4, seed=0)
    assert 1.0 <= first <= 500.0
    assert jax_ppo.evaluate(tmp_path / "run", episodes=4, seed=0) == first  # greedy and seeded


def test_evaluate_constant_policy_and_missing_checkpoint(tmp_path):
    """A policy that always pushes right drops the pole in about 8-11 steps, whatever the start."""
    spec = gymnax_envs.make_env("CartPole-v1")
    params = jax_policy.init_params(jax.random.PRNGKey(0), spec)
    params["actor"]["2"]["kernel"] = jnp.zeros_like(params["actor"]["2"]["kernel"])
    params["actor"]["2"]["bias"] = jnp.array([0.0, 5.0])
    save_checkpoint(tmp_path, TrainConfig(backend="jax"), Checkpoint("jax", 0, 0, params=flatten_tree(params)))
    assert 7.0 <= jax_ppo.evaluate(tmp_path, episodes=16, seed=3) <= 12.0
    with pytest.raises(FileNotFoundError, match="checkpoint.npz"):
        jax_ppo.evaluate(tmp_path / "nothing")
    with pytest.raises(ValueError, match="episodes: expected a positive int"):
        jax_ppo.evaluate(tmp_path, episodes=0)


def test_pendulum_make_train_whole_run_continuous():
    cfg = TrainConfig(backend="jax", env_id="Pendulum-v1", total_steps=2 * 100 * 3, num_envs=2, num_steps=100,
                      update_epochs=1, num_minibatches=2)
    state, metrics = jax_ppo.make_train(cfg)(jax.random.PRNGKey(0))
    assert set(metrics) == {"mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"}
    assert ((metrics["clipfrac"] >= 0) & (metrics["clipfrac"] <= 1)).all()
    assert all(v.shape == (3,) for v in metrics.values())
    for k in ("policy_loss", "value_loss", "approx_kl"):
        assert np.isfinite(metrics[k]).all(), k
    # Normal entropy per dim is 0.5 + 0.5 log(2 pi) + log_std; log_std starts at 0 and moves slowly.
    np.testing.assert_allclose(metrics["entropy"], 0.5 + 0.5 * math.log(2 * math.pi), atol=0.05)
    # Pendulum returns are sums of 200 rewards in [-16.3, 0]; one episode ends per env at step 200 (update 2).
    assert np.isnan(metrics["mean_return"][0]) and -16.3 * 200 <= metrics["mean_return"][-1] <= 0.0
    assert int(state.update) == 3 and state.params["log_std"].shape == (1,)
