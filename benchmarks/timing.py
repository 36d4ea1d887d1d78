"""Shared timing for the benchmarks: medians of round-robin calls."""
from __future__ import annotations

import statistics
import time


def medians_us(fns: dict, repeats: int, warmup: int = 10) -> dict:
    """Median microseconds per call of each function, timed round-robin (one call of each per
    repetition), so that load from other processes hits every column alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e6 for name, t in times.items()}
