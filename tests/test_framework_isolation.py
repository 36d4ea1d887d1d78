"""Each backend loads only its own framework: `torch_impl` and the torch pipeline run with JAX
blocked, `jax_impl` and the jax pipeline with torch blocked, and the command's argument checks
and the pipelines' shared rules with both blocked (as tests/spec/test_no_frameworks.py does for
the spec layer)."""
import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None
    sys.meta_path.insert(0, Block())
""")


def run(blocked: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code), blocked], capture_output=True,
                          text=True, timeout=300)


def _ok(result):
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok"), result.stdout


def test_torch_impl_loads_no_jax():
    pytest.importorskip("torch")
    _ok(run("jax,jaxlib,flax,gymnax,optax", """
        import torch
        from puffer_backend import torch_impl
        action, logprob, entropy = torch_impl.sample_logits(torch.zeros(4, 3))
        assert action.shape == (4,) and logprob.shape == (4,)
        assert not {m for m in sys.modules if m.split(".")[0] in BLOCKED}
        print("ok")
    """))


def test_jax_impl_loads_no_torch():
    pytest.importorskip("jax")
    _ok(run("torch,gymnasium", """
        import jax, jax.numpy as jnp
        from puffer_backend import jax_impl
        action, logprob, entropy = jax_impl.sample_logits(jax.random.PRNGKey(0), jnp.zeros((4, 3)))
        assert action.shape == (4,) and logprob.shape == (4,)
        assert not {m for m in sys.modules if m.split(".")[0] in BLOCKED}
        print("ok")
    """))


def test_torch_pipeline_trains_without_jax():
    pytest.importorskip("torch")
    pytest.importorskip("gymnasium")
    _ok(run("jax,jaxlib,flax,gymnax,optax", """
        import tempfile
        from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline
        with tempfile.TemporaryDirectory() as run_dir:
            summary = load_pipeline("torch").train(TrainConfig(backend="torch", total_steps=512), MemoryLogger(run_dir))
        assert summary["steps"] == 512
        print("ok")
    """))


def test_jax_pipeline_builds_without_torch():
    pytest.importorskip("jax")
    pytest.importorskip("gymnax")
    pytest.importorskip("optax")
    # gymnasium stays: gymnax itself imports it.
    _ok(run("torch", """
        from puffer_backend.pipelines import TrainConfig, load_pipeline
        program = load_pipeline("jax").make_program(TrainConfig(backend="jax", total_steps=512))
        assert program.num_updates == 1
        print("ok")
    """))


def test_shared_rules_and_the_command_load_no_framework():
    _ok(run("torch,jax,jaxlib,flax,gymnasium,gymnax,optax", """
        import numpy as np
        from puffer_backend.cli import build_parser
        from puffer_backend.cli import runs, progress, plots, train, evaluate, compare
        from puffer_backend.pipelines import checkpoint, config, config_file, episodes, gae, interrupt, metrics, resume
        stats = episodes.EpisodeStats(2)
        stats.add(np.ones(2), np.array([True, False]))
        adv = gae.gae_numpy(np.ones((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.zeros(2), 0.9, 0.9)
        assert stats.episodes == 1 and adv.shape == (3, 2)
        build_parser().parse_args(["train", "--backend", "jax"])
        print("ok")
    """))


def test_tensorboard_logging_loads_no_framework():
    """`--logger tensorboard` works for the jax backend without torch (and for torch without JAX)."""
    pytest.importorskip("tensorboard")
    _ok(run("torch,jax,jaxlib,tensorflow", """
        import tempfile
        from pathlib import Path
        from puffer_backend.cli.runs import RunLogger
        with tempfile.TemporaryDirectory() as run_dir:
            with RunLogger(run_dir, tensorboard=True) as logger:
                logger.record(512, mean_return=1.0, sps=10.0)
            assert len(list(Path(run_dir).glob("events.out.tfevents.*"))) == 1
        assert not {m for m in sys.modules if m.split(".")[0] in BLOCKED}
        print("ok")
    """))


def test_blocker_really_blocks():
    # Guards the tests above: a broken blocker would let them pass vacuously.
    result = run("torch", "import torch")
    assert result.returncode != 0 and "blocked for this test" in result.stderr
