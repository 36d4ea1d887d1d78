"""Our pipelines beside the real CleanRL and PureJaxRL, run from the users' checkouts in venvs
with the versions their users install: steps/s, end-to-end wall time and steps to 475.

    git clone https://github.com/vwxyzjn/cleanrl ../cleanrl          # outside this repo
    git clone https://github.com/luchris429/purejaxrl ../purejaxrl
    python benchmarks/peers.py --cleanrl ../cleanrl --purejaxrl ../purejaxrl        # 500k steps, seeds 0 1 2
    python benchmarks/peers.py --cleanrl ../cleanrl --purejaxrl ../purejaxrl --steps 20000 --seeds 0 --only jax purejaxrl

The first run makes one venv per peer under benchmarks/results/peers/venvs/ (peers_venvs.py
says what goes in) and re-uses them after (--skip-setup: never install, fail if missing). Then,
seed by seed, each system runs once in its own process, interleaved, so that load from other
work hits all alike (CartPole-v1, CleanRL's settings: 4 envs x 128 steps, 4 epochs x 4
minibatches):
  cleanrl          `python <checkout>/cleanrl/ppo.py --env-id CartPole-v1 --total-timesteps N --seed S`
                   as users run it: TensorBoard on, torch's default threads; steps/s is its last
                   printed SPS (the training loop: env reset to the last update)
  cleanrl-1thread  the same with OMP_NUM_THREADS=1 (only when named in --only)
  torch, torch-compile, mixed
                   `python -m puffer_backend train --backend X [--compile] --steps N --seed S
                   --no-early-stop --quiet`: steps/s from the run folder's summary.json (compile apart)
  purejaxrl        peers_purejaxrl.py: ppo.py's make_train with its own CartPole config, DEBUG
                   off, compiled apart from the timed training call
  jax              as torch, on an empty compile cache; then jax-warm, the same command again on
                   the cache the first filled (the end-to-end comparison)
  torch-64, mixed-64             CartPole-v1 at --num-envs 64
  torch-pendulum, mixed-pendulum Pendulum-v1 with its preset (1 env), --pendulum-steps
Every process's wall time (start to exit: imports, compile, saving) and CPU time are kept. Steps
to 475 follow the pipelines' rule (20-episode mean at an update's end) for every system. Prints
the machine, versions, each command and run, medians and each goal's ratio; writes every run
to a CSV (--csv, default benchmarks/results/peers-<UTC time>.csv). Exit status 0 when every
goal checked passes.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402
from peers_purejaxrl import MARK  # noqa: E402
from peers_stats import cleanrl_episodes, cleanrl_sps, goal_lines, median, update_records  # noqa: E402
from peers_venvs import cleanrl_steps, ensure_venv, purejaxrl_steps, venv_python, versions  # noqa: E402

from puffer_backend.pipelines.episodes import first_step_reaching  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"
ENV = "CartPole-v1"
TARGET = 475.0
BATCH = 4 * 128  # CleanRL's and PureJaxRL's CartPole rollout: 4 envs x 128 steps
# our systems -> their flags of `puffer_backend train`
OURS = {
    "torch": ["--backend", "torch"],
    "torch-compile": ["--backend", "torch", "--compile"],
    "mixed": ["--backend", "mixed"],
    "jax": ["--backend", "jax"],
    "torch-64": ["--backend", "torch", "--num-envs", "64"],
    "mixed-64": ["--backend", "mixed", "--num-envs", "64"],
    "torch-pendulum": ["--backend", "torch", "--env", "Pendulum-v1"],
    "mixed-pendulum": ["--backend", "mixed", "--env", "Pendulum-v1"],
}
# In run order. Not run by default: cleanrl-1thread, CleanRL with OMP_NUM_THREADS=1, the figure
# that moves least with other load (torch's default threads spin against it on a busy machine).
SYSTEMS = ["cleanrl", "cleanrl-1thread", "torch", "torch-compile", "mixed", "purejaxrl", "jax", "torch-64", "mixed-64",
           "torch-pendulum", "mixed-pendulum"]
DEFAULT = [s for s in SYSTEMS if s != "cleanrl-1thread"]
PEERS = ("cleanrl", "cleanrl-1thread", "purejaxrl")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
FIELDS = ["system", "seed", "steps", "sps", "compile_s", "wall_s", "cpu_s", "final_mean_return", "steps_to_target",
          "import_s", "load_before", "command"]


def timed(command: list, cwd: Path, env: dict, timeout: float) -> tuple[subprocess.CompletedProcess | None, float, float]:
    """Run `command` -> (its completed process or None on timeout, wall s, CPU s of the child
    and its descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        done = None
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def failure(done: subprocess.CompletedProcess | None) -> str:
    if done is None:
        return "timed out"
    lines = [line for line in (done.stderr or "").strip().splitlines() if line.strip()]
    return f"exit status {done.returncode}: " + (lines[-1] if lines else "no message")


def run_cleanrl(python: Path, checkout: Path, seed: int, steps: int, work: Path, timeout: float,
                one_thread: bool = False) -> dict:
    command = [str(python), str(checkout / "cleanrl" / "ppo.py"), "--env-id", ENV, "--total-timesteps", str(steps),
               "--seed", str(seed)]
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}  # torch's default threads
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
        command = ["OMP_NUM_THREADS=1"] + command  # as printed; popped below
    folder = work / f"cleanrl{'-1thread' if one_thread else ''}-s{seed}"  # its runs/ (TensorBoard), not in the checkout
    folder.mkdir(parents=True, exist_ok=True)
    done, wall, cpu = timed(command[1:] if one_thread else command, folder, env, timeout)
    row = {"command": " ".join(command), "wall_s": wall, "cpu_s": cpu}
    sps = cleanrl_sps(done.stdout) if done is not None and done.returncode == 0 else None
    if sps is None:
        return {**row, "error": failure(done)}
    episodes = cleanrl_episodes(done.stdout)
    done_steps = steps // BATCH * BATCH
    records = update_records(episodes, BATCH, done_steps)
    return {**row, "steps": done_steps, "sps": sps, "compile_s": None,
            "final_mean_return": records[-1]["mean_return"] if records else None,
            "steps_to_target": first_step_reaching(records, TARGET)}


