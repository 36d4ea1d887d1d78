"""The measurements behind torch_impl/cpu_draw.py: each kernel choice against its alternative.

Run: python benchmarks/torch_sampler_design.py [--batch 4096] [--repeats 300] [--threads 1]
Prints the CPU (lscpu's model name) and ATen's capability, then one line per choice: the
median microseconds per call of what the sampler does and of the alternative, timed
round-robin on the same data. docs/benchmarks.md ("The torch sampler's design") quotes it.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from bench_torch_sampling import cpu_model  # benchmarks/ (scripts run from this folder's path)
from timing import medians_us

from puffer_backend import torch_impl
from puffer_backend.torch_impl import cpu_draw

LOG2_E = 1.4426950408889634


def _choices(batch: int) -> list[tuple[str, dict]]:
    """(what is decided, {label: call}), the sampler's choice first."""
    g = torch.Generator().manual_seed(0)
    rows16, rows32, rows64 = (torch.randn(batch, n, generator=g) for n in (16, 32, 64))
    columns16 = torch.rand(16, batch, generator=g)
    cdf16 = columns16.cumsum(0)
    threshold16 = torch.rand(1, batch, generator=g) * cdf16[-1:]
    cdf64 = torch.rand(batch, 64, generator=g).cumsum(-1)
    below, below64, buffer64 = torch.empty_like(cdf16), torch.empty_like(cdf64), torch.empty_like(rows64)
    transposed = torch.empty(16, batch)
    threshold64 = torch.rand(batch, 1, generator=g) * cdf64[:, -1:]

    def fresh_thresholds():  # a new threshold every call, as in sampling
        return torch.rand(batch, 1) * cdf64[:, -1:]

    return [
        ("row max, 16 actions (padded to 32 / amax)", {
            "padded": lambda: cpu_draw.row_max(rows16, cpu_draw.ROWS),
            "amax": lambda: rows16.amax(-1, keepdim=True),
            "amax of 32 actions": lambda: rows32.amax(-1, keepdim=True)}),
        ("weights, 64 actions, into a buffer (exp2 / exp)", {
            "exp2": lambda: torch.mul(rows64, LOG2_E, out=buffer64).exp2_(),
            "exp": lambda: torch.exp(rows64, out=buffer64)}),
        ("running sum over 16 columns (adds / cumsum(0))", {
            "adds": lambda: cpu_draw.running_sum_(columns16.clone(), cpu_draw.COLUMNS),
            "cumsum(0)": lambda: columns16.clone().cumsum_(0)}),
        ("count over 16 columns (float buffer / bool sum)", {
            "float buffer": lambda: torch.le(cdf16, threshold16, out=below).sum(0, keepdim=True).long(),
            "bool sum": lambda: torch.le(cdf16, threshold16).sum(0, keepdim=True)}),
        ("locate in 64-action rows, fresh thresholds (count / searchsorted)", {
            "count": lambda: cpu_draw.locate(cdf64, fresh_thresholds(), cpu_draw.ROWS, below64),
            "searchsorted": lambda: torch.searchsorted(cdf64, fresh_thresholds(), right=True)}),
        ("locate in 64-action rows, one fixed threshold (count / searchsorted)", {
            "count": lambda: cpu_draw.locate(cdf64, threshold64, cpu_draw.ROWS, below64),
            "searchsorted": lambda: torch.searchsorted(cdf64, threshold64, right=True)}),
        ("transposing copy of 16 actions (numpy / torch copy_)", {
            "numpy": lambda: np.copyto(transposed.numpy(), rows16.numpy().T),
            "torch copy_": lambda: transposed.copy_(rows16.T)}),
    ]


def _layout_and_buffers(batch: int, repeats: int) -> list[str]:
    """The whole no-grad draw with each of cpu_draw's decisions turned off in turn."""
    g = torch.Generator().manual_seed(1)
    lines = []
    for n in (4, 8, 16, 24, 64):
        logits = torch.randn(batch, n, generator=g)
        variants = {"as shipped": {}}
        if n <= cpu_draw._MAX_ACTIONS_AS_COLUMNS:
            variants["as rows"] = {"_MAX_ACTIONS_AS_COLUMNS": 0}
        else:
            variants["binary search"] = {"_SEARCH_ROWS_LONGER_THAN": 0}
        variants["no reused buffers"] = {"_SCRATCH_MIN_ELEMENTS": 1 << 62}
        fns = {}
        for label, settings in variants.items():
            def draw(settings=settings):
                saved = {name: getattr(cpu_draw, name) for name in settings}
                for name, value in settings.items():
                    setattr(cpu_draw, name, value)
                try:
                    torch_impl.sample_logits(logits)
                finally:
                    for name, value in saved.items():
                        setattr(cpu_draw, name, value)
            fns[label] = draw
        us = medians_us(fns, repeats)
        lines.append(f"draw of {batch} x {n:<3}: " + ", ".join(f"{label} {t:7.1f} us" for label, t in us.items()))
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=300, help="round-robin calls per line (median)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{cpu_model()}; ATen capability {torch.backends.cpu.get_cpu_capability()}; torch {torch.__version__}; "
          f"{args.threads} thread(s); medians of {args.repeats} round-robin calls, microseconds")
    with torch.no_grad():
        for what, fns in _choices(args.batch):
            us = medians_us(fns, args.repeats)
            print(f"{what:<70}" + "  ".join(f"{label} {t:7.1f}" for label, t in us.items()))
        for line in _layout_and_buffers(args.batch, args.repeats):
            print(line)


if __name__ == "__main__":
    main()
