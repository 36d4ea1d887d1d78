"""Run folders: `<out>/<name>/` with config.json (pipelines.config), metrics.csv (written as
records arrive), TensorBoard event files with `--logger tensorboard`, curve.png and
summary.json at the end; the pipeline puts its checkpoint beside them (pipelines.checkpoint).

`RunLogger` is the logger the `puffer-backend` command hands to a pipeline's `train`.
"""
from __future__ import annotations

import csv
import json
import math
import operator
import os
import re
import time
from datetime import datetime
from pathlib import Path

from ..pipelines.config import CONFIG_FILE, TrainConfig
from ..pipelines.metrics import METRIC_KEYS, WALL_TIME
from ..spec.errors import BadTypeError, bad_value
from .errors import PROG, UsageError

__all__ = [
    "METRICS_FILE", "CURVE_FILE", "SUMMARY_FILE", "RunLogger", "default_run_name",
    "create_run_dir", "is_folder_name", "require_run_folder", "read_metrics", "is_main_process",
]

METRICS_FILE = "metrics.csv"
CURVE_FILE = "curve.png"
SUMMARY_FILE = "summary.json"
_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


def is_main_process() -> bool:
    """False on every rank but 0 under torchrun (RANK set, WORLD_SIZE > 1): only rank 0 writes files."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return True
    return int(os.environ.get("RANK", "0") or 0) == 0


def default_run_name(config: TrainConfig, now: datetime | None = None) -> str:
    """`<backend>-<env>-s<seed>-<YYYYmmdd-HHMMSS>`, e.g. `mixed-CartPole-v1-s0-20250101-120000`.
    Characters of the env id that are not letters, digits, `.`, `_` or `-` become `-`: a
    factory `my_envs:make_env` gives `torch-my_envs-make_env-s0-...` (a colon is not allowed
    in Windows names and reads as a host or drive elsewhere; `ALE/Pong-v5` would be a path)."""
    now = now or datetime.now()
    env = _UNSAFE_IN_NAMES.sub("-", config.env_id).strip("-") or "env"
    return f"{config.backend}-{env}-s{config.seed}-{now:%Y%m%d-%H%M%S}"


def is_folder_name(name: str) -> bool:
    """True when `name` is a single path component (not empty, `.` or `..`, no separator)."""
    return bool(name) and name not in (".", "..") and not any(
        sep and sep in name for sep in ("/", os.sep, os.altsep))


def create_run_dir(out_dir, name: str, *, unique: bool = False) -> Path:
    """Create and return `out_dir/name`, never reusing an existing folder.

    unique=False: an existing folder raises FileExistsError (an explicit name is never
    overwritten silently). unique=True: `name-1`, `name-2`, ... is used instead (default
    names that collide within one second).
    Raises ValueError when `name` is empty or not a single path component.
    """
    if not is_folder_name(name):
        raise bad_value("name", "a folder name without path separators", repr(name))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidate, suffix = out_dir / name, 0
    while True:
        try:
            candidate.mkdir()  # atomic: two processes never get the same folder
            return candidate
        except FileExistsError:
            if not unique:
                raise FileExistsError(f"run folder {candidate} already exists; choose another --name") from None
            suffix += 1
            candidate = out_dir / f"{name}-{suffix}"


def require_run_folder(text: str, needs: str, *, label: str = "RUN") -> Path:
    """`text` as a run folder holding the file `needs`; a UsageError (one line, exit 2) naming
    `label` (the argument) otherwise."""
    path = Path(text)
    if not path.is_dir():
        raise UsageError(f"{label}: expected a run folder, received {text!r} (no such folder)")
    if not (path / needs).is_file():
        raise UsageError(f"{label}: expected a run folder holding {needs}, received {text!r} (no {needs})")
    return path


def read_metrics(run_dir_or_csv) -> dict[str, list[float]]:
    """Columns of a run's metrics.csv as floats (an empty cell reads as NaN).

    Accepts a run folder or the CSV path itself. Raises FileNotFoundError when missing.
    """
    path = Path(run_dir_or_csv)
    if path.is_dir():
        path = path / METRICS_FILE
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns: dict[str, list[float]] = {name: [] for name in reader.fieldnames or ()}
        for row in reader:
            for name in columns:
                cell = row.get(name)
                columns[name].append(float(cell) if cell not in (None, "") else math.nan)
    return columns


class RunLogger:
    """The pipeline logger for one run folder.

    `record(step, **metrics)` appends a row to metrics.csv at once (flushed, so a crashed
    or interrupted run keeps its curve) and updates `progress` (a `progress.Progress`, or
    None). Columns: step, METRIC_KEYS, any extra keys of the first record, wall_time (the
    pipeline's, see pipelines.metrics; seconds since the logger was created when a record
    has none). A key missing from a record is left empty; keys first seen after the header
    was written are kept in memory only. `note(text)` shows a status line on the progress
    display (nothing is written).
    `close()` writes curve.png (skipped with a note when matplotlib is not installed) and
    summary.json. With `write=False` (ranks other than 0 under torchrun) nothing is
    written or shown; `run_dir` still names the folder the pipeline may use.

    tensorboard: also write each row as TensorBoard scalars (cli.tensorboard_log; needs the
    `tensorboard` package). wandb: also log each row, the config and the summary to a wandb
    run (cli.wandb_log; needs the `wandb` package); `config` is the run's config (a
    TrainConfig or a dict; None: the folder's config.json). resume_step: continue a resumed run's files, whose checkpoint is
    at that step: metrics.csv keeps its rows up to that step (later ones, written after the
    last checkpoint, are dropped, atomically) and gets the new rows appended; `records`
    starts with the kept rows, so the plot and the summary cover the whole run. The resume
    point is recorded in summary.json's `resumed_at` (the checkpoint steps the run was resumed
    from, in order; written with the first resumed row, so a resumed run interrupted again
    keeps it, and a resume refused before it trains writes nothing) and marked on curve.png.
    """

    def __init__(self, run_dir, *, progress=None, write: bool = True, title: str | None = None,
                 target: float | None = None, tensorboard: bool = False, resume_step: int | None = None,
                 wandb: bool = False, config=None):
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.write = bool(write)
        self.title = title or self.run_dir.name
        self.target = target
        self.records: list[dict] = []
        self.fieldnames: list[str] | None = None
        self.plot_error: str | None = None
        self._start = time.perf_counter()
        self._handle = None
        self._writer = None
        self._closed = False
        self._events = None
        self._wandb = None
        self._resume_saved = None
        self.resumed_at: list[int] = []
        if self.write:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume_step is not None:
                self._continue_metrics(int(resume_step))
                self._record_resume(int(resume_step))
            if tensorboard:
                from .tensorboard_log import TensorBoardWriter

                self._events = TensorBoardWriter(self.run_dir, resume_step=resume_step)
            if wandb:
                from .wandb_log import WandbWriter

                self._wandb = WandbWriter(self.run_dir, _config_dict(self.run_dir, config))

    @property
    def elapsed(self) -> float:
        """Seconds since the logger was created."""
        return time.perf_counter() - self._start

    def record(self, step: int, **metrics) -> None:
        """One row: `step` (environment steps so far) and float-convertible metric values."""
        row = {"step": _as_step(step)}
        for key, value in metrics.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                raise BadTypeError.from_parts(key, "a number", f"{type(value).__name__} {value!r}") from None
        row.setdefault(WALL_TIME, self.elapsed)
        self.records.append(row)
        if self.write:
            if self._resume_saved is not None:
                self._write_resume()
            self._write_row(row)
            scalars = {k: v for k, v in row.items() if k != "step"}
            if self._events is not None:
                self._events.add(row["step"], scalars)
            if self._wandb is not None:
                self._wandb.add(row["step"], scalars)
        if self.progress is not None:
            self.progress.update(row["step"], sps=row.get("sps"), mean_return=row.get("mean_return"))

    def note(self, text: str) -> None:
        """A status line for the progress display, e.g. "compiling the jax program ..."."""
        if self.progress is not None:
            self.progress.note(f"{PROG}: {text}")

    def _write_row(self, row: dict) -> None:
        if self._writer is None:
            extra = [k for k in row if k not in ("step", WALL_TIME, *METRIC_KEYS)]
            self.fieldnames = ["step", *METRIC_KEYS, *extra, WALL_TIME]
            self._handle = open(self.run_dir / METRICS_FILE, "w", newline="")
            self._writer = csv.DictWriter(self._handle, fieldnames=self.fieldnames, extrasaction="ignore",
                                          restval="")
            self._writer.writeheader()
        self._writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        self._handle.flush()

    def _continue_metrics(self, resume_step: int) -> None:
        path = self.run_dir / METRICS_FILE
        if not path.is_file():
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            fieldnames = list(reader.fieldnames or ())
            kept = [row for row in reader if row.get("step") and float(row["step"]) <= resume_step]
        if not fieldnames:
            return
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(kept)
        os.replace(temporary, path)
        self.records = [{"step": _as_step(row["step"]), **{k: float(v) for k, v in row.items() if k != "step" and v}}
                        for row in kept]
        self.fieldnames = fieldnames
        self._handle = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=fieldnames, extrasaction="ignore", restval="")

    def _record_resume(self, resume_step: int) -> None:
        # Earlier resume points come from summary.json; those past this checkpoint were dropped with their rows.
        path = self.run_dir / SUMMARY_FILE
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
        saved = saved if isinstance(saved, dict) else {}
        before = saved.get("resumed_at")
        before = [int(s) for s in before if isinstance(s, (int, float)) and s < resume_step] \
            if isinstance(before, list) else []
        self.resumed_at = before + [resume_step]
        self._resume_saved = {**saved, "resumed_at": self.resumed_at}  # written with the first resumed row

    def _write_resume(self) -> None:
        summary, self._resume_saved = self._resume_saved, None
        (self.run_dir / SUMMARY_FILE).write_text(json.dumps(_jsonable(summary), indent=2, sort_keys=True) + "\n")

    def columns(self) -> dict[str, list[float]]:
        """The recorded rows as columns (NaN where a record lacked a key)."""
        keys: list[str] = []
        for row in self.records:
            keys.extend(k for k in row if k not in keys)
        return {k: [float(row.get(k, math.nan)) for row in self.records] for k in keys}

    def close(self, summary: dict | None = None) -> None:
        """Close metrics.csv and the progress display; write curve.png and summary.json."""
        if self._closed:
            return
        self._closed = True
        if self.progress is not None:
            self.progress.close()
        if self._handle is not None:
            self._handle.close()
        if self._events is not None:
            self._events.close()
        if summary is not None and self.resumed_at:
            summary = {**summary, "resumed_at": self.resumed_at}
        if self._wandb is not None:
            self._wandb.close(None if summary is None else _jsonable(summary))
        if not self.write:
            return
        if summary is not None:
            (self.run_dir / SUMMARY_FILE).write_text(json.dumps(_jsonable(summary), indent=2, sort_keys=True) + "\n")
        if any("mean_return" in row for row in self.records):
            self._plot()

    def _plot(self) -> None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            self.plot_error = "matplotlib is not installed; curve.png not written"
            return
        from .plots import plot_curve

        plot_curve(self.columns(), self.run_dir / CURVE_FILE, title=self.title, target=self.target,
                   resumed_at=self.resumed_at)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _config_dict(run_dir: Path, config) -> dict:
    """The run's config as a dict: a TrainConfig's fields, a dict as is, else config.json's."""
    if isinstance(config, TrainConfig):
        return config.to_dict()
    if config is not None:
        return dict(config)
    try:
        saved = json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _as_step(step) -> int:
    """`step` as an int: Python/numpy/0-d framework integers, or integral floats."""
    if isinstance(step, bool):
        raise BadTypeError.from_parts("step", "an integer", f"bool {step!r}")
    try:
        return operator.index(step)
    except TypeError:
        pass
    try:
        number = float(step)
    except (TypeError, ValueError):
        raise BadTypeError.from_parts("step", "an integer", f"{type(step).__name__} {step!r}") from None
    if not number.is_integer():
        raise bad_value("step", "an integer", repr(step))
    return int(number)


def _jsonable(value):
    """Summary values from any framework (numpy/torch/jax scalars) as plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isfinite(number):
        return int(number) if number.is_integer() and hasattr(value, "__index__") else number
    return None
