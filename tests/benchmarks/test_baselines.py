"""The same-run baselines of benchmarks/acceptance_train.py run, report what it reads, and
stay independent of this library (they are what the pipelines are measured against)."""
import ast
import math
from pathlib import Path

import pytest

from .importing import import_benchmark

BASELINES = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines"
KEYS = {"steps", "sps", "mean_return", "steps_to_target", "records"}


def _load(name):
    return import_benchmark(f"baselines.{name}", fromlist=["train"])


@pytest.mark.parametrize("name", ["cleanrl_style_ppo", "cleanrl_gymnax_ppo", "purejaxrl_style_ppo"])
def test_baseline_imports_nothing_from_this_library(name):
    tree = ast.parse((BASELINES / f"{name}.py").read_text())
    modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert modules and not any(m.split(".")[0] == "puffer_backend" for m in modules)


@pytest.mark.parametrize("name, needs", [("cleanrl_style_ppo", "gymnasium"), ("cleanrl_gymnax_ppo", "gymnax"),
                                         ("purejaxrl_style_ppo", "gymnax")])
def test_baseline_short_run_reports_what_acceptance_reads(name, needs):
    pytest.importorskip(needs)
    out = _load(name).train(seed=0, total_steps=2048, target_return=475.0)
    assert KEYS <= set(out)
    assert out["steps"] == 2048 and out["sps"] > 0
    assert len(out["records"]) == 4 and out["records"][-1][0] == 2048
    assert math.isfinite(out["mean_return"]) and out["mean_return"] > 0
    assert out["steps_to_target"] is None  # 2k steps of CartPole cannot reach 475
