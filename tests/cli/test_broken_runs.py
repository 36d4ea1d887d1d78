"""Runs that cannot be continued or evaluated give one line, never a traceback: a damaged
checkpoint (truncated, empty, random bytes, its header or a weight missing) and a run of a
user's policy evaluated without it, in `eval` and `train --resume` and from Python; and a run
folder that another process trains in is refused, with two real processes, and nothing of
the first run is lost."""
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from puffer_backend import cli
from puffer_backend.cli import runs
from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline
from puffer_backend.pipelines.checkpoint import CHECKPOINT_FILE, load_checkpoint
from puffer_backend.pipelines.config import load_config
from puffer_backend.pipelines.resume import resume_config
from puffer_backend.spec.errors import BadValueError

from .helpers import ROOT, assert_usage_error
from .test_real_pipelines import _pipeline_ready

SMALL = dict(total_steps=512, num_envs=4, num_steps=128, update_epochs=1)


def _needs(backend):
    if not _pipeline_ready(backend):
        pytest.skip(f"the {backend} pipeline or its framework is not installed")


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    """A finished one-update torch run (config.json and checkpoint.npz)."""
    _needs("torch")
    run = tmp_path_factory.mktemp("runs") / "torch-run"
    load_pipeline("torch").train(TrainConfig(backend="torch", **SMALL), MemoryLogger(run))
    return run


