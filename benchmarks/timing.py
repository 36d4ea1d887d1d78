"""Shared timing for the benchmarks: medians of round-robin calls."""
from __future__ import annotations

import statistics
import time


def medians_us(fns: dict, repeats: int, warmup: int = 10, clock=time.perf_counter) -> dict:
    """Median microseconds per call of each function, timed round-robin (one call of each per
    repetition), so that load from other processes hits every column alike. clock: seconds
    (time.thread_time for this thread's CPU time)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(t) * 1e6 for name, t in times.items()}
