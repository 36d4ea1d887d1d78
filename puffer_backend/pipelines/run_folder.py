"""One run folder, one training process, and a new run never takes over another run's folder.

`claim_run_folder(run_dir, config, resume=...)` is entered by every pipeline's `train` (and
by the command, before it touches the folder):
- it locks the folder: `train.lock` inside it, held with an OS file lock (`fcntl.flock`) for
  as long as the run trains. A second process that trains (or resumes) the same folder is
  refused at once with a BadValueError naming the folder. The OS drops the lock when the
  process ends, however it ends, so a killed run never blocks the next one (its stale
  `train.lock` file is taken over); a run that ends normally removes the file.
  Within one process the lock is re-entrant (the command holds it, then the pipeline
  enters it again). Without `fcntl` (not a POSIX system) there is no lock.
- a new run (resume=False) refuses a folder that holds another run: a checkpoint, metrics,
  a summary, or a config.json of a different configuration (`out_dir` and `run_name`
  aside: they only say where the folder is). A folder holding config.json of this very
  configuration and nothing else is the one the command (or `write_config`) prepared.
Only the main process (rank 0 under torchrun, process 0 of several JAX hosts) claims the
folder: the others write no files, and must not wait for or trip over rank 0's lock.
Framework-free.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
from pathlib import Path

from ..spec.errors import bad_value
from .checkpoint import CHECKPOINT_FILE
from .config import CONFIG_FILE, TrainConfig, load_config

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not locked there
    fcntl = None

__all__ = ["LOCK_FILE", "RUN_RESULTS", "claim_run_folder", "lock_run_folder", "check_new_run_folder"]

LOCK_FILE = "train.lock"
# What a run leaves in its folder that a new run would overwrite (besides its config.json).
RUN_RESULTS = (CHECKPOINT_FILE, "metrics.csv", "summary.json")
_WHERE = ("out_dir", "run_name")  # where the folder is, not what runs in it

# Locks this process holds: resolved lock path -> [open file, depth].
_HELD: dict[str, list] = {}


@contextlib.contextmanager
def claim_run_folder(run_dir, config: TrainConfig, *, resume: bool, main: bool = True):
    """Hold `run_dir`'s lock while the block trains; for a new run, first check that the folder
    holds no other run (`check_new_run_folder`). main=False (ranks other than 0): nothing.
    Raises BadValueError naming `run_dir` when another process trains there or another run's
    files are there."""
    if not main:
        yield
        return
    with lock_run_folder(run_dir):
        if not resume:
            check_new_run_folder(run_dir, config)
        yield


def check_new_run_folder(run_dir, config: TrainConfig) -> None:
    """BadValueError naming `run_dir` when it holds another run's results (RUN_RESULTS) or a
    config.json of another configuration: a new run there would overwrite them."""
    run_dir = Path(run_dir)
    for name in RUN_RESULTS:
        if (run_dir / name).exists():
            raise _taken(run_dir, f"its {name}")
    if (run_dir / CONFIG_FILE).is_file():
        try:
            saved = load_config(run_dir)
        except (ValueError, TypeError):
            raise _taken(run_dir, f"a {CONFIG_FILE} that is not this run's (it does not load)") from None
        if _what_runs(saved) != _what_runs(config):
            changed = [f.name for f in dataclasses.fields(TrainConfig)
                       if f.name not in _WHERE and getattr(saved, f.name) != getattr(config, f.name)]
            raise _taken(run_dir, f"the {CONFIG_FILE} of another run (it differs in {', '.join(changed[:4])})")


def _what_runs(config: TrainConfig) -> dict:
    return {key: value for key, value in config.to_dict().items() if key not in _WHERE}


def _taken(run_dir: Path, holding: str):
    return bad_value("run_dir", "a new run's folder (resume=True continues the run in it; a new run needs a "
                     "folder of its own)", f"{str(run_dir)!r}, which holds {holding}")


@contextlib.contextmanager
def lock_run_folder(run_dir):
    """Hold `run_dir/train.lock` (an exclusive, non-blocking `flock`) for the block; the folder
    is created if needed. Re-entrant within a process. BadValueError naming `run_dir` when
    another process holds it."""
    path = Path(run_dir).resolve() / LOCK_FILE
    key = str(path)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    handle = _acquire(path, run_dir)
    _HELD[key] = [handle, 1]
    try:
        yield
    finally:
        del _HELD[key]
        _release(path, handle)


def _acquire(path: Path, run_dir):
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")
        except OSError as error:  # a read-only or missing parent, a file where the folder should be
            raise bad_value("run_dir", "a run folder this process can write in",
                            f"{str(run_dir)!r} ({error.strerror or error})") from None
        if fcntl is None:
            return handle
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                handle.close()
                raise
            holder = _holder(handle)
            handle.close()
            raise bad_value("run_dir", "a run folder that no other process is training in",
                            f"{str(run_dir)!r}, in use by {holder} (wait for it to end, or stop it)") from None
        # The previous holder removes the file as it lets go: a lock on that removed file
        # guards nothing, so take the one at the path again.
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return handle
        handle.close()


def _holder(handle) -> str:
    """"process <pid>" as the holder wrote it, or "another process"."""
    handle.seek(0)
    pid = handle.read().strip()
    return f"process {pid}" if pid.isdigit() else "another process"


def _release(path: Path, handle) -> None:
    # Removed while still held, so no other process can lock a file that is about to vanish.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    handle.close()  # closing drops the flock
