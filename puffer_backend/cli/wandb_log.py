"""Weights & Biases beside metrics.csv (`--logger wandb`).

wandb is an optional extra (`pip install 'puffer-backend[wandb]'`), imported only when a
run logs to it. Each row of metrics.csv is logged as one wandb history row holding the same
scalars plus `step` (environment steps), which every other metric is plotted against
(`define_metric`); the run's config is the wandb run's config, its summary the wandb summary.

The wandb run starts with the first row and is named after the run folder; its id is kept in the folder (`wandb.json`), so
a resumed run continues the same wandb run (`resume="allow"`). Rows a stopped run logged
after its last checkpoint stay in wandb's history (wandb cannot drop them): the resumed rows
follow them, at their own `step`. wandb's files go to `WANDB_DIR` when it is set, else to the
run folder (`RUN/wandb/`); `WANDB_MODE=offline` keeps them there only, `WANDB_PROJECT` names
the project (default `puffer-backend`).
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import string
from pathlib import Path

__all__ = ["WandbWriter", "wandb_missing", "ID_FILE", "DEFAULT_PROJECT"]

ID_FILE = "wandb.json"
DEFAULT_PROJECT = "puffer-backend"
_ID_CHARS = string.ascii_lowercase + string.digits  # what wandb's own ids are made of


def wandb_missing() -> bool:
    """True when the `wandb` package is not installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("wandb") is None
    except (ImportError, ValueError):  # blocked, or a broken installation
        return True


class WandbWriter:
    """Logs rows to a wandb run for the run folder `run_dir`, with `config` (a dict) as its config.

    Raises ModuleNotFoundError when wandb is not installed.
    """

    def __init__(self, run_dir, config: dict):
        import wandb  # noqa: F401  (fails here, before training, when it is missing)

        self.run_dir, self.config, self.run = Path(run_dir), dict(config), None

    def _start(self) -> None:
        # At the first row: a run refused before it records nothing leaves no wandb run.
        import wandb

        saved = _saved_id(self.run_dir)
        run_id = saved.get("id") or "".join(secrets.choice(_ID_CHARS) for _ in range(8))
        project = os.environ.get("WANDB_PROJECT") or saved.get("project") or DEFAULT_PROJECT
        # Read here, not from wandb's settings of the process, which keep the first run's.
        where = os.environ.get("WANDB_DIR") or str(self.run_dir)
        self.run = wandb.init(project=project, name=self.run_dir.name, id=run_id, resume="allow", dir=where,
                              mode=os.environ.get("WANDB_MODE") or None, config=self.config,
                              settings=wandb.Settings(silent=True))
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")
        (self.run_dir / ID_FILE).write_text(json.dumps({"id": run_id, "project": project}) + "\n")

    def add(self, step: int, row: dict) -> None:
        """One history row: `step` and a scalar per key of `row`."""
        if self.run is None:
            self._start()
        self.run.log({"step": int(step), **{key: float(value) for key, value in row.items()}})

    def close(self, summary: dict | None = None) -> None:
        """Set the run's summary (the pipeline's, when the run finished) and finish the run."""
        if self.run is None:
            return
        if summary:
            self.run.summary.update(summary)
        self.run.finish()


def _saved_id(run_dir: Path) -> dict:
    try:
        saved = json.loads((run_dir / ID_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}
