"""Each JAX simulator family trains and evaluates on the jax and mixed backends (a few steps:
the compile dominates), through the Python API and the command."""
import json

import numpy as np
import pytest

pytest.importorskip("jax")

from puffer_backend.pipelines import MemoryLogger, load_pipeline  # noqa: E402
from puffer_backend.pipelines.config import TrainConfig  # noqa: E402
from puffer_backend.pipelines.envs.families import FAMILIES  # noqa: E402

# The smallest env of each family (compile time grows with the simulator).
ENVS = {"playground": "playground/CartpoleBalance", "brax": "brax/inverted_pendulum", "jumanji": "jumanji/Snake-v1",
        "navix": "navix/Navix-Empty-5x5-v0", "craftax": "craftax/Craftax-Classic-Symbolic-v1"}
HEAVY = {"playground", "brax", "craftax"}


def _installed(family):
    import importlib.util

    return importlib.util.find_spec(FAMILIES[family][0]) is not None


def _cases():
    for family, env_id in ENVS.items():
        for backend in ("jax", "mixed"):
            marks = [pytest.mark.skipif(not _installed(family), reason=f"{family} is not installed")]
            if family in HEAVY:
                marks.append(pytest.mark.heavy)
            yield pytest.param(env_id, backend, marks=marks, id=f"{backend}-{family}")


@pytest.mark.parametrize("env_id,backend", list(_cases()))
def test_family_trains_and_evaluates(env_id, backend, tmp_path):
    config = TrainConfig(backend=backend, env_id=env_id, num_envs=2, num_steps=8, total_steps=32, num_minibatches=2,
                         update_epochs=1)
    logger = MemoryLogger(tmp_path)
    pipeline = load_pipeline(backend)
    summary = pipeline.train(config, logger)
    assert summary["steps"] == 32 and len(logger.records) == 2
    losses = [value for record in logger.records for key, value in record.items() if key.endswith("loss")]
    assert losses and np.isfinite(losses).all()
    if backend == "mixed" or env_id.partition("/")[0] not in HEAVY:
        # jax's evaluation is one more compiled program, run for a whole time limit (craftax:
        # 10,000 steps): the light families and mixed cover it.
        assert np.isfinite(pipeline.evaluate(tmp_path, episodes=2))


def test_the_command_trains_a_family_env(tmp_path):
    from puffer_backend.cli import main

    assert main(["train", "--backend", "jax", "--env", "navix/Navix-Empty-5x5-v0", "--steps", "64", "--num-envs", "2",
                 "--set", "num_steps=16", "--out", str(tmp_path), "--name", "run", "--quiet"]) in (0, None)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["env_id"] == "navix/Navix-Empty-5x5-v0"
    assert main(["eval", str(tmp_path / "run"), "--episodes", "2"]) in (0, None)


def test_a_family_run_resumes_bit_for_bit(tmp_path):
    """jumanji Snake (named-tuple observations, an action mask) on mixed: the checkpoint holds
    the adapter's state (jumanji's state, step count, truncation flag) and the run continues
    exactly."""
    from puffer_backend.pipelines.mixed import ppo as mixed_ppo

    from .resuming import differing, groups, interrupt, resume

    config = TrainConfig(backend="mixed", env_id="jumanji/Snake-v1", num_envs=4, num_steps=16, total_steps=256,
                         num_minibatches=2, update_epochs=1, seed=3)
    full = MemoryLogger(tmp_path / "full")
    mixed_ppo.train(config, full)
    first = interrupt(mixed_ppo.train, config, tmp_path / "cut", 128)
    resumed = resume(mixed_ppo.train, config, tmp_path / "cut")
    names = groups(tmp_path / "full")
    assert any(n.startswith("state/env/state/inner/") for n in names)
    assert differing(groups(tmp_path / "cut"), names) == []
    # Snake's mask forbids the walls and the body, so a masked policy rarely ends an episode
    # this early: the losses, the entropy and the KL carry the comparison.
    for key in ("mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl"):
        np.testing.assert_array_equal([r[key] for r in first.records + resumed.records],
                                      [r[key] for r in full.records], err_msg=key)
