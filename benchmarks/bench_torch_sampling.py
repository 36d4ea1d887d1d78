"""torch sample_logits against PufferLib 3.0's algorithm, on CPU, eager and compiled.

Run: python benchmarks/bench_torch_sampling.py [--batch 4096] [--repeats 200] [--runs 3]
         [--threads 1 default] [--capabilities native avx2] [--no-compile]
Prints the CPU (lscpu's model name), the kernels ATen dispatches to
(`torch.backends.cpu.get_cpu_capability()`, chosen by the environment variable
`ATEN_CPU_CAPABILITY`) and the intra-op thread count, then one table per thread count:
medians (microseconds per call) of round-robin calls, the speedups measured in the same
run, and each speedup's goal. With `--runs N` each cell is the range over N runs. With
`--capabilities`, the script runs itself once per capability (`native` leaves the variable
unset). The floor is one `log_softmax` pass over the same logits: no sampler can touch the
logits fewer times than that.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys

import torch

from timing import medians_us  # benchmarks/timing.py (scripts run from this folder's path)

from puffer_backend import torch_impl

DEFAULT_THREADS = torch.get_num_threads()  # torch's default, read before anything changes it
GOALS = {"4 actions": 4.0, "16 actions": 5.0, "64 actions": 5.0, "heads (3,7,4,5,9)": 4.0}


# -- the baseline: PufferLib 3.0's sample_logits algorithm, written out -----------------------
def _ref_log_prob(logits, value):
    value = value.long().unsqueeze(-1)
    value, log_pmf = torch.broadcast_tensors(value, logits)
    return log_pmf.gather(-1, value[..., :1]).squeeze(-1)


def _ref_entropy(logits):
    logits = torch.clamp(logits, min=torch.finfo(logits.dtype).min)
    return -(logits * torch.softmax(logits, -1)).sum(-1)


def reference_sample_logits(logits, action=None):
    discrete = isinstance(logits, torch.Tensor)
    heads = [logits] if discrete else list(logits)
    normalized = [h - h.logsumexp(dim=-1, keepdim=True) for h in heads]
    if action is None:
        action = torch.stack([torch.multinomial(torch.softmax(h, -1), 1).squeeze(-1) for h in heads])
    else:
        action = action.view(heads[0].shape[0], -1).T
    logprob = torch.stack([_ref_log_prob(h, a) for h, a in zip(normalized, action)]).T.sum(1)
    entropy = torch.stack([_ref_entropy(h) for h in normalized]).T.sum(1)
    if discrete:
        return action.squeeze(0), logprob, entropy
    return action.T, logprob, entropy


# -- where the run happened --------------------------------------------------------------------
def cpu_model() -> str:
    """lscpu's model name (the same line as /proc/cpuinfo's), else what platform knows."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _thread_counts(values) -> list[int]:
    counts = []
    for value in values:
        count = DEFAULT_THREADS if value == "default" else int(value)
        if count < 1:
            raise SystemExit(f"--threads: expected positive integers or 'default', received {value!r}")
        if count not in counts:
            counts.append(count)
    return counts


def _span(values, fmt: str, suffix: str = "") -> str:
    low, high = min(values), max(values)
    if format(low, fmt) == format(high, fmt):
        return f"{low:{fmt}}{suffix}"
    return f"{low:{fmt}}-{high:{fmt}}{suffix}"


# -- the measurement ---------------------------------------------------------------------------
def measure(cases, compiled, repeats: int) -> dict:
    """{case: {column: microseconds}} for one run at the current thread count."""
    results = {}
    with torch.no_grad():
        for name, logits in cases:
            heads = [logits] if isinstance(logits, torch.Tensor) else list(logits)
            fns = {"ref": lambda: reference_sample_logits(logits),
                   "ours": lambda: torch_impl.sample_logits(logits),
                   "floor": lambda: [torch.log_softmax(h, -1) for h in heads]}
            if compiled is not None:
                fns["compiled"] = lambda: compiled(logits)
            results[name] = medians_us(fns, repeats)
    return results


