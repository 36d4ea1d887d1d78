"""benchmarks/vector_adapter.py on tiny sizes: every implementation steps and is reported, and
the brax bridge the benchmark falls back on follows gymnax's interface."""
import numpy as np
import pytest

from .importing import import_benchmark


def test_gymnax_comparison_reports_both_implementations(capsys):
    pytest.importorskip("gymnax")
    module = import_benchmark("vector_adapter")
    assert module.main(["--cases", "gymnax", "--gymnax-envs", "CartPole-v1", "--sizes", "2",
                        "--steps", "3", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "cpu:" in out and "torch cpu capability:" in out and "command:" in out
    rows = {row["implementation"]: row for row in module.main.rows}
    assert set(rows) == {"ours", "gymnax GymnaxToVectorGymWrapper"}
    assert all(row["sps"] > 0 and row["compile_s"] > 0 and row["num_envs"] == 2 for row in rows.values())


@pytest.mark.heavy
def test_brax_torch_wrapper_and_ours_step_the_same_env():
    pytest.importorskip("brax")
    module = import_benchmark("vector_adapter")
    import jax
    import torch
    from brax import envs

    reset, step, _ = module.brax_torch_wrapper("inverted_pendulum", 2)
    assert tuple(reset().shape) == (2, 4)
    assert tuple(step(torch.zeros(2, 1)).shape) == (2, 4)
    # Our env's reset and step are brax's own (same key, same action).
    genv, built = module.brax_gymnax_env("inverted_pendulum")
    assert built == "make_env('brax/inverted_pendulum')"
    raw = envs.get_environment("inverted_pendulum")
    key = jax.random.PRNGKey(3)
    obs, state = genv.env.reset(key, genv.params)
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(raw.reset(key).obs))
    obs, state, reward, terminated, _ = genv.env.step_env(key, state, jax.numpy.array([0.5]), genv.params)
    expected = raw.step(raw.reset(key), jax.numpy.array([0.5]))
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(expected.obs))
    assert float(reward) == float(expected.reward) and bool(terminated) == bool(expected.done)
    assert not genv.env.is_truncated(state, genv.params) and int(state.time) == 1
