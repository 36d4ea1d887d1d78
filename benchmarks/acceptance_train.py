"""Acceptance check for the PPO pipelines on CartPole-v1: speed and steps to a return of 475.

For each backend that imports (jax, torch, mixed), trains seeds 0, 1, 2 with the shared
default config (4 envs x 128 steps, 4 epochs x 4 minibatches, 500k steps) and prints
steps/s (for jax without and with compile time), wall time, and the first step at which the
mean of the 20 most recent episodic returns reaches 475.

Speed goals are ratios to baselines trained in the same run, seed for seed, on the same
machine (`baselines/`: a CleanRL-style torch ppo.py, the same loop on gymnax's own gymnasium
vector wrapper, and a PureJaxRL-style JAX ppo.py, all written here and using no part of this
library):
    jax   >= 1.5x the PureJaxRL-style baseline (compile excluded on both sides)
    torch >= 2.2x the CleanRL-style baseline: issue 14's goal is 3x the real CleanRL ppo.py,
          which is not in this repo; measured side by side, the CleanRL-style baseline ran
          at 1.37x the real script with one thread (medians; with torch's default threads
          the real script is slower still), so 2.2x here is 3x the real script
          (docs/benchmarks.md)
    mixed >= 3.0x the CleanRL-on-gymnax baseline, and >= 1.0x the torch pipeline
    every seed of every pipeline reaches 475 within the step budget.
The figures measured elsewhere that the goals were first stated with (PureJaxRL 230k,
CleanRL 10k steps/s on "a 2-core CPU") are printed beside them for reference only. Speed
is the median over seeds; runs are interleaved (seed by seed) so that load changes hit every
pipeline alike. The load average is printed before and after, and each row gives the
process CPU time of the run, which other load disturbs much less than wall time.

    python benchmarks/acceptance_train.py                      # all backends and baselines, seeds 0 1 2
    python benchmarks/acceptance_train.py --backends jax --seeds 0 1 2
    python benchmarks/acceptance_train.py --no-baselines       # pipelines only, anchors as goals
    python benchmarks/acceptance_train.py --json results.json  # also write the rows
    python benchmarks/acceptance_train.py --backends torch mixed --compile   # torch.compile (compile time apart)
Exit status 0 when every goal checked passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

from puffer_backend.pipelines import load_pipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import run_baseline, run_pipeline  # noqa: E402  (benchmarks/ is not a package)

# The goals as first stated, from figures measured on another 2-core machine (reference only
# when the baselines run; the goals proper are the ratios below).
GOAL_SPS = {"jax": 230_000, "torch": 15_000, "mixed": 30_000}
# backend -> [(what it is compared with: a baseline or another pipeline, minimum speed ratio)]
GOALS = {"jax": [("purejaxrl-style", 1.5)], "torch": [("cleanrl-style", 2.2)],
         "mixed": [("cleanrl-gymnax", 3.0), ("torch", 1.0)]}
BASELINES = ("cleanrl-style", "cleanrl-gymnax", "purejaxrl-style")
TARGET = 475.0


def print_row(row):
    compile_s = "" if row["compile_s"] is None else f"  compile {row['compile_s']:.1f}s"
    print(f"{row['backend']:15s} seed {row['seed']}  steps/s {row['sps']:9.0f}  with start-up {row['sps_with_compile']:9.0f}"
          f"{compile_s}  wall {row['wall_s']:6.1f}s  cpu {row['cpu_s']:6.1f}s  final {row['final_mean_return']:6.1f}"
          f"  steps to {TARGET:.0f}: {row['steps_to_target']}", flush=True)


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
    parser.add_argument("--compile", action="store_true",
                        help="run the torch and mixed pipelines with --compile (compile time excluded from steps/s)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the same-run baselines and check the first-stated anchors instead")
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error(f"--steps: expected a positive int, received {args.steps}")

    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  cpus: {os.cpu_count()}")
    backends = [b for b in args.backends if importable(b)]
    baselines = [] if args.no_baselines else sorted(
        {base for b in backends for base, _ in GOALS[b] if base in BASELINES})
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as workdir:
        for seed in args.seeds:
            for name in baselines:
                rows.append(run_baseline(name, seed, args.steps, target_return=TARGET))
                print_row(rows[-1])
            for backend in backends:
                rows.append(run_pipeline(backend, seed, args.steps, args.env, workdir, target_return=TARGET,
                                         torch_compile=args.compile))
                print_row(rows[-1])
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    median = {name: statistics.median(r["sps"] for r in rows if r["backend"] == name)
              for name in {r["backend"] for r in rows}}
    print("\npipeline         median steps/s  goal                        speed  learned (seeds reaching 475 within budget)")
    for name in baselines + backends:
        mine = [r for r in rows if r["backend"] == name]
        reached = [r for r in mine if r["steps_to_target"] is not None]
        to_target = ", ".join(str(r["steps_to_target"]) for r in mine)
        learned = f"{len(reached)}/{len(mine)} (steps: {to_target})"
        if name not in GOALS:  # a baseline: context, not a goal
            print(f"{name:15s}  {median[name]:14.0f}  {'(baseline)':26s}  {'':5s}  {learned}")
            continue
        if baselines:
            checks = [(base, ratio, median[name] / median[base]) for base, ratio in GOALS[name] if base in median]
            goal = "; ".join(f">= {ratio:.1f}x {base} ({got:.2f}x)" for base, ratio, got in checks)
            speed_ok = all(got >= ratio for _, ratio, got in checks)
        else:
            goal = f">= {GOAL_SPS[name]} (anchor)"
            speed_ok = median[name] >= GOAL_SPS[name]
        learn_ok = len(reached) == len(mine)
        ok &= speed_ok and learn_ok
        print(f"{name:15s}  {median[name]:14.0f}  {goal:26s}  {'PASS' if speed_ok else 'FAIL':5s}  "
              f"{'PASS' if learn_ok else 'FAIL'} {learned}")
    if baselines:
        print("# first-stated anchors, measured elsewhere (reference only): "
              + ", ".join(f"{b} {GOAL_SPS[b]}" for b in backends))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
