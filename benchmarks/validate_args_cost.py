"""What the value checks cost an eager `torch_impl.sample_logits` call (rows with a
distribution, docs/backends.md "Non-finite logits"): the same call with the checks on (the
default) and off (`set_default_validate_args(False)`, what the pipelines run), timed
round-robin on the same logits.

Run: python benchmarks/validate_args_cost.py [--repeats 2000] [--threads 1]
Prints the CPU (lscpu's model name) and ATen's capability, then per logits shape the median
microseconds per call with the checks on and off, and their difference.
"""
from __future__ import annotations

import argparse

import torch

from bench_torch_sampling import cpu_model  # benchmarks/ (scripts run from this folder's path)
from timing import medians_us

from puffer_backend import torch_impl

SHAPES = ((4, 2), (64, 6), (4096, 16))


def _call(logits, generator, checked: bool):
    def run():
        torch_impl.set_default_validate_args(checked)
        torch_impl.sample_logits(logits, generator=generator)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {cpu_model()}; ATen capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{args.threads} thread(s); torch {torch.__version__}")
    generator = torch.Generator().manual_seed(0)
    before = torch_impl.default_validate_args()
    try:
        for shape in SHAPES:
            logits = torch.randn(*shape, generator=generator)
            times = medians_us({"on": _call(logits, generator, True), "off": _call(logits, generator, False)},
                               args.repeats)
            print(f"{shape[0]:5d} x {shape[1]:3d}  checks on {times['on']:8.1f} us  off {times['off']:8.1f} us  "
                  f"cost {times['on'] - times['off']:6.1f} us")
    finally:
        torch_impl.set_default_validate_args(before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