def run_purejaxrl(python: Path, checkout: Path, seed: int, steps: int, work: Path, timeout: float) -> dict:
    command = [str(python), str(BENCHMARKS / "peers_purejaxrl.py"), "--purejaxrl", str(checkout), "--seed", str(seed),
               "--steps", str(steps)]
    done, wall, cpu = timed(command, work, dict(os.environ), timeout)
    row = {"command": " ".join(command), "wall_s": wall, "cpu_s": cpu}
    lines = [line for line in (done.stdout.splitlines() if done is not None else []) if line.startswith(MARK)]
    if not lines:
        return {**row, "error": failure(done)}
    out = json.loads(lines[-1][len(MARK):])
    records = update_records(out["episodes"], out["batch"], out["steps"])
    return {**row, "steps": out["steps"], "sps": out["sps"], "compile_s": out["compile_s"], "import_s": out["import_s"],
            "final_mean_return": out["final_mean_return"], "steps_to_target": first_step_reaching(records, TARGET)}


def run_ours(system: str, seed: int, steps: int, work: Path, timeout: float, cache: Path, name: str) -> dict:
    """One `puffer_backend train` process; its figures from the run folder it writes."""
    command = [sys.executable, "-m", "puffer_backend", "train", *OURS[system], "--steps", str(steps), "--seed", str(seed),
               "--no-early-stop", "--quiet", "--out", str(work), "--name", name]
    env = dict(os.environ, PUFFER_BACKEND_CACHE_DIR=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)  # a checkout works too
    done, wall, cpu = timed(command, work, env, timeout)
    row = {"command": " ".join(command), "wall_s": wall, "cpu_s": cpu}
    folder = work / name
    if done is None or done.returncode != 0 or not (folder / "summary.json").is_file():
        return {**row, "error": failure(done)}
    return {**row, **run_folder_figures(folder, TARGET if "--env" not in OURS[system] else None)}


