"""The jax pipeline end to end with a warm compilation cache: where a run's seconds go outside training.

Runs `python -m puffer_backend train --backend jax --steps STEPS --no-early-stop --quiet` as a
user would, each in its own process, and times the process from start to exit. With
`--before TREE` (a checkout of another version, e.g. the main branch) the same command runs
from that checkout too (its code first on PYTHONPATH), interleaved with this one: before,
after, before, after, ... so that load from other processes hits both alike. One untimed run
of each first fills the compilation cache. Prints per run the end to end, the training loop
(steps / sps), compile_s and the rest (imports, env and run-folder set-up, checkpoint,
summary.json, curve.png, exit) and the process's CPU time (user + system, all threads), then
the medians and, with --before, their ratios.

    python benchmarks/jax_startup.py --before ../main             # 3 runs each, 500k steps
    python benchmarks/jax_startup.py --repeats 5 --steps 100000
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import machine_lines  # noqa: E402

THIS_TREE = HERE.parent


def command(steps: int, seed: int, out: str) -> list:
    return [sys.executable, "-m", "puffer_backend", "train", "--backend", "jax", "--steps", str(steps),
            "--no-early-stop", "--quiet", "--seed", str(seed), "--out", out]


def one_run(tree: Path, steps: int, seed: int) -> dict:
    """One process of the command from `tree`: end to end and the run's summary.json."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory() as out:
        start, used = time.perf_counter(), _children_cpu()
        done = subprocess.run(command(steps, seed, out), env=env, cwd=out, capture_output=True, text=True)
        end_to_end = time.perf_counter() - start
        cpu = _children_cpu() - used
        if done.returncode != 0:
            raise SystemExit(f"the run from {tree} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        summary = json.loads(next(Path(out).glob("*/summary.json")).read_text())
    training = summary["steps"] / summary["sps"]
    return {"end_to_end": end_to_end, "training": training, "compile": summary["compile_s"],
            "rest": end_to_end - training - summary["compile_s"], "sps": summary["sps"], "cpu": cpu}


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (less load-sensitive than wall time)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to compare with (run interleaved)")
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    trees = {"after": THIS_TREE} if args.before is None else {"before": args.before.resolve(), "after": THIS_TREE}
    for line in machine_lines():
        print(line)
    print("# command: " + shlex.join(command(args.steps, args.seed, "OUT")) + "  (PYTHONPATH=the tree)")
    for name, tree in trees.items():
        print(f"# {name}: {tree}")
    for tree in trees.values():  # fills the cache: the runs below are second runs
        one_run(tree, args.steps, args.seed)
    rows = {name: [] for name in trees}
    for repeat in range(args.repeats):
        for name, tree in trees.items():
            row = one_run(tree, args.steps, args.seed)
            rows[name].append(row)
            print(f"{name:6s} run {repeat}  end to end {row['end_to_end']:6.2f}s  training {row['training']:5.2f}s "
                  f"compile {row['compile']:5.2f}s  rest {row['rest']:5.2f}s  sps {row['sps']:8.0f}  "
                  f"process cpu {row['cpu']:5.2f}s", flush=True)
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in rows.items()}
    for name, m in medians.items():
        print(f"median {name:6s} end to end {m['end_to_end']:6.2f}s  training {m['training']:5.2f}s "
              f"compile {m['compile']:5.2f}s  rest {m['rest']:5.2f}s  sps {m['sps']:8.0f}  process cpu {m['cpu']:5.2f}s")
    if "before" in medians:
        before, after = medians["before"], medians["after"]
        print("ratios before / after: " + "  ".join(f"{key} {before[key] / after[key]:.2f}x"
                                                     for key in ("end_to_end", "compile", "rest", "cpu")))
    print(f"# load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
