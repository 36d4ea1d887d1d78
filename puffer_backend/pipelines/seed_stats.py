"""Several seeds of one config: which seeds (`parse_seeds`, `check_seeds`) and what their
results say together (`aggregate`), with rliable's definitions (Agarwal et al., 2021):

- IQM, the interquartile mean: the mean of the middle 50% of the runs, a quarter of them
  (rounded down) cut from each end, as `scipy.stats.trim_mean(values, 0.25)`;
- the confidence interval of the mean: a percentile bootstrap over runs (resample the runs
  with replacement, take the mean of each resample, read the 2.5% and 97.5% quantiles).

numpy only (rliable itself pulls arch, statsmodels and seaborn); framework-free.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..spec.errors import bad_type, bad_value
from .config import MAX_SEED

__all__ = ["parse_seeds", "check_seeds", "iqm", "bootstrap_ci", "bootstrap_band", "aggregate", "GROUP_FILE", "BOOTSTRAP_RESAMPLES"]

GROUP_FILE = "group.json"  # a group folder's aggregate, beside its runs' folders
BOOTSTRAP_RESAMPLES = 2000
_MAX_SEEDS = 4096  # a typo such as 0-4000000 is refused before thousands of runs start


def parse_seeds(text: str, argument: str = "--seeds") -> tuple[int, ...]:
    """`"0-15"` (a range, both ends included), `"0,3,7"` (a list) or both (`"0-3,8"`) -> the
    seeds in the order given. ValueError naming `argument` for anything else, a repeated
    seed, or a seed outside [0, 2**32)."""
    if not isinstance(text, str):
        raise bad_type(argument, "a str such as '0-15' or '0,3,7'", text)
    seeds = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise bad_value(argument, "seeds as a range '0-15', a list '0,3,7' or both '0-3,8'",
                            repr(text)) from None
        if last < first:
            raise bad_value(argument, f"a range whose end is not below its start ({part.strip()!r})", repr(text))
        if last - first >= _MAX_SEEDS:
            raise bad_value(argument, f"at most {_MAX_SEEDS} seeds", repr(text))
        seeds.extend(range(first, last + 1))
    return check_seeds(seeds, argument)


def check_seeds(seeds, argument: str = "seeds") -> tuple[int, ...]:
    """`seeds` (ints, each once, in [0, 2**32)) as a tuple; TypeError/ValueError naming
    `argument` otherwise."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise bad_type(argument, "a sequence of ints such as range(8)", seeds)
    seeds = list(seeds)
    if not seeds:
        raise bad_value(argument, "at least one seed", "none")
    if len(seeds) > _MAX_SEEDS:
        raise bad_value(argument, f"at most {_MAX_SEEDS} seeds", f"{len(seeds)} seeds")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise bad_type(argument, "ints", seed)
        if not 0 <= seed <= MAX_SEED:
            raise bad_value(argument, f"seeds in [0, {MAX_SEED}]", repr(seed))
    repeated = sorted({int(s) for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise bad_value(argument, "each seed once", f"{repeated[0]} more than once")
    return tuple(int(s) for s in seeds)


def _values(values, argument: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise bad_value(argument, "a non-empty 1-d sequence of numbers", f"shape {array.shape}")
    return array


def iqm(values) -> float:
    """The interquartile mean of `values`: `floor(n / 4)` values cut from each end of the
    sorted values, the mean of the rest (scipy.stats.trim_mean(values, 0.25); the mean when n < 4)."""
    array = np.sort(_values(values, "values"))
    cut = int(0.25 * array.size)
    return float(array[cut:array.size - cut].mean())


def bootstrap_ci(values, confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap confidence interval of the mean of `values` over runs:
    `resamples` resamples with replacement (numpy's default_rng(seed), so the same values
    give the same interval), the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of
    their means. One value gives (value, value)."""
    array = _values(values, "values")
    if not 0 < confidence < 1:
        raise bad_value("confidence", "a number in (0, 1)", repr(confidence))
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, array.size, size=(int(resamples), array.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def bootstrap_band(values, confidence: float = 0.95, resamples: int = 1000, seed: int = 0):
    """Learning curves `(runs, points)` (NaN where a run has no value) -> (mean, low, high),
    each `(points,)`: per point the mean over the runs with a value and bootstrap_ci's
    interval (the same resampled runs at every point, so the band is one curve's
    uncertainty); NaN where no run has a value."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise bad_value("values", "a 2-d array (runs, points) with at least one run", f"shape {array.shape}")
    rng = np.random.default_rng(seed)
    picks = array[rng.integers(0, array.shape[0], size=(int(resamples), array.shape[0]))]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # points that no run (or no resample) has
        mean = np.nanmean(array, axis=0)
        low, high = np.nanquantile(np.nanmean(picks, axis=1), [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return mean, low, high


def aggregate(summaries: dict) -> dict:
    """{seed: a run's summary (pipelines.metrics)} -> the group's aggregate of the runs'
    final mean returns: per-seed `final_return` and `steps_to_target` (when the runs had a
    target), and over the seeds whose return is finite: `mean`, `ci95` (bootstrap_ci),
    `iqm`, `seeds` (how many)."""
    summaries = {int(s): summaries[s] for s in sorted(summaries, key=int)}  # the same group, the same numbers
    finals = {s: _finite_or_none(summary.get("mean_return")) for s, summary in summaries.items()}
    finite = [v for v in finals.values() if v is not None]
    result = {"seeds": len(finals), "final_return": {str(s): v for s, v in finals.items()},
              "mean": float(np.mean(finite)) if finite else None,
              "ci95": list(bootstrap_ci(finite)) if finite else None,
              "iqm": iqm(finite) if finite else None,
              "statistics": "ci95: percentile bootstrap over runs of the mean final return "
                            f"({BOOTSTRAP_RESAMPLES} resamples); iqm: mean of the middle 50% of runs"}
    if any("steps_to_target" in summary for summary in summaries.values()):
        result["steps_to_target"] = {str(s): summary.get("steps_to_target") for s, summary in summaries.items()}
    return result


def _finite_or_none(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
