"""Shared by the training benchmarks: find the same-machine baselines, and run one pipeline or
one baseline and report it as one row.

A module in `baselines/` declares itself a baseline with a module-level string `NAME` (its label
in tables, e.g. "cleanrl-style") and a function
`train(seed, total_steps, target_return=None, num_envs=...) -> {"steps", "sps", "mean_return",
"steps_to_target", ...}` (plus "compile_s" where it compiles). Declarations are read from the
source, so listing the baselines imports neither torch nor jax.
"""
from __future__ import annotations

import ast
import importlib
import os
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
BASELINES = BENCHMARKS / "baselines"


def declared_name(path: Path) -> str | None:
    """The string assigned to `NAME` at the top level of a Python file, or None."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "NAME" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return None


def baseline_modules() -> dict[str, str]:
    """{declared NAME: module name in the baselines package}, sorted by name."""
    found = {}
    for path in sorted(BASELINES.glob("*.py")):
        name = declared_name(path)
        if name is not None:
            found[name] = path.stem
    return dict(sorted(found.items()))


def run_pipeline(backend: str, seed: int, steps: int, env_id: str, workdir: str,
                 num_envs: int | None = None, target_return: float | None = None, torch_compile: bool = False) -> dict:
    """Train one pipeline through the Python API (`load_pipeline(backend).train`) -> one row.
    torch_compile: torch.compile for the torch and mixed pipelines (`--compile`)."""
    from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline
    from puffer_backend.pipelines.episodes import first_step_reaching

    pipeline = load_pipeline(backend)
    sized = {} if num_envs is None else {"num_envs": num_envs}
    if torch_compile and backend != "jax":
        sized["compile"] = True
    config = TrainConfig(backend=backend, env_id=env_id, total_steps=steps, seed=seed,
                         out_dir=workdir, run_name=f"{backend}-{seed}", **sized)
    logger = MemoryLogger(os.path.join(workdir, f"{backend}-{seed}"))
    t0, c0 = time.perf_counter(), time.process_time()
    summary = pipeline.train(config, logger)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done = int(summary.get("steps", logger.records[-1]["step"] if logger.records else 0))
    return {
        "backend": backend, "seed": seed, "steps": done,
        "sps": float(summary.get("sps", float("nan"))),
        "sps_with_compile": done / wall,
        "compile_s": summary.get("compile_s"),
        "wall_s": wall,
        "cpu_s": cpu,
        "final_mean_return": float(summary.get("mean_return", float("nan"))),
        "steps_to_target": None if target_return is None else first_step_reaching(logger.records, target_return),
    }


def load_baseline(name: str):
    """Import the baseline module that declares NAME == name (ImportError if its framework is missing)."""
    modules = baseline_modules()
    if name not in modules:
        raise ValueError(f"baseline: expected one of {sorted(modules)}, received {name!r}")
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(f"baselines.{modules[name]}")


def run_baseline(name: str, seed: int, steps: int, num_envs: int | None = None,
                 target_return: float | None = None) -> dict:
    """Train one declared baseline -> one row (same keys as run_pipeline)."""
    module = load_baseline(name)
    sized = {} if num_envs is None else {"num_envs": num_envs}
    t0, c0 = time.perf_counter(), time.process_time()
    out = module.train(seed=seed, total_steps=steps, target_return=target_return, **sized)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "backend": name, "seed": seed, "steps": int(out["steps"]), "sps": float(out["sps"]),
        "sps_with_compile": out["steps"] / wall, "compile_s": out.get("compile_s"), "wall_s": wall,
        "cpu_s": cpu, "final_mean_return": float(out["mean_return"]), "steps_to_target": out["steps_to_target"],
    }
