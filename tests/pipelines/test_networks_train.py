"""A few updates of the built-in CNN policy on MinAtar's (10, 10, 4) observations, through the
Python API, on the jax and mixed backends: the policy is the one pipelines.networks' rule picks
for the env's observation, and it trains and evaluates."""
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("gymnax")

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.networks import choose_encoders  # noqa: E402
from puffer_backend.spec import leaves  # noqa: E402

TINY = dict(env_id="Breakout-MinAtar", num_envs=4, num_steps=16, total_steps=128, num_minibatches=2, update_epochs=1)


def _mixed_layout_has_an_image() -> bool:
    """Whether the mixed env shows the torch agent MinAtar's image leaf (else its flat rows)."""
    from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv
    layout = GymnaxTorchEnv("Breakout-MinAtar", 1, 1).observation_layout
    return any(choose_encoders([leaf.shape for _, leaf in leaves(layout)], "auto"))


@pytest.mark.parametrize("backend", ["jax", "mixed"])
def test_minatar_trains_a_cnn(backend, tmp_path):
    config = TrainConfig(backend=backend, **TINY)
    assert config.network == "auto"
    pipeline = load_pipeline(backend)
    summary = pipeline.train(config, MemoryLogger(tmp_path))
    assert summary["steps"] == 128
    _, checkpoint = load_checkpoint(tmp_path)
    params = checkpoint.params
    if backend == "jax":
        assert params["cnn/0/conv0/kernel"].shape == (3, 3, 4, 16)  # one 3x3 conv, 4 -> 16 channels
        assert params["actor/0/kernel"].shape == (8 * 8 * 16, 64)
    elif _mixed_layout_has_an_image():
        assert params["encoders.0.convs.0.weight"].shape == (16, 4, 3, 3)
        assert params["actor.0.weight"].shape == (64, 8 * 8 * 16)
    else:  # flat rows: the rule gives the MLP
        assert params["actor.0.weight"].shape == (64, 400)
    assert all(np.isfinite(np.asarray(value)).all() for value in params.values())
    assert np.isfinite(pipeline.evaluate(tmp_path, episodes=2))
