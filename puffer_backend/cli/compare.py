"""`puffer-backend compare RUN...`: several runs' learning curves in one image, in the format
that `--out`'s suffix names (plots.IMAGE_FORMATS)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..spec.errors import BadArgumentError
from .errors import UsageError
from .plots import image_format
from .runs import METRICS_FILE, read_metrics, require_run_folder

__all__ = ["run", "run_names"]


def run(args) -> int:
    folders = [require_run_folder(text, METRICS_FILE) for text in args.runs]
    try:
        image_format(args.out, "--out")  # the suffix names the format: curves.jpg is a JPEG
    except BadArgumentError as error:
        raise UsageError(str(error)) from None
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("compare: needs matplotlib, which is not installed (pip install matplotlib)")
    runs = []
    for name, folder in zip(run_names(folders), folders):
        columns = read_metrics(folder)
        for key in (args.metric, args.x):
            if key not in columns:
                raise UsageError(f"--metric: expected a column of {folder / METRICS_FILE} "
                                 f"({', '.join(columns)}), received {key!r}")
        runs.append((name, columns))
    from .plots import plot_compare

    try:
        path = plot_compare(runs, args.out, metric=args.metric, x=args.x)
    except OSError as error:
        raise UsageError(f"--out: cannot write {args.out!r} ({error.strerror})") from None
    print(f"wrote {path} ({len(runs)} runs, {args.metric} by {args.x})", flush=True)
    return 0


def run_names(folders: list[Path]) -> list[str]:
    """Legend labels: the folder names, with the parent added where two names collide."""
    names = [folder.resolve().name for folder in folders]
    return [f"{folder.resolve().parent.name}/{name}" if names.count(name) > 1 else name
            for folder, name in zip(folders, names)]
