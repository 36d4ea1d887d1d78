"""It learns: one env per JAX simulator family trains to a stated return in a short CPU run.

For each env in ENVS (MuJoCo Playground, brax, jumanji, navix, craftax, gymnax MinAtar with
the CNN that `network = "auto"` picks for its image observation), trains the jax pipeline
(and the mixed pipeline on the envs of --mixed-envs, by default navix and brax, the cheap
ones) from Python with the env's config below. Each env's target is judged one of two ways
(`Env.judge`):
- WINDOW: the run stops once the target return is reached (`target_return`: the mean of the
  20 latest episodes; pipelines.episodes) or when the step budget is spent (navix runs its
  whole budget: see MIN_EPISODES);
- LAST_QUARTER (jumanji's Maze, whose 20-episode window is too noisy to decide): the run
  spends its whole budget, and so does a control run of the same config and seed with
  learning rate CONTROL_LR (the untrained policy), trained in the same invocation; the
  statistic is the mean over the last quarter of the updates of each update's 20-latest mean
  (last_quarter_mean), and the target is reached when the run's statistic reaches it and the
  control's does not.
Each target is a level the untrained policy does not reach (its first rows are printed and
plotted), stated before the runs; an env that does not reach it is reported as not reached.

Records each run's curve (the MemoryLogger's rows: steps, mean return, wall time) and writes,
under --out:
    families_learn.csv   one row per update of every run: env, backend ("jax control" for a
                         control run), step, wall_time, mean_return, episodes, sps; the rows
                         of the (env, backend) pairs not run this time are kept
    families_learn.png   mean return against steps, one panel per env of the CSV, target dashed
and prints a table: env, backend, config, target, reached (and at which step, or the
statistics), steps, final return, compile time and wall time; then the CPU, torch's CPU
capability, the load average and the command line. The compile cache is off so that every
wall time includes the compile.

    python benchmarks/families_learn.py                            # every env but snake on jax; navix, brax on mixed too
    python benchmarks/families_learn.py --envs navix brax --mixed-envs navix brax
    python benchmarks/families_learn.py --backends jax             # jax only
    python benchmarks/families_learn.py --envs jumanji --backends jax --seed 1
    python benchmarks/families_learn.py --quick --envs navix       # smoke run: 2 updates, 8 envs
    python benchmarks/families_learn.py --plot-only                # redraw the PNG from the CSV
Exit status 0 when every run finished (reached or not), 1 when a run failed.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402  (benchmarks/ is not a package)

DOCS = Path(__file__).resolve().parents[1] / "docs"
COLUMNS = ("env", "backend", "step", "wall_time", "mean_return", "episodes", "sps")

# How an env's target is judged:
WINDOW = "window"  # the mean of the 20 latest episodes reaches it (pipelines.episodes); the run stops there
# The run spends its whole budget; its statistic is the mean, over the last quarter of its
# updates, of each update's 20-latest mean (last_quarter_mean); a control run of the same
# config and seed with learning rate CONTROL_LR (the untrained policy) is trained in the same
# invocation, and the target is reached when the run's statistic reaches it and the control's
# does not: for envs whose 20-episode window is too noisy to decide.
LAST_QUARTER = "last quarter"
CONTROL_LR = 1e-12


class Env(NamedTuple):
    env_id: str
    target: float
    fields: dict      # TrainConfig fields
    judge: str = WINDOW


# short name -> Env. Each target is a level the untrained policy does not reach: its return is
# in the comment (a random policy's, measured here), so that reaching the target means that the
# policy learned.
ENVS = {
    # Empty 5x5: reward 1 on reaching the goal, 0 on a time-out (100 steps); the first updates'
    # policy reaches it in 40-80% of its episodes. Target: all of the 20 latest episodes.
    "navix": Env("navix/Navix-Empty-5x5-v0", 0.99, dict(
        num_envs=32, num_steps=32, total_steps=60_000, learning_rate=2.5e-4, ent_coef=0.01, gamma=0.99)),
    # Maze 10x10, a new random maze every episode: reward 1 on reaching the target, 100 steps
    # at most; observations: the walls, the agent's and the target's positions, the action mask.
    # The untrained policy (the control) reaches the target in ~27% of its episodes; trained
    # runs ~55% from ~100k steps on. The 20-episode window swings 0.1-0.7 either way, so the
    # judge is the last quarter's mean (~30 episodes end per update). Target: 0.4.
    "jumanji": Env("jumanji/Maze-v0", 0.4, dict(
        num_envs=64, num_steps=32, total_steps=200_000, learning_rate=1e-3, ent_coef=0.01, gamma=0.99,
        num_minibatches=8), LAST_QUARTER),
    # Snake 12x12: +1 per fruit, 4000 steps at most. The action mask keeps a random snake off
    # walls and its body: it dies only when it traps itself, and eats 6.5 fruits per episode
    # (64 uniform random masked episodes, mean length 1666 steps). Target: 10. Not reached in
    # 200k steps (7 minutes here): not run by default (DEFAULT_ENVS).
    "snake": Env("jumanji/Snake-v1", 10.0, dict(
        num_envs=64, num_steps=64, total_steps=200_000, learning_rate=5e-4, ent_coef=0.01, gamma=0.99,
        num_minibatches=8)),
    # Balance the pole, 1000 steps; reward 1 per step alive: the first policies fall in ~5 steps.
    # brax's own PPO settings for it: discount 0.97, lr 3e-4, normalized observations.
    "brax": Env("brax/inverted_pendulum", 900.0, dict(
        num_envs=128, num_steps=32, total_steps=2_000_000, learning_rate=3e-4, ent_coef=0.0, gamma=0.97,
        num_minibatches=4, update_epochs=4, norm_obs=True, norm_reward=True)),
    # dm_control cartpole balance (MJX): reward in [0, 1] per step, 1000 steps; the first
    # policies score ~320. Playground's own PPO settings for it: discount 0.995, lr 1e-3,
    # entropy 1e-2, normalized observations.
    "playground": Env("playground/CartpoleBalance", 800.0, dict(
        num_envs=256, num_steps=32, total_steps=3_000_000, learning_rate=1e-3, ent_coef=0.01, gamma=0.995,
        num_minibatches=8, update_epochs=4, norm_obs=True, norm_reward=True)),
    # MinAtar Breakout with the MinAtar CNN (network auto): the first policies score 0.3.
    "minatar": Env("Breakout-MinAtar", 5.0, dict(
        num_envs=64, num_steps=64, total_steps=200_000, learning_rate=5e-4, ent_coef=0.01, gamma=0.99,
        num_minibatches=8)),
    # Craftax Classic (symbolic): +1 per achievement unlocked in an episode (collect wood,
    # place a table, eat a cow, drink water, ...) and +-0.1 per health point gained or lost; an
    # untrained policy (lr 1e-12) scores 1.0-1.9 (mean of 20 episodes, 80k steps). Target: 3,
    # twice that: the early achievements.
    "craftax": Env("craftax/Craftax-Classic-Symbolic-v1", 3.0, dict(
        num_envs=64, num_steps=64, total_steps=150_000, learning_rate=3e-4, ent_coef=0.01, gamma=0.99,
        num_minibatches=8)),
}
# Envs whose first episodes to end are the successful ones (a time-out is the only other end):
# the first 20 can all be successes before anything is learned (navix's mixed run reached a
# mean of 1.0 at 3,072 steps). They run their whole budget, and the target counts only once
# this many episodes have ended (then the time-outs of the first policies are in the window).
MIN_EPISODES = {"navix": 4 * 32}
DEFAULT_ENVS = [name for name in ENVS if name != "snake"]
MIXED_ENVS = ("navix", "brax")  # the envs that --backends mixed also trains by default (the cheap ones)
QUICK = dict(num_envs=8, num_steps=16, num_minibatches=2, update_epochs=1)  # --quick: 2 updates of this


def config_text(fields: dict) -> str:
    short = {"num_envs": "envs", "num_steps": "steps", "total_steps": "budget", "learning_rate": "lr",
             "ent_coef": "ent", "gamma": "gamma", "num_minibatches": "mb", "update_epochs": "epochs"}
    parts = [f"{short[k]} {v:g}" if isinstance(v, float) else f"{short[k]} {v}" for k, v in fields.items() if k in short]
    parts += [k for k in ("norm_obs", "norm_reward") if fields.get(k)]
    return ", ".join(parts)


def train_one(name: str, backend: str, quick: bool, seed: int, workdir: str, control: bool = False) -> dict:
    """One run -> {"records", "summary", "wall_s", ...}. control: the same run with learning rate
    CONTROL_LR (a LAST_QUARTER env's untrained policy); its backend reads "<backend> control"."""
    from puffer_backend.pipelines import MemoryLogger, load_pipeline
    from puffer_backend.pipelines.config import TrainConfig
    from puffer_backend.pipelines.episodes import first_step_reaching

    env_id, target, fields, judge = ENVS[name]
    fields = dict(fields)
    if quick:
        fields.update(QUICK, total_steps=2 * QUICK["num_envs"] * QUICK["num_steps"])
    if control:
        fields["learning_rate"] = CONTROL_LR
    label = f"{backend} control" if control else backend
    run_name = f"{name}-{label.replace(' ', '-')}-{seed}"
    # --quick runs all its steps (a smoke run's rows do not depend on when the target is seen).
    stop = not quick and name not in MIN_EPISODES and judge == WINDOW
    config = TrainConfig(backend=backend, env_id=env_id, seed=seed, target_return=target if stop else None,
                         compile_cache=False,
                         out_dir=workdir, run_name=run_name, **fields)
    logger = MemoryLogger(os.path.join(workdir, run_name))
    start = time.perf_counter()
    summary = load_pipeline(backend).train(config, logger)
    wall = time.perf_counter() - start
    run = {"env": name, "env_id": env_id, "backend": label, "target": target, "config": config_text(fields),
           "judge": judge, "records": logger.records, "summary": summary, "wall_s": wall, "steps_to_target": None}
    if judge == WINDOW:
        run["steps_to_target"] = first_step_reaching(
            [r for r in logger.records if r["episodes"] >= MIN_EPISODES.get(name, 0)], target)
    else:
        run["statistic"], run["quarter_episodes"] = last_quarter_mean(logger.records)
    return run


def last_quarter_mean(records) -> tuple[float, int]:
    """(mean of `mean_return` over the rows whose step is past 3/4 of the last row's step,
    episodes that ended in those updates). Each row's `mean_return` is the mean of the 20
    latest episodes, so when every update ends at least 20 episodes the rows' windows are
    disjoint and the mean weighs 20 episodes per update equally. Rows without a finite
    mean_return are skipped; (NaN, 0) when none is left."""
    if not records:
        return math.nan, 0
    quarter = 0.75 * records[-1]["step"]
    before = [r for r in records if r["step"] <= quarter]
    rows = [r for r in records if r["step"] > quarter and math.isfinite(r["mean_return"])]
    if not rows:
        return math.nan, 0
    ended = int(records[-1]["episodes"] - (before[-1]["episodes"] if before else 0))
    return sum(r["mean_return"] for r in rows) / len(rows), ended


def judge_controls(runs) -> None:
    """Sets `reached` on every LAST_QUARTER run: a run reaches its target when its statistic
    does and its control's (same env, backend "<backend> control") does not."""
    controls = {(r["env"], r["backend"]): r for r in runs if r["backend"].endswith(" control")}
    for run in runs:
        if run["judge"] != LAST_QUARTER:
            continue
        if run["backend"].endswith(" control"):
            run["reached"] = run["statistic"] >= run["target"]
            continue
        control = controls.get((run["env"], f"{run['backend']} control"))
        run["control_statistic"] = math.nan if control is None else control["statistic"]
        run["reached"] = run["statistic"] >= run["target"] and run["control_statistic"] < run["target"]


def reached_text(run) -> str:
    if run["judge"] == WINDOW:
        return "no" if run["steps_to_target"] is None else f"yes, at {run['steps_to_target']:,}"
    text = f"{run['statistic']:.3g} over the last quarter ({run['quarter_episodes']:,} episodes"
    if "control_statistic" in run:
        text += f"; control {run['control_statistic']:.3g}"
    return f"{'yes' if run['reached'] else 'no'}: {text})"


def write_csv(path: Path, runs) -> None:
    """The runs' rows; the rows of other (env, backend) pairs already in `path` are kept first."""
    fresh = {(run["env"], run["backend"]) for run in runs}
    kept = [row for row in read_csv(path) if (row["env"], row["backend"]) not in fresh] if path.exists() else []
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in kept:
            writer.writerow([row[c] for c in COLUMNS])
        for run in runs:
            for r in run["records"]:
                writer.writerow([run["env"], run["backend"], r["step"], f"{r['wall_time']:.2f}",
                                 f"{r['mean_return']:.4g}", int(r["episodes"]), f"{r['sps']:.0f}"])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def curves(rows) -> list[dict]:
    """CSV rows -> one {"env", "backend", "records"} per (env, backend), in the file's order."""
    runs: dict = {}
    for row in rows:
        run = runs.setdefault((row["env"], row["backend"]), {"env": row["env"], "backend": row["backend"], "records": []})
        run["records"].append({"step": int(row["step"]), "wall_time": float(row["wall_time"]),
                               "mean_return": float(row["mean_return"]), "episodes": int(row["episodes"])})
    return list(runs.values())


SMOOTH = 25  # a LAST_QUARTER env's curve: the mean of this many updates' windows


def write_png(path: Path, runs) -> None:
    """One panel per env, one line per backend (wall time at its last row in the legend);
    a LAST_QUARTER env's lines are the mean of SMOOTH updates' 20-episode windows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(run["env"] for run in runs))
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        env = ENVS.get(name)
        smooth = SMOOTH if env is not None and env.judge == LAST_QUARTER else 1
        for run in (r for r in runs if r["env"] == name):
            steps = [r["step"] for r in run["records"]]
            returns = [r["mean_return"] for r in run["records"]]
            returns = [sum(returns[max(0, i + 1 - smooth):i + 1]) / len(returns[max(0, i + 1 - smooth):i + 1])
                       for i in range(len(returns))]
            ax.plot(steps, returns, label=f"{run['backend']} ({run['records'][-1]['wall_time']:.0f} s)")
        if env is not None:
            ax.axhline(env.target, linestyle="--", color="gray", linewidth=1, label="target")
        if smooth > 1:  # where the last quarter, the judged part, starts
            last = max(r["records"][-1]["step"] for r in runs if r["env"] == name)
            ax.axvline(0.75 * last, linestyle=":", color="gray", linewidth=1, label="last quarter")
        ax.set_title(env.env_id if env is not None else name, fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"mean return (20 latest, {SMOOTH}-update mean)" if smooth > 1 else "mean return (20 latest)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)


def format_table(runs, failed) -> str:
    lines = ["| env | backend | config | target | reached? | steps | final return | compile s | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        s = run["summary"]
        lines.append(f"| {run['env_id']} | {run['backend']} | {run['config']} | {run['target']:g} | "
                     f"{reached_text(run)} | {int(s['steps']):,} | {s['mean_return']:.3g} | {s['compile_s']:.0f} | "
                     f"{run['wall_s']:.0f} |")
    for (name, backend), why in failed.items():
        lines.append(f"| {ENVS[name][0]} | {backend} | {config_text(ENVS[name][2])} | {ENVS[name][1]:g} | "
                     f"failed: {why} | | | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=DEFAULT_ENVS, choices=list(ENVS))
    parser.add_argument("--backends", nargs="+", default=["jax", "mixed"], choices=["jax", "mixed"])
    parser.add_argument("--mixed-envs", nargs="*", default=list(MIXED_ENVS), choices=list(ENVS),
                        help="the envs that the mixed backend trains too (time allowing; default: the cheap ones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(DOCS), help="folder of families_learn.csv and .png")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 small updates per run")
    parser.add_argument("--plot-only", action="store_true",
                        help="train nothing: redraw families_learn.png from the families_learn.csv in --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.plot_only:
        write_png(out / "families_learn.png", curves(read_csv(out / "families_learn.csv")))
        print(f"# wrote {out / 'families_learn.png'}")
        return 0

    print(f"# command: python benchmarks/families_learn.py {shlex.join(sys.argv[1:] if argv is None else argv)}")
    runs, failed = [], {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.envs:
            for backend in args.backends:
                if backend == "mixed" and name not in args.mixed_envs:
                    continue
                for control in (False, True) if ENVS[name].judge == LAST_QUARTER else (False,):
                    try:
                        run = train_one(name, backend, args.quick, args.seed, workdir, control)
                    except Exception as error:  # report it and go on with the other envs
                        traceback.print_exc()
                        failed[(name, f"{backend} control" if control else backend)] = (
                            f"{type(error).__name__}: {error}".splitlines()[0][:120])
                        continue
                    runs.append(run)
                    s = run["summary"]
                    verdict = (f"last quarter {run['statistic']:.3g}" if run["judge"] == LAST_QUARTER else
                               "reached" if run["steps_to_target"] is not None else "not reached")
                    print(f"{run['env_id']:38s} {run['backend']:5s} steps {int(s['steps']):9,d}  "
                          f"return {s['mean_return']:8.3g}  target {run['target']:g} {verdict}  "
                          f"compile {s['compile_s']:5.1f}s  wall {run['wall_s']:6.1f}s", flush=True)
    judge_controls(runs)
    out.mkdir(parents=True, exist_ok=True)
    if runs:
        write_csv(out / "families_learn.csv", runs)
        write_png(out / "families_learn.png", curves(read_csv(out / "families_learn.csv")))
    print()
    print(format_table(runs, failed))
    for line in machine_lines():
        print(line)
    print(f"# wrote {out / 'families_learn.csv'} and {out / 'families_learn.png'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
