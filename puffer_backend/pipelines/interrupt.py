"""Ctrl-C during training: finish the update, save a checkpoint, then stop.

Inside `StopOnInterrupt()`, the first SIGINT only sets `requested`; the training loop checks it
between updates, saves the checkpoint of the last finished update and raises
KeyboardInterrupt (the command then exits with status 130). A second Ctrl-C raises at once.
Installed only from the main thread and only over Python's default handler: a program that
handles SIGINT itself keeps its own handler.
"""
from __future__ import annotations

import signal
import threading

__all__ = ["StopOnInterrupt"]


class StopOnInterrupt:
    """Context manager; `requested` is True once Ctrl-C was pressed inside it."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
