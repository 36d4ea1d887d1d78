"""Training progress display: a tqdm bar on a terminal, plain periodic lines otherwise.

Plain lines look like `step 38400/499712  sps 6021  mean_return 227.8`; they are what a
log file, CI or `nohup` capture wants (no carriage returns, no escape codes).
"""
from __future__ import annotations

import io
import math
import sys
import time

from ..spec.errors import bad_value

__all__ = ["Progress", "format_line", "format_number"]


def format_number(value, digits: int = 1) -> str:
    """`value` with `digits` decimals, or '-' while it is NaN/None (no episode finished yet)."""
    if value is None:
        return "-"
    value = float(value)
    if math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def format_line(step: int, total_steps: int | None, sps, mean_return) -> str:
    """One plain progress line: `step S/T  sps N  mean_return R`."""
    steps = f"{int(step)}/{int(total_steps)}" if total_steps else f"{int(step)}"
    return f"step {steps}  sps {format_number(sps, 0)}  mean_return {format_number(mean_return)}"


class Progress:
    """Shows steps, steps/s and mean return as a pipeline records them.

    mode: "auto" (a bar when `stream` is a terminal and tqdm is installed, else plain
    lines), "bar", "plain" or "off". In plain mode a line is printed for the first record,
    then at most once every `interval_s` seconds, and the last one is always printed by
    `close()`. `initial_step`: where a resumed run starts.
    """

    MODES = ("auto", "bar", "plain", "off")

    def __init__(self, total_steps: int | None = None, *, mode: str = "auto", stream=None,
                 interval_s: float = 5.0, initial_step: int = 0):
        if mode not in self.MODES:
            raise bad_value("mode", f"one of {self.MODES}", repr(mode))
        if interval_s < 0:
            raise bad_value("interval_s", "a number >= 0", repr(interval_s))
        self.total_steps = total_steps
        self.stream = sys.stderr if stream is None else stream
        self.interval_s = float(interval_s)
        self._bar = None
        self._last_print = None
        self._pending = None  # the latest line not printed yet (plain mode)
        self._step = int(initial_step)
        if mode == "auto":
            mode = "bar" if _is_terminal(self.stream) and _has_tqdm() else "plain"
        if mode == "bar":
            self._bar = _make_bar(total_steps, self.stream, self._step)
            if self._bar is None:
                mode = "plain"
        self.mode = mode

    def update(self, step: int, sps=None, mean_return=None) -> None:
        """Report that training reached `step` environment steps."""
        step = int(step)
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.update(max(0, step - self._step))
            self._bar.set_postfix_str(f"sps {format_number(sps, 0)}  mean_return {format_number(mean_return)}",
                                      refresh=False)
            self._step = max(self._step, step)
            return
        self._step = step
        self._pending = format_line(step, self.total_steps, sps, mean_return)
        now = time.monotonic()
        if self._last_print is None or now - self._last_print >= self.interval_s:
            self._emit(now)

    def note(self, text: str) -> None:
        """Print a status line (above the bar on a terminal, as a plain line elsewhere; nothing when off)."""
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _emit(self, now: float) -> None:
        print(self._pending, file=self.stream, flush=True)
        self._pending = None
        self._last_print = now

    def close(self) -> None:
        """Finish the bar, or print the last plain line if it was held back by the interval."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._pending is not None:
            self._emit(time.monotonic())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False


def _has_tqdm() -> bool:
    import importlib.util

    return importlib.util.find_spec("tqdm") is not None


def _make_bar(total_steps, stream, initial: int = 0):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # A pseudo-terminal without a window size (CI, `script`) reports 0x0, and tqdm then draws
    # nothing at all: fall back to a fixed size there.
    columns, lines = _terminal_size(stream)
    sized = columns > 0 and lines > 0
    # No tqdm rate: it would count compile and set-up time; the pipeline's own sps is shown instead.
    return tqdm(total=total_steps, initial=initial, unit="step", unit_scale=True, dynamic_ncols=sized,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
                ncols=None if sized else 100, nrows=None if sized else 24, file=stream, leave=True, desc="train")


def _terminal_size(stream) -> tuple[int, int]:
    import os

    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return 0, 0
    return size.columns, size.lines
