"""Scaling sweep: training-loop steps/s of every pipeline and baseline against the number of envs.

For each size in --num-envs, each repeat and each system (the torch, jax and mixed pipelines,
then every baseline that `benchmarks/baselines/` declares; see runner.py), trains CartPole-v1
for the same number of updates (total steps = updates x num_envs x 128), each run in a fresh
subprocess so that JAX compile caches, thread pools and memory do not carry over. Runs are
interleaved (size by size, repeat by repeat, system by system) so load changes hit every
system alike. A point is the median over repeats of the training-loop steps/s that the system
reports, compile time excluded (`sps`; `compile_s` is reported apart). A system that is not
installed or whose run fails is reported as missing, with the reason, and the sweep goes on.

Writes a CSV (system, num_envs, repeat, steps, sps, compile_s, wall_s; one row per finished run)
and a PNG of steps/s against envs, both axes log, one line per system; prints a table, the
CPU, the thread counts and the command line.

    python benchmarks/scaling.py                                  # 4 64 512 envs, 10 updates, 3 repeats
    python benchmarks/scaling.py --num-envs 4 64 --updates 20 --systems torch mixed
    python benchmarks/scaling.py --profile-dir prof --repeats 1   # also cProfile each run, print top items
    python benchmarks/scaling.py --quick                           # smoke run: 4 and 8 envs, 1 update
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
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import child_row, machine_lines  # noqa: E402  (benchmarks/ is not a package)
from runner import baseline_modules, load_baseline, run_baseline, run_pipeline  # noqa: E402

PIPELINES = ("torch", "jax", "mixed")
NUM_STEPS = 128  # rollout length of every system's default config
COLUMNS = ("system", "num_envs", "repeat", "steps", "sps", "compile_s", "wall_s")
ROW_MARK = "SCALING-ROW "  # prefix of the child's one result line on stdout
ENV_ID = "CartPole-v1"


def all_systems() -> list[str]:
    """The pipelines, then the declared baselines."""
    return list(PIPELINES) + list(baseline_modules())


def run_here(system: str, num_envs: int, steps: int, seed: int, profile: str | None) -> dict:
    """One training run in this process -> row dict (the child side)."""
    def train():
        if system in PIPELINES:
            with tempfile.TemporaryDirectory() as workdir:
                return run_pipeline(system, seed, steps, ENV_ID, workdir, num_envs=num_envs)
        return run_baseline(system, seed, steps, num_envs=num_envs)

    if profile is None:
        row = train()
    else:
        import cProfile
        # Imports outside the profile, so that it shows the run rather than module loading.
        if system in PIPELINES:
            from puffer_backend.pipelines import load_pipeline
            load_pipeline(system)
        else:
            load_baseline(system)
        profiler = cProfile.Profile()
        row = profiler.runcall(train)
        profiler.dump_stats(profile)
    compile_s = row["compile_s"]
    return {"system": system, "num_envs": num_envs, "repeat": seed, "steps": row["steps"],
            "sps": row["sps"], "compile_s": None if compile_s is None else float(compile_s),
            "wall_s": row["wall_s"]}


def run_child(system: str, num_envs: int, steps: int, seed: int, timeout_s: float,
              profile: str | None = None) -> tuple[dict | None, str]:
    """One run in a fresh interpreter -> (row, "") or (None, why it is missing)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", system,
               "--child-envs", str(num_envs), "--child-steps", str(steps), "--child-seed", str(seed)]
    if profile is not None:
        command += ["--child-profile", profile]
    return child_row(command, ROW_MARK, timeout_s)


def sweep(systems, sizes, updates, repeats, timeout_s, profile_dir=None, say=print):
    """Every (size, repeat, system) run, interleaved -> (rows, {system: reason} of the missing)."""
    rows, missing = [], {}
    for num_envs in sizes:
        steps = updates * num_envs * NUM_STEPS
        for repeat in range(repeats):
            for system in systems:
                if system in missing:
                    continue  # not installed or broken: do not pay its start-up again
                profile = None if profile_dir is None else str(Path(profile_dir) / f"{system}-{num_envs}-{repeat}.prof")
                row, why = run_child(system, num_envs, steps, repeat, timeout_s, profile)
                if row is None:
                    missing[system] = f"{num_envs} envs, repeat {repeat}: {why}"
                    say(f"# {system}: missing ({missing[system]})")
                    continue
                rows.append(row)
                compile_s = "" if row["compile_s"] is None else f"  compile {row['compile_s']:5.1f}s"
                say(f"{system:16s} envs {num_envs:5d}  repeat {repeat}  steps {row['steps']:8d}  "
                    f"steps/s {row['sps']:10.0f}{compile_s}  wall {row['wall_s']:6.1f}s", flush=True)
    return rows, missing