def run_folder_figures(folder: Path, target: float | None) -> dict:
    """steps, sps, compile_s and final_mean_return from a run folder's summary.json; the steps
    to `target` (None: not asked) from its metrics.csv, one row per update."""
    summary = json.loads((Path(folder) / "summary.json").read_text())
    with open(Path(folder) / "metrics.csv", newline="") as f:
        records = [{"step": int(float(r["step"])), "mean_return": float(r["mean_return"] or "nan"),
                    "episodes": float(r["episodes"] or 0)} for r in csv.DictReader(f)]
    return {"steps": int(summary["steps"]), "sps": float(summary["sps"]), "compile_s": summary.get("compile_s"),
            "final_mean_return": summary.get("mean_return"),
            "steps_to_target": None if target is None else first_step_reaching(records, target)}


def show(system: str, seed: int, row: dict) -> None:
    if "error" in row:
        print(f"{system:15s} seed {seed}  FAILED ({row['error']})  wall {row['wall_s']:.1f}s", flush=True)
        return
    compile_s = "" if row.get("compile_s") is None else f"  compile {row['compile_s']:.1f}s"
    if row.get("import_s") is not None:
        compile_s += f"  imports {row['import_s']:.1f}s"
    final = row.get("final_mean_return")
    print(f"{system:15s} seed {seed}  steps {row['steps']}  steps/s {row['sps']:10.0f}{compile_s}  "
          f"wall {row['wall_s']:6.1f}s  cpu {row['cpu_s']:6.1f}s  load {row['load_before']:.1f}  "
          f"final {'-' if final is None else f'{final:.1f}'}  steps to {TARGET:.0f}: {row['steps_to_target']}",
          flush=True)


def figures(rows: list[dict]) -> dict:
    """Median steps/s per system, "<system> e2e": median process wall time."""
    out = {}
    for system in {r["system"] for r in rows}:
        mine = [r for r in rows if r["system"] == system and "error" not in r]
        out[system] = median(r["sps"] for r in mine)
        out[f"{system} e2e"] = median(r["wall_s"] for r in mine)
    return {k: v for k, v in out.items() if v is not None}


