"""benchmarks/torch_small_draw.py (the small-batch draw per call), torch_train_cost.py (the torch
pipeline's CPU time per part) and torch_ab.py (checkouts side by side): each runs and reports
what its docstring says."""
import os
import subprocess
import sys

import pytest

from .importing import BENCHMARKS, import_benchmark, run_benchmark_main

ROOT = BENCHMARKS.parent


def test_small_draw_times_every_shape_and_restores_the_switch(capsys):
    pytest.importorskip("torch")
    from puffer_backend import torch_impl
    module = import_benchmark("torch_small_draw")
    run_benchmark_main(module, ["--repeats", "3"])
    rows = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(rows) == 1 + len(module.SHAPES)
    for line, shape in zip(rows[1:], module.SHAPES):
        assert line.strip().startswith(str(shape)) and line.rstrip().endswith("x")
    assert torch_impl.default_validate_args()


def _run(script, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.mark.heavy
def test_train_cost_times_every_part_of_a_short_run():
    out = _run("torch_train_cost.py", "--steps", "2048")
    assert out.returncode == 0, out.stderr
    table = {line[:30].strip(): line[30:].split() for line in out.stdout.splitlines() if not line.startswith("#")}
    for part in ("rollout", "policy step", "sample_logits (rollout)", "env step", "update", "backward", "Adam"):
        assert part in table
    assert table["policy step"][2] == "128.0" and table["backward"][2] == "16.0"  # calls per update
    assert float(table["sample_logits (rollout)"][0]) < float(table["policy step"][0]) < float(table["rollout"][0])


@pytest.mark.heavy
def test_ab_runs_each_tree_per_seed_and_reports_the_ratio():
    out = _run("torch_ab.py", "--trees", str(ROOT), str(ROOT), "--seeds", "0", "--steps", "1024")
    assert out.returncode == 0, out.stderr
    runs = [line for line in out.stdout.splitlines() if " seed 0 " in line]
    assert len(runs) == 2 and all(str(ROOT / "puffer_backend") in line for line in runs)
    assert runs[0].split("final return")[1] == runs[1].split("final return")[1]  # same code, same run
    assert "median sps" in out.stdout.splitlines()[-1]
