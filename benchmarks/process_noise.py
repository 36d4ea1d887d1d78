"""How much one fixed piece of torch work changes from process to process on this machine.

Each of --processes fresh interpreters times the same work (torch `sample_logits` on 4096 x 16
logits, one thread, the same seed) in --blocks blocks of --calls calls and prints its
blocks' medians. On the development VM, with nothing else running, the same work runs at
one floor in some blocks and 1.3-1.8x slower in others: some processes stay at the floor,
some stay slower, some move between the two from one block (a tenth of a second) to the
next. So a speed ratio between two programs timed apart (two processes, or two stretches
of one) carries this spread, however many calls each median has: compare functions
interleaved call by call in one process (timing.medians_us) and programs over many
processes, alternating, as the benchmarks here do, and read a single run's figure as one
draw.

Prints one row per process (its median over blocks, and its blocks' spread), then the
spread over processes: max / min of the process medians, and the within-process spread
(the largest max / min of one process's blocks), with the CPU and the command.

    python benchmarks/process_noise.py
    python benchmarks/process_noise.py --processes 12 --blocks 5 --calls 200
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import child_row, machine_lines  # noqa: E402  (benchmarks/ is not a package)

ROW_MARK = "PROCESS-NOISE-ROW "


def time_blocks(blocks: int, calls: int) -> list[float]:
    """This process's medians (microseconds per call) of `blocks` blocks of `calls` calls."""
    import torch

    from puffer_backend import torch_impl

    torch.set_num_threads(1)
    logits = torch.randn(4096, 16, generator=torch.Generator().manual_seed(0))
    for _ in range(20):
        torch_impl.sample_logits(logits)
    medians = []
    for _ in range(blocks):
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            torch_impl.sample_logits(logits)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times) * 1e6)
    return medians


def spread(values: list[float]) -> float:
    return max(values) / min(values)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per process")
    parser.add_argument("--calls", type=int, default=200, help="calls per block (its median)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        blocks, calls = json.loads(args.child)
        print(ROW_MARK + json.dumps(time_blocks(blocks, calls)), flush=True)
        return 0
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps([args.blocks, args.calls])]
    medians, within = [], []
    print(f"torch sample_logits, 4096 x 16, 1 thread: {args.processes} processes x {args.blocks} blocks "
          f"x {args.calls} calls, microseconds per call")
    for index in range(args.processes):
        blocks, why = child_row(command, ROW_MARK, timeout_s=600)
        if blocks is None:
            print(f"process {index}: no result ({why})")
            continue
        medians.append(statistics.median(blocks))
        within.append(spread(blocks))
        print(f"process {index:3d}  median {medians[-1]:8.1f}  blocks {' '.join(f'{b:.0f}' for b in blocks)}"
              f"  (max/min {within[-1]:.2f})")
    if len(medians) > 1:
        print(f"over processes: min {min(medians):.1f}, median {statistics.median(medians):.1f}, "
              f"max {max(medians):.1f}: max/min {spread(medians):.2f}; "
              f"within one process at most {max(within):.2f}")
    for line in machine_lines():
        print(line)
    print("# command: python benchmarks/process_noise.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    return 0 if medians else 1


if __name__ == "__main__":
    sys.exit(main())
