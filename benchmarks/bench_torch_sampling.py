"""torch sample_logits against PufferLib 3.0's algorithm, on CPU, eager and compiled.

Run: python benchmarks/bench_torch_sampling.py [--batch 4096] [--repeats 200]
Prints a table of medians (microseconds per call) and speedups measured in the same run.
The floor is one `log_softmax` pass over the same logits: no sampler can touch the logits
fewer times than that.
"""
from __future__ import annotations

import argparse

import torch

from timing import medians_us  # benchmarks/timing.py (scripts run from this folder's path)

from puffer_backend import torch_impl


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: on a busy 2-core machine a 2-thread "
                             "parallel region waits on descheduled workers and timings become noise)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = [(f"{n} actions", torch.randn(args.batch, n) * 2) for n in (4, 16, 64)]
    cases.append(("heads (3,7,4,5,9)", tuple(torch.randn(args.batch, n) * 2 for n in (3, 7, 4, 5, 9))))

    compiled = None if args.no_compile else torch.compile(torch_impl.sample_logits)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"median of {args.repeats} calls, microseconds")
    header = f"{'case':<20}{'PufferLib 3':>12}{'ours':>10}{'speedup':>9}{'compiled':>10}{'speedup':>9}{'floor':>9}"
    print(header)
    print("-" * len(header))
    with torch.no_grad():
        for name, logits in cases:
            heads = [logits] if isinstance(logits, torch.Tensor) else list(logits)
            fns = {"ref": lambda: reference_sample_logits(logits),
                   "ours": lambda: torch_impl.sample_logits(logits),
                   "floor": lambda: [torch.log_softmax(h, -1) for h in heads]}
            if compiled is not None:
                for _ in range(3):
                    compiled(logits)  # compile outside the timed loop
                fns["compiled"] = lambda: compiled(logits)
            t = medians_us(fns, args.repeats)
            comp_text = f"{'-':>10}{'-':>9}"
            if compiled is not None:
                comp_text = f"{t['compiled']:>10.0f}{t['ref'] / t['compiled']:>8.1f}x"
            print(f"{name:<20}{t['ref']:>12.0f}{t['ours']:>10.0f}{t['ref'] / t['ours']:>8.1f}x{comp_text}"
                  f"{t['floor']:>9.0f}")


if __name__ == "__main__":
    main()
