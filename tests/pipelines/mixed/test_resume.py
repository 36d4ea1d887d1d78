"""Resuming the mixed pipeline continues the run bit for bit: the checkpoint holds the torch
learner (weights, Adam, the sampling generator) and the env's JAX state (env states, PRNG key,
observation, episode statistics), saved between rollouts."""
import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("gymnax")

from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.mixed import ppo as mixed_ppo  # noqa: E402

from ..resuming import assert_seamless, differing, groups, interrupt, resume  # noqa: E402


def test_interrupted_then_resumed_equals_the_uninterrupted_run(tmp_path):
    config = TrainConfig(backend="mixed", total_steps=2048, seed=5)
    full = MemoryLogger(tmp_path / "full")
    mixed_ppo.train(config, full)
    first = interrupt(mixed_ppo.train, config, tmp_path / "cut", 1024)
    resumed = resume(mixed_ppo.train, config, tmp_path / "cut")
    assert_seamless(first.records, resumed.records, 512)
    names = groups(tmp_path / "full")
    assert any(n.startswith("state/env/state/") for n in names) and "state/generator" in names
    assert differing(groups(tmp_path / "cut"), names) == []
    # The curve is the uninterrupted run's, times aside.
    for key in ("mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl"):
        assert [r[key] for r in first.records + resumed.records] == [r[key] for r in full.records], key
