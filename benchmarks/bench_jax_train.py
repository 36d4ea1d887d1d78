"""The jax pipeline against the PureJaxRL-style baseline on CartPole-v1: training speed, compile time, learning.

Seeds run interleaved (baseline, jax, baseline, jax, ...), each run in its own Python
process as a user would start it (both with JAX's default settings), compile timed apart from the training loop. Prints per run the
training-loop steps/s, the compile time on its own and the first step at which the mean of
the 20 most recent returns reaches 475; then the medians and the goals:
    jax >= 1.5x the baseline's training-loop steps/s (medians over the seeds)
    every seed of both reaches 475, the pipeline's steps-to-475 within the baseline's seed range
With --load, one busy process shares the cores for the whole measurement (quiet vs loaded:
run it twice, with and without). --xla-flags runs the pipeline with PUFFER_XLA_FLAGS=1
(pipelines/jax/xla_flags.py: one thread per XLA:CPU op).

    python benchmarks/bench_jax_train.py                    # seeds 0 1 2, 500k steps
    python benchmarks/bench_jax_train.py --steps 100000 --load --no-baseline
Exit status 0 when every goal checked passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOAL_RATIO = 1.5
TARGET = 475.0


def child(name: str, seed: int, steps: int) -> None:
    """One run in this process; prints its row as JSON."""
    import tempfile

    sys.path.insert(0, HERE)
    from runner import run_baseline, run_pipeline

    if name == "jax":
        with tempfile.TemporaryDirectory() as workdir:
            row = run_pipeline("jax", seed, steps, "CartPole-v1", workdir, target_return=TARGET)
    else:
        row = run_baseline("purejaxrl-style", seed, steps, target_return=TARGET)
    print(json.dumps(row))


def run(name: str, seed: int, steps: int, xla_flags: bool) -> dict:
    env = dict(os.environ)
    env["PUFFER_XLA_FLAGS"] = "1" if xla_flags else "0"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, str(seed), str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = "?"
    return f"{model}, {os.cpu_count()} cpus"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--load", action="store_true", help="one busy process shares the cores meanwhile")
    parser.add_argument("--xla-flags", action="store_true",
                        help="the pipeline with PUFFER_XLA_FLAGS=1 (one thread per XLA:CPU op)")
    parser.add_argument("--no-baseline", action="store_true", help="time the pipeline only")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "SEED", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0

    print(f"# command: python {' '.join(shlex.quote(a) for a in [os.path.relpath(__file__)] + sys.argv[1:])}")
    print(f"# cpu: {cpu_model()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    names = ([] if args.no_baseline else ["purejaxrl-style"]) + ["jax"]
    rows = []
    try:
        for seed in args.seeds:
            for name in names:
                row = run(name, seed, args.steps, args.xla_flags)
                rows.append(row)
                print(f"{name:15s} seed {seed}  train steps/s {row['sps']:9.0f}  compile {row['compile_s']:5.1f}s  "
                      f"cpu {row['cpu_s']:5.1f}s  steps to {TARGET:.0f}: {row['steps_to_target']}", flush=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          + ("  (with one busy process of ours)" if args.load else ""))

    ok = True
    median = {n: statistics.median(r["sps"] for r in rows if r["backend"] == n) for n in names}
    compile_s = {n: statistics.median(r["compile_s"] for r in rows if r["backend"] == n) for n in names}
    to_target = {n: [r["steps_to_target"] for r in rows if r["backend"] == n] for n in names}
    for n in names:
        print(f"{n:15s} median train steps/s {median[n]:9.0f}  median compile {compile_s[n]:5.1f}s  "
              f"steps to {TARGET:.0f}: {to_target[n]}")
    reached = all(s is not None for n in names for s in to_target[n])
    print(f"learning: every seed reaches {TARGET:.0f}: {'PASS' if reached else 'FAIL'}")
    ok &= reached
    if "purejaxrl-style" in names:
        ratio = median["jax"] / median["purejaxrl-style"]
        print(f"speed: jax / purejaxrl-style = {ratio:.2f}x (goal >= {GOAL_RATIO}x): {'PASS' if ratio >= GOAL_RATIO else 'FAIL'}")
        ok &= ratio >= GOAL_RATIO
        base = [s for s in to_target["purejaxrl-style"] if s is not None]
        if reached and base:
            within = all(min(base) <= s <= max(base) for s in to_target["jax"])
            print(f"learning: jax steps-to-{TARGET:.0f} within the baseline's range {min(base)}..{max(base)}: "
                  f"{'PASS' if within else 'FAIL'}")
            ok &= within
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
