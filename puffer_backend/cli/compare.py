"""`puffer-backend compare RUN...`: several runs' learning curves in one image, in the format
that `--out`'s suffix names (plots.IMAGE_FORMATS).

A RUN may be a group folder (`train --seeds`): its runs. Runs whose config.json differ in
their seed only (and where they were saved) are seeds of one config: when some config has
two seeds or more, each config is drawn as its mean and 95% bootstrap band over its seeds
(seed_stats.bootstrap_band; a run that stopped early at its target keeps its last value),
labelled by the config fields that differ between the configs. Otherwise one line per run.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from ..pipelines.config import CONFIG_FILE
from ..spec.errors import BadArgumentError
from .errors import UsageError
from .plots import image_format
from .runs import METRICS_FILE, read_metrics, require_run_folder
from .seeds import group_runs

__all__ = ["run", "run_names", "seed_groups", "group_labels", "NOT_COMPARED"]

# Config fields that say nothing about what trains: not a reason to split runs or to name them.
NOT_COMPARED = ("seed", "out_dir", "run_name", "logger", "save_every", "compile_cache")


def run(args) -> int:
    folders = _run_folders(args.runs)
    try:
        image_format(args.out, "--out")  # the suffix names the format: curves.jpg is a JPEG
    except BadArgumentError as error:
        raise UsageError(str(error)) from None
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("compare: needs matplotlib, which is not installed (pip install matplotlib)")
    columns = []
    for folder in folders:
        found = read_metrics(folder)
        for key in dict.fromkeys((args.metric, args.x, "step")):
            if key not in found:
                raise UsageError(f"--metric: expected a column of {folder / METRICS_FILE} "
                                 f"({', '.join(found)}), received {key!r}")
        columns.append(found)
    groups = seed_groups([_config(folder) for folder in folders])
    try:
        if all(len(members) == 1 for members in groups):
            from .plots import plot_compare

            path = plot_compare(list(zip(run_names(folders), columns)), args.out, metric=args.metric, x=args.x)
            drawn = f"{len(folders)} runs"
        else:
            from .plots import plot_bands

            labels = group_labels([_config(folders[m[0]]) for m in groups], [folders[m[0]] for m in groups],
                                  [len(m) for m in groups])
            bands = [(label, *_band([columns[i] for i in members], args.metric, args.x))
                     for label, members in zip(labels, groups)]
            path = plot_bands(bands, args.out, metric=args.metric, x=args.x)
            drawn = f"{len(folders)} runs in {len(groups)} config{'s' if len(groups) > 1 else ''}, mean and 95% CI"
    except OSError as error:
        raise UsageError(f"--out: cannot write {args.out!r} ({error.strerror})") from None
    print(f"wrote {path} ({drawn}, {args.metric} by {args.x})", flush=True)
    return 0


def _run_folders(texts) -> list[Path]:
    """Each RUN as run folders: a group folder's runs, else the run folder itself; a run named
    twice (alone and in its group) is drawn once."""
    folders, seen = [], set()
    for text in texts:
        for folder in group_runs(text) or [require_run_folder(text, METRICS_FILE)]:
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                folders.append(folder)
    return folders


def _config(folder: Path) -> dict | None:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def seed_groups(configs: list) -> list[list[int]]:
    """Indices of `configs` (dicts, or None for a run without config.json) grouped by what
    trains (every field but NOT_COMPARED), in order of first appearance; a None is alone."""
    groups: dict = {}
    for i, config in enumerate(configs):
        key = ("alone", i) if config is None else json.dumps(
            {k: v for k, v in config.items() if k not in NOT_COMPARED}, sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def group_labels(configs: list, folders: list, sizes: list) -> list[str]:
    """One legend label per group (a member's config, its folder, its run count): the fields
    that differ between the groups' configs (`field=value`), or `backend env_id` when none
    does; a run without config.json by its folder name; `(N seeds)` after each."""
    known = [c for c in configs if c is not None]
    keys = sorted({k for c in known for k in c} - set(NOT_COMPARED))
    differ = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in known}) > 1]
    labels = []
    for config, folder, size in zip(configs, folders, sizes):
        if config is None:
            name = Path(folder).name
        elif differ:
            name = ", ".join(f"{k}={config.get(k)}" for k in differ)
        else:
            name = f"{config.get('backend')} {config.get('env_id')}"
        labels.append(f"{name} ({size} seed{'s' if size > 1 else ''})")
    return labels


def _band(runs: list, metric: str, x: str):
    """(xs, mean, low, high) of runs aligned by step: a run shorter than the longest (stopped
    at its target) keeps its last value after its end; x other than step: its mean there."""
    from ..pipelines.seed_stats import bootstrap_band

    steps = sorted({s for columns in runs for s in columns["step"]})
    where = {s: j for j, s in enumerate(steps)}
    values = np.full((len(runs), len(steps)), np.nan)
    xs = np.full((len(runs), len(steps)), np.nan)
    for i, columns in enumerate(runs):
        for s, y, at in zip(columns["step"], columns[metric], columns[x]):
            values[i, where[s]], xs[i, where[s]] = y, at
        last = where[columns["step"][-1]] if columns["step"] else -1
        if last >= 0 and np.isfinite(values[i, last]):
            values[i, last + 1:] = values[i, last]
    mean, low, high = bootstrap_band(values)
    with np.errstate(all="ignore"):
        x_values = np.asarray(steps, float) if x == "step" else np.array([np.nanmean(c) if np.isfinite(c).any()
                                                                          else np.nan for c in xs.T])
    return x_values, mean, low, high


def run_names(folders: list[Path]) -> list[str]:
    """Legend labels: the folder names, with the parent added where two names collide."""
    names = [folder.resolve().name for folder in folders]
    return [f"{folder.resolve().parent.name}/{name}" if names.count(name) > 1 else name
            for folder, name in zip(folders, names)]
