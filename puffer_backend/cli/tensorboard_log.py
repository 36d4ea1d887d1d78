"""TensorBoard event files beside metrics.csv (`--logger tensorboard`).

Written with TensorBoard's own event writer (the `tensorboard` package, which
`torch.utils.tensorboard` also writes with), so no backend needs torch or TensorFlow for it.
Each row of metrics.csv becomes one event at its `step`, one scalar per column, tagged with
the column's name; the event's own time is the moment the row was recorded.

A resumed run appends a new event file and first writes a START event at the checkpoint's
step + 1: TensorBoard then drops the earlier files' events from that step on (the rows a
stopped run wrote after its last checkpoint), as it does for a restarted TensorFlow job.
"""
from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

__all__ = ["TensorBoardWriter", "tensorboard_missing", "EVENT_FILE_PREFIX"]

EVENT_FILE_PREFIX = "events.out.tfevents."
_EVENT_SECONDS = re.compile(re.escape(EVENT_FILE_PREFIX) + r"(\d+)\.")


def tensorboard_missing() -> bool:
    """True when the `tensorboard` package is not installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("tensorboard") is None
    except (ImportError, ValueError):  # blocked, or a broken installation
        return True


class TensorBoardWriter:
    """Writes rows as TensorBoard scalars into an event file in `run_dir`.

    resume_step: the step of the checkpoint a resumed run continues from (None for a new
    run): events of earlier files from the next step on are discarded by TensorBoard.
    Raises ModuleNotFoundError when the `tensorboard` package is not installed.
    """

    def __init__(self, run_dir, *, resume_step: int | None = None):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2, summary_pb2
        run_dir = Path(run_dir)
        if resume_step is not None:
            _wait_past_existing_files(run_dir)
        self._writer = EventFileWriter(str(run_dir), flush_secs=5)
        if resume_step is not None:
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(resume_step) + 1, session_log=start))

    @property
    def path(self) -> Path:
        """The event file this writer appends to."""
        return Path(self._writer.get_filename())

    def add(self, step: int, row: dict) -> None:
        """One event at `step` holding a scalar per key of `row` (float values)."""
        values = [self._summary.Summary.Value(tag=key, simple_value=float(value)) for key, value in row.items()]
        self._writer.add_event(self._event.Event(wall_time=time.time(), step=int(step),
                                                 summary=self._summary.Summary(value=values)))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _wait_past_existing_files(run_dir: Path) -> None:
    # TensorBoard reads a folder's event files in name order, and a name starts with the
    # second it was created: a resumed run's file must sort after the files it follows.
    seconds = [int(m.group(1)) for p in run_dir.glob(EVENT_FILE_PREFIX + "*")
               if (m := _EVENT_SECONDS.match(p.name))]
    if seconds:
        delay = max(seconds) + 1 - time.time()
        if delay > 0:
            time.sleep(delay)