def print_table(runs: list[dict], compiled: bool) -> None:
    header = (f"{'case':<19}{'PufferLib 3':>13}{'ours':>11}{'speedup':>11}{'goal':>13}"
              + (f"{'compiled':>11}{'speedup':>11}" if compiled else "") + f"{'floor':>11}")
    print(header)
    print("-" * len(header))
    for name in runs[0]:
        cells = [r[name] for r in runs]
        speedups = [c["ref"] / c["ours"] for c in cells]
        verdict = "met" if min(speedups) >= GOALS[name] else "NOT met"
        line = (f"{name:<19}{_span([c['ref'] for c in cells], '.0f'):>13}{_span([c['ours'] for c in cells], '.0f'):>11}"
                f"{_span(speedups, '.1f', 'x'):>11}{f'{GOALS[name]:.0f}x {verdict}':>13}")
        if compiled:
            line += (f"{_span([c['compiled'] for c in cells], '.0f'):>11}"
                     f"{_span([c['ref'] / c['compiled'] for c in cells], '.1f', 'x'):>11}")
        print(line + f"{_span([c['floor'] for c in cells], '.0f'):>11}")


def run_capabilities(capabilities, argv) -> int:
    """Run this script once per ATen capability, in fresh interpreters (ATen reads the variable once)."""
    rest, skip = [], False
    for arg in argv:
        if arg == "--capabilities":
            skip = True
            continue
        if skip and not arg.startswith("--"):
            continue
        skip = False
        rest.append(arg)
    status = 0
    for capability in capabilities:
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        if capability != "native":
            env["ATEN_CPU_CAPABILITY"] = capability
        print(f"== ATEN_CPU_CAPABILITY={env.get('ATEN_CPU_CAPABILITY', '(unset: native)')}", flush=True)
        status |= subprocess.run([sys.executable, __file__, *rest], env=env).returncode
        print(flush=True)
    return status


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=200, help="round-robin calls per run (median)")
    parser.add_argument("--runs", type=int, default=1, help="runs per thread count; cells show their range")
    parser.add_argument("--threads", nargs="+", default=["1", "default"],
                        help="intra-op thread counts, 'default' for torch's own (%(default)s); on a busy "
                             "machine a parallel region waits on descheduled workers and timings become noise")
    parser.add_argument("--capabilities", nargs="+", metavar="CAPABILITY",
                        help="run once per ATEN_CPU_CAPABILITY value (e.g. native avx2 default)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    args = parser.parse_args()
    if args.capabilities:
        raise SystemExit(run_capabilities(args.capabilities, sys.argv[1:]))
    threads = _thread_counts(args.threads)
    torch.manual_seed(0)
    cases = [(f"{n} actions", torch.randn(args.batch, n) * 2) for n in (4, 16, 64)]
    cases.append(("heads (3,7,4,5,9)", tuple(torch.randn(args.batch, n) * 2 for n in (3, 7, 4, 5, 9))))
    compiled = None if args.no_compile else torch.compile(torch_impl.sample_logits)
    if compiled is not None:
        with torch.no_grad():
            for _, logits in cases:
                for _ in range(3):
                    compiled(logits)  # compile outside the timed loop
    print(f"CPU: {cpu_model()}; ATen CPU capability {torch.backends.cpu.get_cpu_capability()} "
          f"(ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'unset')}); torch {torch.__version__}, "
          f"default {DEFAULT_THREADS} intra-op threads")
    for count in threads:
        torch.set_num_threads(count)
        runs = [measure(cases, compiled, args.repeats) for _ in range(args.runs)]
        print(f"\n{count} intra-op thread{'s' if count > 1 else ''}"
              f"{' (torch default)' if count == DEFAULT_THREADS else ''}, batch {args.batch}, medians of "
              f"{args.repeats} round-robin calls, {args.runs} run{'s' if args.runs > 1 else ''}, microseconds")
        print_table(runs, compiled is not None)


if __name__ == "__main__":
    main()
