"""Shared by the pipelines' resume tests: Ctrl-C at a chosen step, and exact comparisons."""
import contextlib
import os
import shutil
import signal
import threading

import numpy as np
import pytest

from puffer_backend.pipelines import MemoryLogger
from puffer_backend.pipelines.checkpoint import CHECKPOINT_FILE, load_checkpoint


@contextlib.contextmanager
def default_sigint():
    """Python's own SIGINT handler (which StopOnInterrupt takes over), whatever the runner installed."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are installed from the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class CtrlCAt(MemoryLogger):
    """Presses Ctrl-C (SIGINT to this process) once it has recorded `step`, as a user would."""

    def __init__(self, run_dir, step):
        super().__init__(run_dir)
        self.step = step

    def record(self, step, **metrics):
        super().record(step, **metrics)
        if step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


class CheckpointSpy(MemoryLogger):
    """Notes, at each record, which update the checkpoint on disk holds, and keeps a copy of it
    under `copies/<update>.npz` (how a test sees the saves made during a run)."""

    def __init__(self, run_dir):
        super().__init__(run_dir)
        self.on_disk = {}
        (self.run_dir / "copies").mkdir()

    def record(self, step, **metrics):
        super().record(step, **metrics)
        path = self.run_dir / CHECKPOINT_FILE
        if path.is_file():
            update = load_checkpoint(self.run_dir)[1].update
            self.on_disk[step] = update
            shutil.copy(path, self.run_dir / "copies" / f"{update}.npz")


def interrupt(train, config, run_dir, step):
    """Train with Ctrl-C after `step`; returns the logger. The checkpoint is then at `step`."""
    logger = CtrlCAt(run_dir, step)
    with default_sigint(), pytest.raises(KeyboardInterrupt):
        train(config, logger)
    assert load_checkpoint(run_dir)[1].step == step
    return logger


def resume(train, config, run_dir):
    """Resume `run_dir` with `config`; returns the logger of the resumed part."""
    logger = MemoryLogger(run_dir)
    train(config, logger, resume=True)
    return logger


def groups(run_dir_or_file):
    """{group/name: array} of a checkpoint (a run folder, or a copied .npz beside a config.json)."""
    from pathlib import Path

    path = Path(run_dir_or_file)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files if k != "checkpoint.json"}
    _, checkpoint = load_checkpoint(path)
    return {f"{g}/{k}": v for g in ("params", "optimizer", "state") for k, v in getattr(checkpoint, g).items()}


def differing(a: dict, b: dict) -> list:
    """Names whose arrays are not bit-identical (or present in one only)."""
    names = set(a) | set(b)
    return sorted(n for n in names if n not in a or n not in b or a[n].dtype != b[n].dtype
                  or not np.array_equal(a[n], b[n]))


def assert_seamless(before, after, per_update):
    """The resumed rows continue the first run's: the next step, rising times, episodes never lost."""
    rows = before + after
    steps = [r["step"] for r in rows]
    assert steps == [per_update * (i + 1) for i in range(len(rows))], steps
    walls = [r["wall_time"] for r in rows]
    assert all(b > a for a, b in zip(walls, walls[1:])), walls
    episodes = [r["episodes"] for r in rows]
    assert all(b >= a for a, b in zip(episodes, episodes[1:])), episodes
    assert after[0]["sps"] > 0
