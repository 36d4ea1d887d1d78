"""`train --resume RUN`: what it refuses (one line, exit 2, before any framework import), and
real runs extended with a larger --steps: the same step count as an uninterrupted run, one
continuous metrics.csv (and TensorBoard curve), a summary of the whole run; for jax, the very
parameters of the uninterrupted run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from puffer_backend.cli import runs
from puffer_backend.pipelines import TrainConfig
from puffer_backend.pipelines.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

from .helpers import ROOT, assert_usage_error, run_cli
from .test_real_pipelines import _pipeline_ready

BLOCK_FRAMEWORKS = "import sys; sys.modules['torch'] = None; sys.modules['jax'] = None"


@pytest.fixture
def saved_run(tmp_path):
    """A run folder as a jax run leaves it after 4 updates of 512 steps (arrays are stand-ins:
    the command's checks read the config and the checkpoint's header only)."""
    run = tmp_path / "run"
    config = TrainConfig(backend="jax", total_steps=2048, seed=4, out_dir=str(tmp_path), run_name="run")
    save_checkpoint(run, config, Checkpoint("jax", 2048, 4, params={"w": np.zeros(3, np.float32)}))
    return run


@pytest.mark.parametrize("extra, fragments", [
    ([], ["--steps: expected at least 2560 to resume (the run has done 2048 steps, 4 updates of 512)",
          "received 2048"]),
    (["--steps", "4096", "--env", "Pendulum-v1"], ["--env: expected 'CartPole-v1', the value of the run being "
                                                   "resumed", "received 'Pendulum-v1'"]),
    (["--steps", "4096", "--backend", "torch"], ["--backend: expected 'jax'"]),
    (["--steps", "4096", "--num-envs", "8"], ["--num-envs: expected 4"]),
    (["--steps", "4096", "--set", "learning_rate=1e-3"], ["--set learning_rate: expected 0.00025",
                                                           "start a new run to change the rest"]),
    (["--steps", "4096", "--name", "other"], ["--name: expected no --name with --resume"]),
    (["--steps", "4096", "--out", "elsewhere"], ["--out: expected no --out with --resume"]),
])
def test_resume_refuses_what_it_cannot_continue(saved_run, extra, fragments):
    result = run_cli("train", "--resume", str(saved_run), *extra, prelude=BLOCK_FRAMEWORKS)
    assert_usage_error(result, *fragments)


def test_resume_needs_a_run_with_a_checkpoint(saved_run, tmp_path):
    result = run_cli("train", "--resume", str(tmp_path / "missing"), prelude=BLOCK_FRAMEWORKS)
    assert_usage_error(result, "--resume: expected a run folder, received", "no such folder")
    (saved_run / "checkpoint.npz").unlink()
    result = run_cli("train", "--resume", str(saved_run), "--steps", "4096", prelude=BLOCK_FRAMEWORKS)
    assert_usage_error(result, "--resume: expected a run folder holding checkpoint.npz",
                       "stopped before its first checkpoint")


def test_a_file_over_a_resumed_run_is_checked_the_same_way(saved_run, tmp_path):
    (tmp_path / "more.toml").write_text("total_steps = 4096\ngamma = 0.9\n")
    result = run_cli("train", "--resume", str(saved_run), "--config", str(tmp_path / "more.toml"),
                     prelude=BLOCK_FRAMEWORKS)
    assert_usage_error(result, f"{tmp_path / 'more.toml'}: gamma: expected 0.99, the value of the run being resumed")


def _train(*args, env=None):
    return subprocess.run([sys.executable, "-m", "puffer_backend", "train", "--progress", "plain", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}, **(env or {})})


def test_torch_run_extended_with_more_steps(tmp_path):
    """--steps 1024, then --resume with --steps 2048: four rows, times rising across the seam,
    episodes continuing, TensorBoard's curve the same as metrics.csv, summary of all 2048 steps."""
    if not _pipeline_ready("torch"):
        pytest.skip("the torch pipeline or its framework is not installed")
    pytest.importorskip("tensorboard")
    first = _train("--backend", "torch", "--steps", "1024", "--out", str(tmp_path), "--name", "r",
                   "--save-every", "1", "--logger", "tensorboard")
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "r"
    second = _train("--resume", str(run), "--steps", "2048")
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming torch on CartPole-v1 at step 1024 of 2048, seed 0 -> {run}" in second.stderr
    assert second.stdout.startswith("done: steps 2048 ")

    metrics = runs.read_metrics(run)
    assert metrics["step"] == [512.0, 1024.0, 1536.0, 2048.0]
    assert all(b > a for a, b in zip(metrics["wall_time"], metrics["wall_time"][1:]))
    assert all(b >= a for a, b in zip(metrics["episodes"], metrics["episodes"][1:]))
    summary = json.loads((run / runs.SUMMARY_FILE).read_text())
    assert summary["steps"] == 2048 and summary["episodes"] == metrics["episodes"][-1]
    assert summary["resumed_at"] == [1024]  # the resume point, marked on curve.png
    assert summary["wall_time"] >= metrics["wall_time"][-1] and summary["sps"] > 0
    assert load_checkpoint(run, "torch")[0].total_steps == 2048  # config.json follows the resumed run

    from .test_tensorboard import assert_events_match_metrics

    assert_events_match_metrics(run)  # the resumed run kept --logger tensorboard from config.json


@pytest.mark.slow
def test_jax_run_extended_with_more_steps_equals_the_uninterrupted_run(tmp_path):
    """The jax pipeline: 1024 steps then resumed to 2048 gives the parameters, optimizer and
    runner state of one 2048-step run, bit for bit (anneal_lr off: an annealed learning rate
    depends on total_steps, so raising it changes the schedule of the steps already done)."""
    if not _pipeline_ready("jax"):
        pytest.skip("the jax pipeline or its framework is not installed")
    cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}  # the same program compiles once
    common = ["--backend", "jax", "--seed", "6", "--set", "anneal_lr=false", "--out", str(tmp_path)]
    for result in (_train(*common, "--steps", "1024", "--name", "cut", env=cache),
                   _train("--resume", str(tmp_path / "cut"), "--steps", "2048", env=cache),
                   _train(*common, "--steps", "2048", "--name", "full", env=cache)):
        assert result.returncode == 0, result.stderr[-3000:]
    _, cut = load_checkpoint(tmp_path / "cut", "jax")
    _, full = load_checkpoint(tmp_path / "full", "jax")
    assert (cut.step, cut.update) == (full.step, full.update) == (2048, 4)
    for group in ("params", "optimizer", "state"):
        a, b = getattr(cut, group), getattr(full, group)
        assert set(a) == set(b)
        for name in a:
            assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), f"{group}/{name}"
    cut_rows, full_rows = runs.read_metrics(tmp_path / "cut"), runs.read_metrics(tmp_path / "full")
    for key in ("step", "mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"):
        assert cut_rows[key] == full_rows[key], key
