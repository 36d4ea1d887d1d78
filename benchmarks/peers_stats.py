"""The figures of benchmarks/peers.py from what each run leaves: the real CleanRL's printed
lines, PureJaxRL's per-step episode log, our run folder's metrics; medians and the goals.

Every system is held to one learning rule, the pipelines' (puffer_backend.pipelines.episodes):
the mean return of the 20 latest finished episodes, read at the end of each update, counts
once 20 episodes have ended (`first_step_reaching` there reads the records made here). An
episode belongs to the update in which its last step was taken. numpy only at import (PureJaxRL's venv imports this module too).
"""
from __future__ import annotations

import math
import re
import statistics

import numpy as np

__all__ = ["cleanrl_sps", "cleanrl_episodes", "episodes_from_log", "update_records", "median",
           "GOALS", "goal_lines", "requirement_pins"]

RETURN_WINDOW = 20  # as pipelines.episodes.RETURN_WINDOW
# ppo.py prints `SPS: 1234` once per update (global_step over the time since its loop began)
# and `global_step=68, episodic_return=[17.]` for each finished episode.
_SPS = re.compile(r"^SPS:\s*([0-9]+(?:\.[0-9]*)?)\s*$", re.MULTILINE)
_EPISODE = re.compile(r"^global_step=([0-9]+),\s*episodic_return=\[?\s*([-+0-9.eE]+|nan)\s*\]?\s*$",
                      re.MULTILINE)


def cleanrl_sps(stdout: str) -> float | None:
    """The last `SPS:` line ppo.py printed: steps over the whole training loop (env reset to
    the last update, TensorBoard writes included, imports and set-up not); None if none."""
    found = _SPS.findall(stdout)
    return float(found[-1]) if found else None


def cleanrl_episodes(stdout: str) -> list[tuple[int, float]]:
    """(global_step, return) of every episode ppo.py printed, in printed order."""
    return [(int(step), float(ret)) for step, ret in _EPISODE.findall(stdout)]


def episodes_from_log(returned_episode, returned_episode_returns, num_envs: int) -> list[tuple[int, float]]:
    """(global step, return) of each finished episode in PureJaxRL's per-step info, arrays of
    shape (updates, steps per update, envs): the step index t over the run (0-based) counts
    num_envs * (t + 1) env steps; episodes ending on the same step come in env order."""
    done = np.asarray(returned_episode, dtype=bool)
    returns = np.asarray(returned_episode_returns, dtype=np.float64)
    if done.ndim != 3 or done.shape != returns.shape:
        raise ValueError(f"returned_episode: expected two arrays of one shape (updates, steps, envs), "
                         f"received {done.shape} and {returns.shape}")
    flat_done = done.reshape(-1, done.shape[-1])
    flat_returns = returns.reshape(flat_done.shape)
    steps, envs = np.nonzero(flat_done)  # row-major: step by step, env order within a step
    return [(int(num_envs * (t + 1)), float(flat_returns[t, e])) for t, e in zip(steps, envs)]


def update_records(episodes, batch: int, total_steps: int, window: int = RETURN_WINDOW) -> list[dict]:
    """One record per update of `batch` steps, up to total_steps // batch updates, as the
    pipelines log them: step (at the update's end), mean_return (of the `window` latest
    episodes, NaN before the first), episodes (finished so far)."""
    if batch <= 0:
        raise ValueError(f"batch: expected a positive int, received {batch!r}")
    records, recent, done, i = [], [], 0, 0
    episodes = list(episodes)
    for update in range(1, total_steps // batch + 1):
        end = update * batch
        while i < len(episodes) and episodes[i][0] <= end:
            recent.append(episodes[i][1])
            done += 1
            i += 1
        del recent[:-window]
        records.append({"step": end, "mean_return": float(np.mean(recent)) if recent else math.nan,
                        "episodes": done})
    return records


def median(values) -> float | None:
    """Median of the values that are not None or NaN; None when none is left."""
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return statistics.median(kept) if kept else None


# (what is compared, numerator figure, denominator figure, goal: (">=" or "<=", ratio) or None).
# Figures: a system's median steps/s, or "<system> e2e" for its median process wall time.
GOALS = [
    ("torch vs real CleanRL", "torch", "cleanrl", (">=", 3.0)),
    ("torch --compile vs real CleanRL", "torch-compile", "cleanrl", (">=", 3.5)),
    ("torch vs real CleanRL with OMP_NUM_THREADS=1", "torch", "cleanrl-1thread", None),
    ("mixed vs real CleanRL", "mixed", "cleanrl", None),
    ("mixed vs torch, 4 envs", "mixed", "torch", (">=", 1.0)),
    ("jax vs real PureJaxRL (compile apart)", "jax", "purejaxrl", (">=", 1.3)),
    ("jax end to end, warm cache / PureJaxRL's", "jax-warm e2e", "purejaxrl e2e", ("<=", 1 / 2.5)),
    ("mixed vs torch, 64 envs", "mixed-64", "torch-64", (">=", 1.5)),
    ("mixed vs torch, Pendulum-v1 preset, 1 env", "mixed-pendulum", "torch-pendulum", (">=", 1.0)),
]


def goal_lines(figures: dict) -> list[str]:
    """One line per goal whose two figures were measured: the ratio and PASS/FAIL (or "no
    goal stated"); goals missing a figure are left out."""
    lines = []
    for label, top, bottom, goal in GOALS:
        a, b = figures.get(top), figures.get(bottom)
        if a is None or b is None or b == 0:
            continue
        ratio = a / b
        if goal is None:
            verdict = "no goal stated"
        else:
            sense, bound = goal
            met = ratio >= bound if sense == ">=" else ratio <= bound
            verdict = f"goal {sense} {bound:.2f}: {'PASS' if met else 'FAIL'}"
        lines.append(f"{label}: {a:.6g} / {b:.6g} = {ratio:.2f}x  ({verdict})")
    return lines


def requirement_pins(text: str, names) -> dict[str, str]:
    """{name: version} for each of `names` pinned as `name==version` in a requirements file's
    text (comments, markers after `;` and other lines ignored; names compared as pip does,
    case-insensitive with - and _ alike)."""
    wanted = {re.sub(r"[-_.]+", "-", n).lower(): n for n in names}
    pins = {}
    for line in text.splitlines():
        spec = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" not in spec:
            continue
        name, version = (s.strip() for s in spec.split("==", 1))
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in wanted:
            pins[wanted[key]] = version
    return pins