def medians(rows) -> dict:
    """{(system, num_envs): (median sps, median compile_s or None)}."""
    groups = {}
    for row in rows:
        groups.setdefault((row["system"], row["num_envs"]), []).append(row)
    out = {}
    for key, group in groups.items():
        compiles = [r["compile_s"] for r in group if r["compile_s"] is not None]
        out[key] = (statistics.median(r["sps"] for r in group),
                    statistics.median(compiles) if compiles else None)
    return out


def format_table(systems, sizes, rows, missing) -> str:
    """Markdown table: one row per system, median steps/s (and compile s) per size."""
    point = medians(rows)
    lines = ["| system | " + " | ".join(f"{n} envs" for n in sizes) + " |",
             "|---" * (len(sizes) + 1) + "|"]
    for system in systems:
        cells = []
        for n in sizes:
            if (system, n) not in point:
                cells.append("missing")
                continue
            sps, compile_s = point[(system, n)]
            cells.append(f"{sps:,.0f}" + ("" if not compile_s else f" (+{compile_s:.1f} s compile)"))
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines += [f"missing: {system}: {why}" for system, why in missing.items()]
    return "\n".join(lines)


def write_csv(path, rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})


def write_png(path, systems, sizes, rows, title) -> None:
    """steps/s (median over repeats) against envs, both axes log, one line per system."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    point = medians(rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for system in systems:
        xs = [n for n in sizes if (system, n) in point]
        if xs:
            ax.plot(xs, [point[(system, n)][0] for n in xs], marker="o", label=system)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("parallel envs (CartPole-v1, 128 steps each per update)")
    ax.set_ylabel("training-loop steps/s (compile excluded)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def print_profiles(profile_dir, top: int) -> None:
    """For each profiled run: the top functions by own time, then the project's and the
    baselines' functions by cumulative time (the phases: rollout, env step, update)."""
    import pstats
    for path in sorted(Path(profile_dir).glob("*.prof")):
        print(f"\n# profile {path.stem}: top {top} by own time")
        pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)
        print(f"# profile {path.stem}: top {top} of puffer_backend/baselines by cumulative time")
        pstats.Stats(str(path)).sort_stats("cumulative").print_stats(r"puffer_backend|baselines", top)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[4, 64, 512])
    parser.add_argument("--updates", type=int, default=10, help="updates per run, the same at every size")
    parser.add_argument("--repeats", type=int, default=3, help="runs per point (seeds 0..repeats-1); the point is their median")
    parser.add_argument("--systems", nargs="+", help="default: the three pipelines and every declared baseline")
    parser.add_argument("--csv", default="scaling.csv")
    parser.add_argument("--png", default="scaling.png")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run before it counts as missing")
    parser.add_argument("--profile-dir", help="cProfile each run into this folder and print its top items")
    parser.add_argument("--profile-top", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="smoke run: sizes 4 and 8, 1 update, 1 repeat")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-envs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.num_envs, args.updates, args.repeats = [4, 8], 1, 1
    known = all_systems()
    args.systems = args.systems or known
    for system in args.systems:
        if system not in known:
            parser.error(f"--systems: expected names from {known}, received {system!r}")
    for flag, value in (("--updates", args.updates), ("--repeats", args.repeats), *(("--num-envs", n) for n in args.num_envs)):
        if value <= 0:
            parser.error(f"{flag}: expected a positive int, received {value}")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.child:
        row = run_here(args.child, args.child_envs, args.child_steps, args.child_seed, args.child_profile)
        print(ROW_MARK + json.dumps(row), flush=True)
        return 0

    print("# command: " + shlex.join([os.path.basename(sys.executable), *sys.argv]))
    for line in machine_lines():
        print(line)
    sizes = sorted(set(args.num_envs))
    print(f"# sizes {sizes}, {args.updates} updates x 128 steps per env, {args.repeats} repeats, "
          f"systems {args.systems}; each run in a fresh subprocess", flush=True)
    if args.profile_dir:
        os.makedirs(args.profile_dir, exist_ok=True)
    started = time.perf_counter()
    rows, missing = sweep(args.systems, sizes, args.updates, args.repeats, args.timeout, args.profile_dir)
    print(f"# sweep took {time.perf_counter() - started:.0f}s; load average after "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("\nmedian training-loop steps/s (compile excluded; compile time in brackets)\n")
    print(format_table(args.systems, sizes, rows, missing))
    write_csv(args.csv, rows)
    cpu = machine_lines()[0].split(",")[0].removeprefix("# cpu: ")
    write_png(args.png, args.systems, sizes, rows,
              f"CartPole-v1 PPO, {args.updates} updates per run, median of {args.repeats}; {cpu}")
    print(f"\n# wrote {args.csv} and {args.png}")
    if args.profile_dir:
        print_profiles(args.profile_dir, args.profile_top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
