"""Two (or more) checkouts of this library, one torch pipeline run each per seed, interleaved:
steps/s (training only, the pipeline's own figure) and the CPU time per update (process CPU
between the first and the last update's record, so start-up and compilation are left out).

Each run is a child process with PYTHONPATH set to the checkout, so the same script measures
an older tree beside the current one; the order of the trees alternates from seed to seed,
so that load changes hit both alike.

    python benchmarks/torch_ab.py --trees OLD_CHECKOUT . --seeds 0 1 2 --steps 100000
    python benchmarks/torch_ab.py --trees OLD_CHECKOUT . --compile
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402  (benchmarks/ is not a package)

MARK = "AB_ROW "


def child(seed: int, steps: int, compile_: bool) -> None:
    import puffer_backend
    from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

    class TimedLogger(MemoryLogger):
        def record(self, step, **metrics):
            super().record(step, **metrics)
            self.records[-1]["cpu_s"] = time.process_time()

    with tempfile.TemporaryDirectory() as workdir:
        config = TrainConfig(backend="torch", total_steps=steps, seed=seed, target_return=None, compile=compile_,
                             out_dir=workdir, run_name="run")
        logger = TimedLogger(os.path.join(workdir, "run"))
        summary = load_pipeline("torch").train(config, logger)
    cpu = [r["cpu_s"] for r in logger.records]
    deltas = [b - a for a, b in zip(cpu, cpu[1:])]
    print(MARK + json.dumps({"sps": summary["sps"], "updates": len(cpu), "final": summary.get("mean_return"),
                             "cpu_ms_per_update": 1e3 * (cpu[-1] - cpu[0]) / max(len(deltas), 1),
                             "median_cpu_ms_per_update": 1e3 * statistics.median(deltas),
                             "library": os.path.dirname(puffer_backend.__file__)}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", nargs="+", help="checkouts to compare (the first is the baseline)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--compile", action="store_true", help="torch.compile (--compile)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.steps, args.compile)
        return
    print("\n".join(machine_lines()))
    print(f"# command: python {' '.join(map(shlex.quote, sys.argv))}")
    trees = [os.path.abspath(t) for t in args.trees]
    rows = {t: [] for t in trees}
    for i, seed in enumerate(args.seeds):
        for tree in (trees if i % 2 == 0 else trees[::-1]):
            command = [sys.executable, os.path.abspath(__file__), "--child", str(seed), "--steps", str(args.steps)]
            command += ["--compile"] if args.compile else []
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree, timeout=900)
            lines = [line for line in out.stdout.splitlines() if line.startswith(MARK)]
            if not lines:
                sys.exit(f"{tree} seed {seed} failed:\n{out.stderr[-3000:]}")
            row = json.loads(lines[-1][len(MARK):])
            rows[tree].append(row)
            print(f"{tree}  seed {seed}  sps {row['sps']:8.0f}  CPU/update {row['cpu_ms_per_update']:6.2f} ms "
                  f"(median {row['median_cpu_ms_per_update']:6.2f})  final return {row['final']:.1f}  "
                  f"[{row['library']}]", flush=True)
    print("# load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    base = trees[0]
    for tree in trees:
        sps = statistics.median(r["sps"] for r in rows[tree])
        cpu = statistics.median(r["cpu_ms_per_update"] for r in rows[tree])
        base_sps = statistics.median(r["sps"] for r in rows[base])
        base_cpu = statistics.median(r["cpu_ms_per_update"] for r in rows[base])
        print(f"{tree}: median sps {sps:.0f} ({sps / base_sps:.2f}x the first), "
              f"CPU/update {cpu:.2f} ms ({base_cpu / cpu:.2f}x less)")


if __name__ == "__main__":
    main()
