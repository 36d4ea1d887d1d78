"""Several seeds in one vmapped jax program: seed s's rows and checkpoint are the single-seed
run's of seed s (the independent truth), at 2 and 8 seeds."""
import dataclasses

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")

from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.jax import ppo  # noqa: E402

# Chunks of 4 and 2 updates. The target: seed 0's single run reaches it in the first chunk
# and stops there, seed 7's only at the last update (a precondition the test checks).
CONFIG = TrainConfig(backend="jax", total_steps=8 * 16 * 6, num_envs=8, num_steps=16, update_epochs=1,
                     num_minibatches=2, target_return=18.5, extra={"chunk_updates": 4})
KEYS = ("mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")


def _rows(logger):
    return np.array([[r["step"]] + [r[k] for k in KEYS] for r in logger.records])


@pytest.fixture(scope="module")
def singles(tmp_path_factory):
    """{seed: (rows, summary, run folder)} of the single-seed runs of seeds 0 and 7: the truth."""
    out = {}
    for seed in (0, 7):
        logger = MemoryLogger(tmp_path_factory.mktemp("single") / f"s{seed}")
        summary = ppo.train(dataclasses.replace(CONFIG, seed=seed), logger)
        out[seed] = _rows(logger), summary, logger.run_dir
    return out


@pytest.mark.parametrize("seeds", [(7, 0), pytest.param(tuple(range(8)), marks=pytest.mark.heavy)])
def test_each_seed_trains_as_its_single_seed_run(tmp_path, seeds, singles):
    loggers = [MemoryLogger(tmp_path / f"s{s}") for s in seeds]
    summaries = ppo.train_seeds(CONFIG, seeds, loggers)
    assert len(summaries) == len(seeds) and all(s["seeds_in_program"] == len(seeds) for s in summaries)
    assert len(singles[0][0]) == 4 and len(singles[7][0]) == 6  # the precondition: one stops early
    for seed, (rows, truth, single_dir) in singles.items():
        index = seeds.index(seed)
        np.testing.assert_allclose(_rows(loggers[index]), rows, rtol=1e-4, atol=1e-5)
        assert summaries[index]["mean_return"] == pytest.approx(truth["mean_return"], rel=1e-5)
        assert summaries[index]["steps"] == truth["steps"]
        assert summaries[index]["steps_to_target"] == truth["steps_to_target"]
        config, vmapped = load_checkpoint(tmp_path / f"s{seed}", "jax")
        _, alone = load_checkpoint(single_dir, "jax")
        assert config.seed == seed and sorted(vmapped.params) == sorted(alone.params)
        assert (config.out_dir, config.run_name) == (str(tmp_path), f"s{seed}")  # where it is saved
        for name in alone.params:
            np.testing.assert_allclose(vmapped.params[name], alone.params[name], rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(vmapped.state["keys"], alone.state["keys"])  # the same PRNG path
    # Different seeds train differently.
    assert not np.allclose(_rows(loggers[0])[:4, 3], _rows(loggers[1])[:4, 3])  # policy losses


def test_bad_seeds_and_loggers(tmp_path):
    with pytest.raises(ValueError, match=r"loggers: expected one logger per seed \(2\), received 1 loggers"):
        ppo.train_seeds(CONFIG, [0, 1], [MemoryLogger(tmp_path / "a")])
    with pytest.raises(ValueError, match="seeds: expected each seed once, received 1 more than once"):
        ppo.train_seeds(CONFIG, [1, 1], [MemoryLogger(tmp_path / "a"), MemoryLogger(tmp_path / "b")])


@pytest.mark.heavy
def test_seeds_run_where_the_sharded_program_would_hang():
    """With several XLA:CPU devices, the sharded program under vmap hangs from 2 seeds on
    (0% CPU); train_seeds runs on one device: it finishes, in a subprocess with a timeout."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import tempfile, jax
        from puffer_backend.pipelines import MemoryLogger, TrainConfig
        from puffer_backend.pipelines.jax import ppo
        assert jax.device_count() == 2
        config = TrainConfig(backend="jax", total_steps=128, num_envs=4, num_steps=8, update_epochs=1,
                             num_minibatches=2)
        with tempfile.TemporaryDirectory() as out:
            summaries = ppo.train_seeds(config, [0, 1], [MemoryLogger(f"{out}/s{s}") for s in (0, 1)])
        print("steps", [s["steps"] for s in summaries])
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "steps [128, 128]" in done.stdout


class _CtrlCAtFirstRow(MemoryLogger):
    """Presses Ctrl-C (SIGINT to this process) when its first row arrives."""

    def record(self, step, **metrics):
        import os
        import signal

        if not self.records:
            os.kill(os.getpid(), signal.SIGINT)
        super().record(step, **metrics)


def test_ctrl_c_saves_every_seed_then_stops(tmp_path):
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a plain Python process
    try:
        loggers = [_CtrlCAtFirstRow(tmp_path / "s0"), MemoryLogger(tmp_path / "s7")]
        with pytest.raises(KeyboardInterrupt):
            ppo.train_seeds(dataclasses.replace(CONFIG, target_return=None), [0, 7], loggers)
    finally:
        signal.signal(signal.SIGINT, previous)
    for seed, logger in zip((0, 7), loggers):  # the first chunk (4 updates) ran and was saved, for both seeds
        assert len(logger.records) == 4
        config, checkpoint = load_checkpoint(tmp_path / f"s{seed}", "jax")
        assert config.seed == seed and (checkpoint.update, checkpoint.step) == (4, 4 * 128)


@pytest.mark.heavy
def test_purejaxrl_form_jit_vmap_make_train():
    """PureJaxRL's `jax.jit(jax.vmap(make_train(config)))(keys)`: seed s's metrics are
    make_train's of seed s alone."""
    import jax.numpy as jnp

    config = dataclasses.replace(CONFIG, target_return=None)
    _, together = jax.jit(jax.vmap(ppo.make_train(config)))(jnp.stack([jax.random.PRNGKey(s) for s in (0, 7)]))
    for i, seed in enumerate((0, 7)):
        _, alone = ppo.make_train(config)(jax.random.PRNGKey(seed))
        for name, values in alone.items():
            assert together[name].shape == (2, 6)
            np.testing.assert_allclose(together[name][i], values, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.heavy
def test_recurrent_seeds_train_as_their_single_seed_runs(tmp_path):
    config = dataclasses.replace(CONFIG, recurrent=True, target_return=None, total_steps=8 * 16 * 2)
    loggers = [MemoryLogger(tmp_path / f"s{s}") for s in (0, 1)]
    ppo.train_seeds(config, (0, 1), loggers)
    for seed, vmapped in zip((0, 1), loggers):
        alone = MemoryLogger(tmp_path / f"alone{seed}")
        ppo.train(dataclasses.replace(config, seed=seed), alone)
        np.testing.assert_allclose(_rows(vmapped), _rows(alone), rtol=1e-4, atol=1e-5)
