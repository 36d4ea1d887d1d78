"""Acceptance check for the PPO pipelines on CartPole-v1: speed and steps to a return of 475.

For each backend that imports (jax, torch, mixed), trains seeds 0, 1, 2 with the shared
default config (4 envs x 128 steps, 4 epochs x 4 minibatches, 500k steps) and prints
steps/s (for jax without and with compile time), wall time, and the first step at which the
mean of the 20 most recent episodic returns reaches 475, then pass/fail against the goals:
    jax   >= 230k steps/s (PureJaxRL on a 2-core CPU), compile excluded
    torch >= 15k steps/s (1.5x CleanRL's ppo.py)
    mixed >= 30k steps/s (3x CleanRL's ppo.py)
    every seed reaches 475 within the step budget.
Speed is the median over seeds. The machine's load average is printed before and after:
figures taken while other work shares the cores are not comparable to the anchors. Each
row also gives the process CPU time of the run (all threads, compile and start-up
included), which other load disturbs much less than wall time.

    python benchmarks/acceptance_train.py                      # all backends, seeds 0 1 2
    python benchmarks/acceptance_train.py --backends jax --seeds 0 1 2
    python benchmarks/acceptance_train.py --json results.json  # also write the rows
Exit status 0 when every goal checked passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

GOAL_SPS = {"jax": 230_000, "torch": 15_000, "mixed": 30_000}
TARGET = 475.0


def first_step_at(records, target):
    """The first recorded step whose mean_return (20 most recent episodes) reaches `target`."""
    for r in records:
        value = r.get("mean_return", float("nan"))
        if not math.isnan(value) and value >= target:
            return r["step"]
    return None


def run_one(backend, seed, steps, env_id, workdir):
    pipeline = load_pipeline(backend)
    config = TrainConfig(backend=backend, env_id=env_id, total_steps=steps, seed=seed,
                         out_dir=workdir, run_name=f"{backend}-{seed}")
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
        "steps_to_target": first_step_at(logger.records, TARGET),
    }


def importable(backend):
    try:
        load_pipeline(backend)
        return True
    except ImportError as e:
        print(f"# {backend}: skipped ({e})")
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "mixed"], choices=sorted(GOAL_SPS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=500_000, help="step budget per run")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--json", help="write all rows to this file")
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error(f"--steps: expected a positive int, received {args.steps}")

    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  cpus: {os.cpu_count()}")
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends:
            if not importable(backend):
                continue
            for seed in args.seeds:
                row = run_one(backend, seed, args.steps, args.env, workdir)
                rows.append(row)
                compile_s = "" if row["compile_s"] is None else f"  compile {row['compile_s']:.1f}s"
                print(f"{backend:6s} seed {seed}  steps/s {row['sps']:9.0f}  with start-up {row['sps_with_compile']:9.0f}"
                      f"{compile_s}  wall {row['wall_s']:6.1f}s  cpu {row['cpu_s']:6.1f}s  final {row['final_mean_return']:6.1f}"
                      f"  steps to {TARGET:.0f}: {row['steps_to_target']}", flush=True)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print("\nbackend  median steps/s  goal      speed  learned (seeds reaching 475 within budget)")
    for backend in args.backends:
        mine = [r for r in rows if r["backend"] == backend]
        if not mine:
            continue
        sps = statistics.median(r["sps"] for r in mine)
        speed_ok = sps >= GOAL_SPS[backend]
        reached = [r for r in mine if r["steps_to_target"] is not None]
        learn_ok = len(reached) == len(mine)
        ok &= speed_ok and learn_ok
        to_target = ", ".join(str(r["steps_to_target"]) for r in mine)
        print(f"{backend:7s}  {sps:14.0f}  {GOAL_SPS[backend]:7d}  {'PASS' if speed_ok else 'FAIL':5s}  "
              f"{'PASS' if learn_ok else 'FAIL'} {len(reached)}/{len(mine)} (steps: {to_target})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