def _without_member(path, prefix):
    """Rewrite the archive at `path` without its members whose names start with `prefix`."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if not name.startswith(prefix)}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


DAMAGE = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "empty": lambda path: path.write_bytes(b""),
    "random bytes": lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)),
    "no header": lambda path: _without_member(path, "checkpoint.json"),
    "a weight missing": lambda path: _without_member(path, "params/actor.0.weight"),
}
# What each damage reads as (the file's own line; the weights are the pipeline's check).
SAYS = {
    "truncated": "received a truncated, empty or damaged file (BadZipFile",
    "empty": "received a truncated, empty or damaged file (EOFError",
    "random bytes": "received a file that is not a numpy archive (unknown bytes)",
    "no header": "received an archive without its header checkpoint.json",
    "a weight missing": "checkpoint: expected the built-in agent's params (",
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged_run(request, torch_run, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(torch_run, run)
    DAMAGE[request.param](run / CHECKPOINT_FILE)
    return request.param, run


def _one_line(capsys, code):
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and captured.out == "", captured.err
    return lines[0]


def test_eval_of_a_damaged_checkpoint_is_one_line(damaged_run, capsys):
    damage, run = damaged_run
    line = _one_line(capsys, cli.main(["eval", str(run), "--episodes", "2"]))
    assert line.startswith("puffer-backend: error: RUN: "), line
    assert SAYS[damage] in line, line
    if damage != "a weight missing":
        assert f"{run / CHECKPOINT_FILE}: expected a checkpoint written by puffer-backend" in line


def test_resume_of_a_damaged_checkpoint_is_one_line(damaged_run, capsys):
    damage, run = damaged_run
    metrics_before = sorted(p.name for p in run.iterdir())
    line = _one_line(capsys, cli.main(["train", "--resume", str(run), "--steps", "1024", "--quiet"]))
    assert SAYS[damage] in line, line
    assert line.startswith("puffer-backend: error: --resume: " if damage != "a weight missing"
                           else "puffer-backend: error: backend torch: checkpoint: "), line
    assert sorted(p.name for p in run.iterdir()) == metrics_before  # nothing written, no lock left behind


def test_from_python_a_damaged_checkpoint_is_a_bad_value_error(damaged_run):
    damage, run = damaged_run
    pipeline = load_pipeline("torch")
    with pytest.raises(BadValueError) as info:
        pipeline.evaluate(run, episodes=2)
    assert SAYS[damage] in str(info.value)
    config = load_config(run)
    config.total_steps = 1024
    with pytest.raises(BadValueError) as info:
        pipeline.train(config, MemoryLogger(run), resume=True)
    assert SAYS[damage] in str(info.value)
    if damage != "a weight missing":
        with pytest.raises(BadValueError, match="expected a checkpoint written by puffer-backend"):
            resume_config(run, total_steps=1024)


# --- a run of a user's policy, without that policy ------------------------------------------------

def _torch_policy():
    import torch

    class Policy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = torch.nn.Linear(4, 16)
            self.logits = torch.nn.Linear(16, 2)
            self.value = torch.nn.Linear(16, 1)

        def forward(self, obs):
            hidden = torch.tanh(self.trunk(obs.float()))
            return self.logits(hidden), self.value(hidden)

    return Policy()


def _flax_policy():
    import flax.linen as nn

    class Policy(nn.Module):
        @nn.compact
        def __call__(self, obs):
            hidden = nn.tanh(nn.Dense(16)(obs))
            return nn.Dense(2)(hidden), nn.Dense(1)(hidden)

    return Policy()


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_run_of_a_users_policy_without_that_policy_is_one_line(backend, tmp_path, capsys):
    _needs(backend)
    if backend == "jax":
        pytest.importorskip("flax")
    make = _torch_policy if backend == "torch" else _flax_policy
    run = tmp_path / "custom"
    pipeline = load_pipeline(backend)
    pipeline.train(TrainConfig(backend=backend, **SMALL), MemoryLogger(run), policy=make())
    assert np.isfinite(pipeline.evaluate(run, episodes=2, policy=make()))  # with its policy: fine

    says = "a run of your own policy: pass that module as policy=" if backend == "torch" else \
        "a run of your own policy: pass it as policy="
    line = _one_line(capsys, cli.main(["eval", str(run), "--episodes", "2"]))
    assert line.startswith("puffer-backend: error: RUN: checkpoint: expected the built-in") and says in line, line
    line = _one_line(capsys, cli.main(["train", "--resume", str(run), "--steps", "1024", "--quiet"]))
    assert line.startswith(f"puffer-backend: error: backend {backend}: checkpoint: expected the built-in"), line
    assert says in line
    with pytest.raises(BadValueError, match=says):
        pipeline.evaluate(run, episodes=2)
    with pytest.raises(BadValueError, match=says):
        pipeline.train(resume_config(run, total_steps=1024), MemoryLogger(run), resume=True)
    assert load_checkpoint(run)[1].step == 512  # untouched


# --- two processes resuming one run folder ------------------------------------------------------------

def _resume(run, steps):
    return subprocess.Popen([sys.executable, "-m", "puffer_backend", "train", "--resume", str(run), "--steps", steps,
                             "--progress", "plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"})


@pytest.mark.parametrize("apart_s", [0.0, 1.5])
def test_two_processes_resuming_one_run_one_refuses_and_nothing_is_lost(apart_s, torch_run, tmp_path):
    """Started together or 1.5 s apart, one resume trains to the end and the other is refused
    in one line naming the folder: metrics.csv holds every update once, the checkpoint and the
    summary are the finished run's."""
    run = tmp_path / "run"
    shutil.copytree(torch_run, run)
    first = _resume(run, "16384")
    time.sleep(apart_s)
    second = _resume(run, "16384")
    results = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    codes = [code for code, _, _ in results]
    assert sorted(codes) == [0, 2], results
    (_, out, _), (_, _, refused) = sorted(results, key=lambda r: r[0])
    if apart_s:
        assert codes == [0, 2]  # the one that started first holds the folder
    lines = refused.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"puffer-backend: error: --resume: expected a run folder that no other process is training in, received "
        f"'{run}', in use by process "), refused
    assert out.startswith("done: steps 16384"), out
    steps = runs.read_metrics(run)["step"]
    assert steps == [512.0 * (i + 2) for i in range(31)]  # the resumed updates, each once (the first run: no rows)
    assert load_checkpoint(run)[1].step == 16384
    assert json.loads((run / runs.SUMMARY_FILE).read_text())["steps"] == 16384
    assert not (run / "train.lock").exists()


def test_the_command_refuses_to_resume_a_run_another_process_trains(torch_run, tmp_path, capsys):
    from .helpers import run_cli

    run = tmp_path / "run"
    shutil.copytree(torch_run, run)
    from tests.pipelines.test_run_folder import _holder

    holder = _holder(run)
    try:
        result = run_cli("train", "--resume", str(run), "--steps", "1024",
                         prelude="import sys; sys.modules['torch'] = None; sys.modules['jax'] = None")
        assert_usage_error(result, "--resume: expected a run folder that no other process is training in",
                           f"in use by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
