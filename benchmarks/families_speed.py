"""Mixed against jax on the same JAX simulator: training-loop steps/s at 64, 256 and 1024 envs.

For each env (default brax/inverted_pendulum and jumanji/Snake-v1), each size in --num-envs,
each repeat and each backend (jax: rollout and update under one jax.jit; mixed: the env
stepped under jit, a torch policy and update), trains --updates updates of num_envs x
--num-steps steps in a fresh subprocess and reads `sps` from the summary: environment steps
per second of the training loop (rollout and update), compile time excluded
(pipelines.metrics). JAX's persistent compilation cache is on, so repeats after the first
compile little; compile time is reported apart either way. Runs are interleaved (env by
env, size by size, repeat by repeat, backend by backend) so that load changes hit both
backends alike; a point is the median over repeats.

The goal (issue): from 64 envs up, mixed reaches at least half of jax's steps/s on the same
env. Prints one row per run, then per env and size: jax sps, mixed sps, their ratio and
whether the goal holds; then the CPU, torch's CPU capability, the load average and the
command. --csv writes the runs (env, backend, num_envs, repeat, steps, sps, compile_s,
wall_s). The exit status is 0 when every point from 64 envs up meets the goal (for each
variant run), else 1. --compile adds a third variant to each repeat, `mixed-compile`: the
mixed pipeline with `--compile` (its torch policy step and update under torch.compile), with
its own ratio.

    python benchmarks/families_speed.py                                   # 2 envs x 64 256 1024, 3 repeats
    python benchmarks/families_speed.py --envs brax/inverted_pendulum --num-envs 64 --repeats 5
    python benchmarks/families_speed.py --envs playground/CartpoleBalance --num-envs 64 --compile
    python benchmarks/families_speed.py --quick                           # smoke run: 8 envs, 1 update
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import child_row, machine_lines  # noqa: E402  (benchmarks/ is not a package)

# What each run trains: (backend, config.compile). "mixed-compile" (--compile) is the mixed
# pipeline with its torch policy step and update under torch.compile.
VARIANTS = {"jax": ("jax", False), "mixed": ("mixed", False), "mixed-compile": ("mixed", True)}
COLUMNS = ("env", "backend", "num_envs", "repeat", "steps", "sps", "compile_s", "wall_s")
ROW_MARK = "FAMILIES-SPEED-ROW "
GOAL = 0.5  # mixed / jax, from 64 envs up


def run_here(env_id: str, variant: str, num_envs: int, num_steps: int, updates: int, seed: int) -> dict:
    """One run in this process (the child side) -> row (its "backend" is the VARIANTS key)."""
    from puffer_backend.pipelines import MemoryLogger, load_pipeline
    from puffer_backend.pipelines.config import TrainConfig

    backend, compiled = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as workdir:
        config = TrainConfig(backend=backend, env_id=env_id, num_envs=num_envs, num_steps=num_steps,
                             total_steps=updates * num_envs * num_steps, seed=seed, out_dir=workdir, run_name="run",
                             compile=compiled)
        start = time.perf_counter()
        summary = load_pipeline(backend).train(config, MemoryLogger(os.path.join(workdir, "run")))
        wall = time.perf_counter() - start
    return {"env": env_id, "backend": variant, "num_envs": num_envs, "repeat": seed, "steps": int(summary["steps"]),
            "sps": float(summary["sps"]), "compile_s": float(summary["compile_s"]), "wall_s": wall}


def run_child(env_id, variant, num_envs, num_steps, updates, seed, timeout_s) -> tuple[dict | None, str]:
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(
        [env_id, variant, num_envs, num_steps, updates, seed])]
    return child_row(command, ROW_MARK, timeout_s)


# The mixed loop's phases: (file, function) as cProfile reports them -> label (pipelines.torch.loop,
# torch.policy, torch.learner, mixed.env): the rollout's policy step, the env step's dispatch
# (the JAX step runs while torch stores the step's rows), the wait for the observation (the
# env step's compute shows here), the rollout's end, and the update.
PHASES = {("loop.py", "collect_rollout"): "rollout (all)",
          ("policy.py", "rollout_step"): "  policy step (torch)",
          ("env.py", "step"): "  env step: dispatch (and refill at t = 0)",
          ("learner.py", "store_step"): "  rows stored",
          ("env.py", "observation"): "  observation: wait for JAX, DLPack",
          ("loop.py", "finish_rollout"): "rollout end: values, rewards, GAE",
          ("learner.py", "ppo_update"): "update (torch)"}


def profile_mixed(env_id: str, num_envs: int, num_steps: int, updates: int) -> list[str]:
    """One mixed run under cProfile -> lines: seconds per phase (cumulative, over the loop's
    updates only: the profile starts after a first untimed run compiled and warmed up)."""
    import cProfile
    import pstats

    run_here(env_id, "mixed", num_envs, num_steps, 1, 0)  # compile (the persistent cache) and warm up
    profiler = cProfile.Profile()
    row = profiler.runcall(run_here, env_id, "mixed", num_envs, num_steps, updates, 0)
    found = {}
    for (filename, _, name), (_, calls, _, cumulative, _) in pstats.Stats(profiler).stats.items():
        for (file, function), label in PHASES.items():
            if name == function and "puffer_backend" in filename and filename.endswith(file):
                calls0, seconds0 = found.get(label, (0, 0.0))
                found[label] = (calls0 + calls, seconds0 + cumulative)
    training_s = row["steps"] / row["sps"]
    lines = [f"# mixed {env_id}, {num_envs} envs x {num_steps} steps, {updates} updates under cProfile: "
             f"{row['sps']:,.0f} steps/s, {training_s:.2f} s of training"]
    for label in PHASES.values():
        if label in found:
            calls, seconds = found[label]
            lines.append(f"#   {label:44s} {seconds:7.2f} s  {100 * seconds / training_s:5.1f}%  ({calls} calls)")
    return lines


def ratio_table(rows, envs, sizes, variants=("jax", "mixed")) -> tuple[str, bool]:
    """The markdown table of medians per env and size: jax's steps/s, then for each other
    variant its steps/s, its ratio to jax and whether that meets GOAL; and whether every
    point from 64 envs up meets it (a missing point fails)."""
    others = [v for v in variants if v != "jax"]
    header = ["env", "envs", "jax steps/s"]
    for variant in others:
        header += [f"{variant} steps/s", f"{variant} / jax", f">= {GOAL}?"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ok = True
    for env_id in envs:
        for n in sizes:
            sps = {v: [r["sps"] for r in rows if (r["env"], r["backend"], r["num_envs"]) == (env_id, v, n)]
                   for v in variants}
            if not all(sps.values()):
                lines.append(f"| {env_id} | {n} | missing |" + " |" * (len(header) - 3))
                ok = False
                continue
            jax_sps = statistics.median(sps["jax"])
            cells = [env_id, str(n), f"{jax_sps:,.0f}"]
            for variant in others:
                ratio = statistics.median(sps[variant]) / jax_sps
                ok &= ratio >= GOAL or n < 64
                cells += [f"{statistics.median(sps[variant]):,.0f}", f"{ratio:.2f}", "yes" if ratio >= GOAL else "no"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=["brax/inverted_pendulum", "jumanji/Snake-v1"])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[64, 256, 1024])
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--updates", type=int, default=4, help="updates per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--csv", help="write one row per run here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 envs, 1 update, 1 repeat")
    parser.add_argument("--compile", action="store_true",
                        help="also run the mixed pipeline with --compile (variant mixed-compile)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the sweep: where the mixed loop's time goes, per env and size (cProfile)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(ROW_MARK + json.dumps(run_here(*json.loads(args.child))), flush=True)
        return 0
    if args.quick:
        args.num_envs, args.updates, args.repeats, args.num_steps = [8], 1, 1, 8

    print(f"# command: python benchmarks/families_speed.py {shlex.join(sys.argv[1:] if argv is None else argv)}")
    if args.profile:
        for env_id in args.envs:
            for n in args.num_envs:
                for line in profile_mixed(env_id, n, args.num_steps, args.updates):
                    print(line, flush=True)
        for line in machine_lines():
            print(line)
        return 0
    variants = ("jax", "mixed", "mixed-compile") if args.compile else ("jax", "mixed")
    rows = []
    for env_id in args.envs:
        for n in args.num_envs:
            for repeat in range(args.repeats):
                for variant in variants:
                    row, why = run_child(env_id, variant, n, args.num_steps, args.updates, repeat, args.timeout)
                    if row is None:
                        print(f"# {env_id} {variant} {n} envs repeat {repeat}: missing ({why})", flush=True)
                        continue
                    rows.append(row)
                    print(f"{env_id:26s} {variant:13s} envs {n:5d}  repeat {repeat}  steps {row['steps']:8d}  "
                          f"steps/s {row['sps']:9.0f}  compile {row['compile_s']:5.1f}s  wall {row['wall_s']:6.1f}s",
                          flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    table, ok = ratio_table(rows, args.envs, args.num_envs, variants)
    print()
    print(table)
    for line in machine_lines():
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
