"""Learning-curve plots with matplotlib's object API on the Agg canvas.

No pyplot: nothing global changes (a user's interactive backend stays as it is) and no
display is needed. matplotlib is imported only when a plot is drawn.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from ..spec.errors import bad_value

__all__ = ["curve_figure", "compare_figure", "band_figure", "plot_bands", "image_format", "save_figure", "plot_curve", "plot_compare", "X_AXES",
           "IMAGE_FORMATS", "CURVE_PANELS"]

X_AXES = {"step": "environment steps", "wall_time": "wall time (s)"}
# What curve.png shows beside the return, one panel each, when the run recorded it.
CURVE_PANELS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")
# What the Agg canvas writes by the file's suffix (JPEG and WebP through Pillow, a matplotlib dependency).
IMAGE_FORMATS = ("png", "jpg", "jpeg", "svg", "pdf", "webp")


def _figure(size=(7.0, 4.2), *, layout: str | None = "constrained"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=110, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _fixed_margins(figure, title: bool) -> None:
    """Margins in inches that fit the curve's tick labels and axis labels: set once, where the
    constrained layout measures every text twice per save (half of curve.png's drawing time,
    which every run of the command pays at its end)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=0.8 / width, right=1 - 0.15 / width, bottom=0.55 / height,
                           top=1 - (0.6 if title else 0.25) / height, wspace=0.38, hspace=0.45)


def _column(metrics: Mapping[str, Sequence[float]], key: str, where: str):
    if key not in metrics:
        raise bad_value(where, f"a '{key}' column", f"columns {sorted(metrics)}")
    return [float(v) for v in metrics[key]]


def curve_figure(metrics: Mapping[str, Sequence[float]], *, title: str | None = None,
                 target: float | None = None, metric: str = "mean_return", x: str = "step",
                 panels: Sequence[str] = CURVE_PANELS, resumed_at: Sequence[float] = ()):
    """A Figure of one run: `metrics[metric]` against `metrics[x]` in the first panel, then
    one panel per column of `panels` that the run recorded (a column missing or all NaN is
    left out): by default the losses, entropy, approx_kl and clipfrac.

    metrics: column name -> sequence of floats, as `runs.read_metrics` returns.
    target: draws a dashed horizontal line there (e.g. 475 for CartPole-v1) on the first panel.
    resumed_at: environment steps where the run was resumed (summary.json's `resumed_at`):
    a dotted vertical line on every panel (at the row of that step when x is not `step`).
    title: the figure's title. Raises ValueError when `x` or `metric` is missing.
    """
    xs, ys = _column(metrics, x, "metrics"), _column(metrics, metric, "metrics")
    keys = [metric] + [key for key in panels if key != metric and key in metrics
                       and any(math.isfinite(float(v)) for v in metrics[key])]
    columns = 1 if len(keys) == 1 else min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    figure = _figure((7.0, 4.2) if len(keys) == 1 else (4.2 * columns, 3.0 * rows + 0.4), layout=None)
    _fixed_margins(figure, bool(title))
    marks = _resume_marks(metrics, x, resumed_at)
    for i, key in enumerate(keys):
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.plot(xs, ys if i == 0 else _column(metrics, key, "metrics"), color="tab:blue" if i == 0 else "tab:green",
                  linewidth=1.6 if i == 0 else 1.2, label=key)
        for j, mark in enumerate(marks):
            axes.axvline(mark, color="tab:red", linestyle=":", linewidth=1.0, label="resumed" if j == 0 else None)
        if i == 0 and target is not None:
            axes.axhline(float(target), color="tab:gray", linestyle="--", linewidth=1.0, label=f"target {target:g}")
        if i == 0 and (target is not None or marks):
            axes.legend(loc="best", fontsize="small")
        axes.set_xlabel(X_AXES.get(x, x))
        axes.set_ylabel(key.replace("_", " "))
        axes.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title)
    return figure


def _resume_marks(metrics, x: str, resumed_at: Sequence[float]) -> list[float]:
    """Where on the x axis the resume steps fall (steps; another axis: its value at the row of
    that step, when the run has that row)."""
    if x == "step":
        return [float(step) for step in resumed_at]
    at = {float(step): float(value) for step, value in zip(metrics.get("step", ()), metrics[x])}
    return [at[float(step)] for step in resumed_at if float(step) in at]


def compare_figure(runs: Sequence[tuple[str, Mapping[str, Sequence[float]]]], *, metric: str = "mean_return",
                   x: str = "step", title: str | None = None):
    """A Figure overlaying `metric` against `x` for several runs, one line per run, legend by name.

    runs: (name, columns) pairs. Raises ValueError when `runs` is empty or a column is missing.
    """
    if not runs:
        raise bad_value("runs", "at least one (name, metrics) pair", "none")
    figure = _figure()
    axes = figure.add_subplot()
    for name, metrics in runs:
        axes.plot(_column(metrics, x, f"run {name}"), _column(metrics, metric, f"run {name}"),
                  linewidth=1.4, label=name)
    _label(axes, metric, x, title, "")
    return figure


def band_figure(groups: Sequence[tuple], *, metric: str = "mean_return", x: str = "step", title: str | None = None):
    """A Figure of several groups of runs (seeds of one config): per group its mean line and
    its confidence band, legend by label.

    groups: (label, xs, mean, low, high) tuples, the last four sequences of one length (NaN
    where nothing is drawn), as `seed_stats.bootstrap_band` gives them.
    Raises ValueError when `groups` is empty."""
    if not groups:
        raise bad_value("groups", "at least one (label, xs, mean, low, high) tuple", "none")
    figure = _figure()
    axes = figure.add_subplot()
    for label, xs, mean, low, high in groups:
        line, = axes.plot(xs, mean, linewidth=1.4, label=label)
        axes.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    _label(axes, metric, x, title, ": mean and 95% bootstrap CI")
    return figure


def _label(axes, metric: str, x: str, title: str | None, what: str) -> None:
    """Axis labels, grid, legend and title (default: "<metric> by <x>" and `what`) of a comparison."""
    axes.set_xlabel(X_AXES.get(x, x))
    axes.set_ylabel(metric.replace("_", " "))
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    axes.set_title(title or f"{metric.replace('_', ' ')} by {X_AXES.get(x, x)}{what}")


def image_format(path, argument: str = "path") -> str:
    """The image format that `path`'s suffix names (one of IMAGE_FORMATS, lower case);
    ValueError naming `argument` for any other suffix, or none."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise bad_value(argument, f"an image file name ending in {', '.join('.' + f for f in IMAGE_FORMATS)}",
                        repr(str(path)))
    return suffix


def save_figure(figure, path) -> Path:
    """Write `figure` to `path` in the format its suffix names (`image_format`: `curves.jpg`
    is a JPEG), parent folders created; returns the path."""
    path = Path(path)
    kind = image_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format=kind)
    return path


def plot_curve(metrics, path, **kwargs) -> Path:
    """`curve_figure(metrics, **kwargs)` saved at `path` (save_figure)."""
    return save_figure(curve_figure(metrics, **kwargs), path)


def plot_compare(runs, path, **kwargs) -> Path:
    """`compare_figure(runs, **kwargs)` saved at `path` (save_figure)."""
    return save_figure(compare_figure(runs, **kwargs), path)


def plot_bands(groups, path, **kwargs) -> Path:
    """`band_figure(groups, **kwargs)` saved at `path` (save_figure)."""
    return save_figure(band_figure(groups, **kwargs), path)
