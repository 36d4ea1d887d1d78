"""Memory: the recurrent policy (`recurrent = true`) learns a task that the MLP cannot.

gymnax's MemoryChain-bsuite with its defaults (one context bit, memory_length 5): the first
observation shows the bit (+1 or -1), the next ones do not, and the sixth and last step pays +1
for the action that names the bit, -1 otherwise. A policy without memory sees the same
observation at the last step whatever the bit: its best mean return is 0. One with memory can
reach 1.

Trains the built-in policy with and without `recurrent` on each backend of --backends (jax,
and mixed: the torch LSTM over the JAX env), same config and seed, from Python, and prints the
mean return (the 20 latest episodes, pipelines.episodes) at --points steps of the run, its
mean over the last quarter of the updates, the first step where it reached 0.9, the
compile and wall times, then the CPU, torch's CPU capability, the load average and the
command line. Writes memory_learn.csv (every update of every run) under --out.

    python benchmarks/memory_learn.py                          # jax, LSTM and MLP, 100k steps
    python benchmarks/memory_learn.py --backends jax mixed     # the mixed pipeline too
    python benchmarks/memory_learn.py --steps 4096             # smoke run
"""
from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402  (benchmarks/ is not a package)

ENV_ID = "MemoryChain-bsuite"
# Episodes of 6 steps: a rollout of 32 steps holds 5 of them per env, so that the update's
# re-run crosses episode ends (the state is reset there).
CONFIG = dict(num_envs=32, num_steps=32, num_minibatches=4, update_epochs=4, learning_rate=1e-3,
              ent_coef=0.01, gamma=0.99, hidden_size=64, compile_cache=False)


def run(backend: str, recurrent: bool, steps: int, seed: int, out: Path) -> dict:
    from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

    config = TrainConfig(backend=backend, env_id=ENV_ID, total_steps=steps, seed=seed, recurrent=recurrent,
                         **CONFIG)
    logger = MemoryLogger(out / f"{backend}-{'lstm' if recurrent else 'mlp'}")
    begin = time.perf_counter()
    summary = load_pipeline(backend).train(config, logger)
    return {"rows": logger.records, "summary": summary, "wall": time.perf_counter() - begin}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax"], choices=["jax", "mixed"])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=5, help="returns printed at this many points of each run")
    parser.add_argument("--out", type=Path, default=None, help="folder of memory_learn.csv (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="memory-learn-"))
    out.mkdir(parents=True, exist_ok=True)

    results = {}
    for backend in args.backends:
        for recurrent in (True, False):
            results[backend, recurrent] = run(backend, recurrent, args.steps, args.seed, out)

    with open(out / "memory_learn.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["backend", "policy", "step", "wall_time", "mean_return", "episodes"])
        for (backend, recurrent), result in results.items():
            for row in result["rows"]:
                writer.writerow([backend, "lstm" if recurrent else "mlp", row["step"], f"{row['wall_time']:.3f}",
                                 f"{row['mean_return']:.4f}", row["episodes"]])

    print(f"{ENV_ID} (defaults: memory_length 5, one bit), seed {args.seed}, {CONFIG}")
    print("mean return of the 20 latest episodes (the best without memory: 0; with memory: 1)")
    for (backend, recurrent), result in results.items():
        rows = result["rows"]
        picks = [rows[min(len(rows) - 1, round(i * (len(rows) - 1) / max(1, args.points - 1)))]
                 for i in range(args.points)]
        curve = "  ".join(f"{r['step']:>7}: {r['mean_return']:+.2f}" for r in picks)
        reached = next((r["step"] for r in rows if r["mean_return"] >= 0.9), None)
        last = rows[len(rows) * 3 // 4:]
        tail = sum(r["mean_return"] for r in last) / len(last)
        s = result["summary"]
        print(f"{backend:5} {'lstm' if recurrent else 'mlp ':4}  {curve}   last quarter's mean {tail:+.2f}, "
              f">= 0.9 from step {reached if reached is not None else 'never'}; compile {s['compile_s']:.1f}s, "
              f"{s['sps']:.0f} steps/s, wall {result['wall']:.1f}s")
    for line in machine_lines():
        print(line)
    print("# command: python " + shlex.join(sys.argv))
    print(f"# rows: {out / 'memory_learn.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