def learning_lines(rows: list[dict]) -> list[str]:
    """Steps to 475 per CartPole system, and whether each of ours stays within the peers'
    spread: every seed reaches it, and its median is no later than the slowest peer seed."""
    peers = [r["steps_to_target"] for r in rows if r["system"] in PEERS and "error" not in r]
    reached = [s for s in peers if s is not None]
    bound = max(reached) if reached and len(reached) == len(peers) else None
    lines = []
    for system in (*PEERS, "torch", "torch-compile", "mixed", "jax", "jax-warm"):
        mine = [r["steps_to_target"] for r in rows if r["system"] == system and "error" not in r]
        if not mine:
            continue
        text = f"{system}: " + " / ".join("never" if s is None else str(s) for s in mine)
        if system not in PEERS and bound is not None:
            ok = None not in mine and median(mine) <= bound
            text += f"  (slowest peer seed {bound}: {'PASS' if ok else 'FAIL'})"
        lines.append(text)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cleanrl", type=Path, help="CleanRL checkout (holds cleanrl/ppo.py)")
    parser.add_argument("--purejaxrl", type=Path, help="PureJaxRL checkout (holds purejaxrl/ppo.py)")
    parser.add_argument("--steps", type=int, default=500_000, help="steps per CartPole run (default 500000)")
    parser.add_argument("--pendulum-steps", type=int, default=100_000, help="steps per Pendulum-v1 run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=SYSTEMS, default=DEFAULT,
                        help="these systems only (cleanrl-1thread: CleanRL with OMP_NUM_THREADS=1, not by default)")
    parser.add_argument("--skip-setup", action="store_true", help="use the peers' venvs as they are, install nothing")
    parser.add_argument("--torch", default="torch==2.13.0", help="CleanRL venv's torch requirement")
    parser.add_argument("--torch-index", help="pip index of CPU torch wheels for the CleanRL venv")
    parser.add_argument("--venvs", type=Path, default=RESULTS / "peers" / "venvs")
    parser.add_argument("--csv", type=Path, help="default: benchmarks/results/peers-<UTC time>.csv")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    args = parser.parse_args(argv)
    if args.steps < BATCH:
        parser.error(f"--steps: expected at least {BATCH} (one update), received {args.steps}")
    needs = {"cleanrl": {"cleanrl", "cleanrl-1thread"}, "purejaxrl": {"purejaxrl"}}
    for peer, needed in (("cleanrl", "cleanrl/ppo.py"), ("purejaxrl", "purejaxrl/ppo.py")):
        checkout = getattr(args, peer)
        if needs[peer] & set(args.only) and (checkout is None or not (checkout / needed).is_file()):
            parser.error(f"--{peer}: expected a checkout holding {needed}, received {checkout}")

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    work = RESULTS / "peers" / "work" / stamp
    work.mkdir(parents=True, exist_ok=True)
    csv_path = args.csv or RESULTS / f"peers-{stamp}.csv"
    print("# command: python " + " ".join([os.path.relpath(__file__)] + (sys.argv[1:] if argv is None else argv)))
    for line in machine_lines():
        print(line)
    pythons = {}
    for peer, steps, packages in (
            ("cleanrl", lambda: cleanrl_steps(args.cleanrl, args.torch, args.torch_index),
             ["torch", "gymnasium", "numpy", "tensorboard", "tyro"]),
            ("purejaxrl", purejaxrl_steps, ["jax", "jaxlib", "gymnax", "flax", "optax", "distrax", "brax", "navix"])):
        if not needs[peer] & set(args.only):
            continue
        folder = args.venvs / peer
        if args.skip_setup:
            if not venv_python(folder).exists():
                parser.error(f"--skip-setup: expected a venv at {folder}, found none (run once without it)")
            pythons[peer] = venv_python(folder)
        else:
            pythons[peer] = ensure_venv(folder, steps())
        head = subprocess.run(["git", "-C", str(getattr(args, peer)), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        print(f"# {peer}: checkout {getattr(args, peer)} at {head or 'unknown commit'}; venv "
              + ", ".join(f"{k} {v}" for k, v in versions(pythons[peer], packages).items()))
    print("# ours: " + ", ".join(f"{k} {v}" for k, v in versions(sys.executable, ["torch", "jax", "gymnax",
                                                                               "gymnasium", "numpy"]).items()))
    print(f"# {ENV}, CartPole runs {args.steps} steps, Pendulum-v1 runs {args.pendulum_steps}, seeds {args.seeds}, "
          f"systems {args.only}; work folder {work}")

    rows = []
    for seed in args.seeds:
        for system in [s for s in SYSTEMS if s in args.only]:
            steps = args.pendulum_steps if system.endswith("pendulum") else args.steps
            if system.startswith("cleanrl"):
                runs = [(system, lambda: run_cleanrl(pythons["cleanrl"], args.cleanrl.resolve(), seed, steps, work,
                                                     args.timeout, one_thread=system == "cleanrl-1thread"))]
            elif system == "purejaxrl":
                runs = [(system, lambda: run_purejaxrl(pythons["purejaxrl"], args.purejaxrl.resolve(), seed, steps,
                                                       work, args.timeout))]
            else:
                cache = work / f"cache-{system}-s{seed}"  # empty: the first run compiles
                runs = [(system, lambda: run_ours(system, seed, steps, work, args.timeout, cache, f"{system}-s{seed}"))]
                if system == "jax":  # again on the cache the first run filled
                    runs.append(("jax-warm", lambda: run_ours(system, seed, steps, work, args.timeout, cache,
                                                              f"jax-warm-s{seed}")))
            for label, run in runs:
                row = {"system": label, "seed": seed, "load_before": round(os.getloadavg()[0], 2), **run()}
                print("# " + row["command"])
                show(label, seed, row)
                rows.append(row)

    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS + ["error"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    found = figures(rows)
    print("\n# medians over seeds (steps/s; end to end: process start to exit, seconds)")
    for system in dict.fromkeys(r["system"] for r in rows):
        if system in found:
            print(f"{system:15s} steps/s {found[system]:10.0f}  end to end {found[system + ' e2e']:7.1f}s")
    print("\n# goals (ratios of the medians)")
    verdicts = goal_lines(found)
    for line in verdicts:
        print(line)
    print(f"\n# steps to {TARGET:.0f} (20-episode mean at an update's end), per seed")
    learned = learning_lines(rows)
    for line in learned:
        print(line)
    print(f"\n# rows written to {csv_path}; load average now " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    failed = any("error" in r for r in rows) or any("FAIL" in line for line in verdicts + learned)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
