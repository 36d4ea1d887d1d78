"""How the command fails: one line on stderr and an exit status, never a traceback for a user's mistake."""
from __future__ import annotations

__all__ = ["PROG", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "UsageError", "RunFailed"]

PROG = "puffer-backend"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class UsageError(Exception):
    """A bad argument: reported as one line on stderr with exit status 2, no traceback."""


class RunFailed(Exception):
    """A run that stopped on its own data (a non-finite loss): one line on stderr, exit status 1."""
