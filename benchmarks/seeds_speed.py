"""Steps/s of several seeds in one vmapped jax program (pipelines/jax/seeds.py) against one seed.

For each seed count in --seeds (default 1 4 16 64) and each repeat, trains CartPole-v1 with a
fixed per-seed config (CleanRL's: 4 envs x 128 steps, 4 epochs of 4 minibatches) for
--updates updates per seed, all seeds as one program, in a fresh subprocess (no compile
cache or thread pool carries over). steps/s: all seeds' environment steps over the training
time, compile excluded (the summaries' sps, one clock for every seed, times the seed count).
Prints a table (median over repeats, and the ratio to one seed), the CPU, torch's CPU
capability, the thread settings and the command line. The issue's goal: 16 seeds at 8x or
more of one seed's steps/s.

    python benchmarks/seeds_speed.py                      # 1 4 16 64 seeds, 10 updates, 1 repeat
    python benchmarks/seeds_speed.py --seeds 1 16 --repeats 3
    python benchmarks/seeds_speed.py --seeds 1 --num-envs 64    # one seed doing 16 seeds' work
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import child_row, machine_lines  # noqa: E402  (benchmarks/ is not a package)

ROW_MARK = "SEEDS-ROW "
CONFIG = dict(backend="jax", env_id="CartPole-v1", num_envs=4, num_steps=128, update_epochs=4, num_minibatches=4,
              target_return=None, compile_cache=False)


def run_here(seeds: int, updates: int, num_envs: int) -> dict:
    """One vmapped run of `seeds` seeds in this process -> its row (the child side)."""
    from puffer_backend.pipelines import MemoryLogger, TrainConfig
    from puffer_backend.pipelines.jax import ppo

    config = TrainConfig(**{**CONFIG, "num_envs": num_envs}, total_steps=updates * num_envs * CONFIG["num_steps"],
                         extra={"chunk_updates": updates})  # one call: the program, not the host loop
    with tempfile.TemporaryDirectory() as workdir:
        loggers = [MemoryLogger(os.path.join(workdir, f"s{s}")) for s in range(seeds)]
        summaries = ppo.train_seeds(config, range(seeds), loggers)
    first = summaries[0]
    return {"seeds": seeds, "steps": first["steps"] * seeds, "sps": first["sps"] * seeds,
            "compile_s": first["compile_s"], "wall_s": first["wall_time"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--updates", type=int, default=10, help="updates per seed (default: 10)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--num-envs", type=int, default=CONFIG["num_envs"],
                        help="envs per seed (default: 4; --seeds 1 --num-envs 64 is the work of 16 seeds in one)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run (default: 900)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(ROW_MARK + json.dumps(run_here(args.child, args.updates, args.num_envs)), flush=True)
        return 0

    rows: dict[int, list[dict]] = {n: [] for n in args.seeds}
    for repeat in range(args.repeats):  # interleaved: load changes hit every seed count alike
        for n in args.seeds:
            row, why = child_row([sys.executable, os.path.abspath(__file__), "--child", str(n),
                                  "--updates", str(args.updates), "--num-envs", str(args.num_envs)],
                                 ROW_MARK, args.timeout)
            if row is None:
                print(f"# {n} seeds, repeat {repeat}: missing ({why})", flush=True)
            else:
                rows[n].append(row)
                print(f"# {n} seeds, repeat {repeat}: {row['sps']:,.0f} steps/s, compile {row['compile_s']:.1f}s",
                      flush=True)
    base = statistics.median(r["sps"] for r in rows[args.seeds[0]]) if rows[args.seeds[0]] else None
    print(f"| seeds | steps/s (all seeds) | x {args.seeds[0]} seed{'s' if args.seeds[0] > 1 else ''} | "
          "steps/s per seed | compile s |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.seeds:
        if not rows[n]:
            print(f"| {n} | missing | | | |")
            continue
        sps = statistics.median(r["sps"] for r in rows[n])
        ratio = f"{sps / base:.1f}x" if base else ""
        print(f"| {n} | {sps:,.0f} | {ratio} | {sps / n:,.0f} | "
              f"{statistics.median(r['compile_s'] for r in rows[n]):.1f} |")
    for line in machine_lines():
        print(line)
    print("# command: python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__), *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
