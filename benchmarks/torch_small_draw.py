"""The no-grad draw of `sample_logits` at a rollout step's sizes: the small-batch draw
(`cpu_draw.small_draw`, what `sample_logits` runs there) against the general path on the
same logits (`sampling._sample_logits`, what it ran before) and PufferLib 3's algorithm
(`bench_torch_sampling.reference_sample_logits`). Microseconds of this thread's CPU time per
call (`time.thread_time`), medians over --repeats round-robin repetitions (one call of each
per repetition), one torch thread, inference mode, value checks off (as the pipelines run).

    python benchmarks/torch_small_draw.py
    python benchmarks/torch_small_draw.py --repeats 20000
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_sampling import reference_sample_logits  # noqa: E402  (benchmarks/ is not a package)
from machine import machine_lines  # noqa: E402
from timing import medians_us  # noqa: E402

from puffer_backend import torch_impl  # noqa: E402
from puffer_backend.torch_impl import sampling  # noqa: E402

SHAPES = [(4, 2), (1, 4), (8, 6), (64, 16), (128, 2), (256, 16)]  # rollout steps: envs x actions


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("\n".join(machine_lines()))
    print(f"# command: python {' '.join(map(shlex.quote, sys.argv))}")
    print(f"{'logits':>10s} {'small draw':>11s} {'general':>9s} {'PufferLib 3':>12s} {'general/small':>14s} "
          f"{'PufferLib/small':>16s}")
    old = torch_impl.default_validate_args()
    torch_impl.set_default_validate_args(False)
    try:
        with torch.inference_mode():
            for shape in SHAPES:
                x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
                g = torch.Generator().manual_seed(1)
                fns = {"small": lambda: torch_impl.sample_logits(x, generator=g),
                       "general": lambda: sampling._sample_logits(x, None, None, None, False, g),
                       "reference": lambda: reference_sample_logits(x)}
                us = medians_us(fns, args.repeats, warmup=200, clock=time.thread_time)
                print(f"{str(shape):>10s} {us['small']:11.1f} {us['general']:9.1f} {us['reference']:12.1f} "
                      f"{us['general'] / us['small']:13.2f}x {us['reference'] / us['small']:15.2f}x", flush=True)
    finally:
        torch_impl.set_default_validate_args(old)
    print("# load average after: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
