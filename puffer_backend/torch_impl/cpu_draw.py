"""torch only: the sampler's CPU fast path, where the choice of kernel decides the speed.

sampling.py reads as the spec's rule; the ways of running it fast on CPU live here, each
chosen by measurement (figures and commands in docs/benchmarks.md, "The torch sampler's
design"):

- the layout: logits as rows (`ROWS`, actions along the last axis) or as columns `(n, rows)`
  (`COLUMNS`), where a reduction over the actions is a vectorized loop over contiguous rows
  instead of a scalar loop over a short row. `layout` decides by the input alone, so the
  draw, the re-scoring, `log_prob` and `entropy` of the same logits share every rounding;
- kernels for both layouts: `row_max`, `running_sum_`, `running_total`, `locate`;
- per-thread scratch buffers reused across calls (`scratch`);
- the fused no-grad draw (`draw_in_place`), which overwrites the weights it is given;
- `small_draw`: the whole draw of a small batch (a rollout step: 4 x 2, 64 x 16 logits) in a
  few ops, bit for bit the general path's results.

Every function works on any device; only the scratch buffers and the column layout of a
logits tensor are CPU-only (`scratch` returns None elsewhere, and under torch.compile).
"""
from __future__ import annotations

import math
import threading

import numpy as np
import torch

__all__ = ["ROWS", "COLUMNS", "scratch", "layout", "row_max", "running_sum_", "running_total", "locate",
           "draw_in_place", "small_draw"]

ROWS, COLUMNS = -1, 0

_MAX_ACTIONS_AS_COLUMNS = 16      # on CPU, logits of at most this many actions are laid out as columns
_SEARCH_ROWS_LONGER_THAN = 128    # longer rows binary-search their CDF; shorter rows and columns count
_AMAX_VECTOR_WIDTH = 32           # torch's CPU amax over a last axis of a multiple of this is vectorized
_SCRATCH_MIN_ELEMENTS = 16384     # smaller temporaries are cheap to allocate: no reuse
_SCRATCH_MAX_BUFFERS = 24         # the per-thread cache is dropped when it grows past this many


# -- reused buffers ----------------------------------------------------------------------------

class _Workspace(threading.local):
    """Per-thread scratch buffers for the no-grad CPU path, reused across calls: fresh
    megabyte temporaries are served by mmap and page-faulted in on every call. Keyed by
    (role, shape, dtype)."""
    def __init__(self):
        self.buffers = {}

    def get(self, role, shape, dtype):
        key = (role, tuple(shape), dtype)
        buffer = self.buffers.get(key)
        if buffer is None:
            if len(self.buffers) >= _SCRATCH_MAX_BUFFERS:
                self.buffers.clear()
            buffer = self.buffers[key] = torch.empty(shape, dtype=dtype)
        return buffer


_WORKSPACE = _Workspace()


def scratch(role, shape, dtype, device):
    """A reusable CPU buffer for `role`, or None where reuse is not worth it (small, not CPU)
    or unsafe (under torch.compile, where inductor plans memory itself). A caller holds one
    buffer per role at a time, and never returns it."""
    if device.type != "cpu" or torch.compiler.is_compiling() or math.prod(shape) < _SCRATCH_MIN_ELEMENTS:
        return None
    return _WORKSPACE.get(role, shape, dtype)


# -- the layout --------------------------------------------------------------------------------

def layout(x, role="columns"):
    """(x, dim): float logits `(batch, n)` as the core takes them: rows (`ROWS`, as they are)
    or, on CPU for n <= `_MAX_ACTIONS_AS_COLUMNS`, columns `(n, batch)` (`COLUMNS`), where the
    reductions over 4 to 16 actions gain more than the transposing copy costs. Elsewhere one
    cumsum kernel beats a launch per column. `role`: the scratch buffer the columns go to
    without autograd (the no-grad draw passes its z buffer)."""
    n = x.shape[-1]
    if n > _MAX_ACTIONS_AS_COLUMNS or x.device.type != "cpu":
        return x, ROWS
    buffer = None
    if not (torch.is_grad_enabled() and x.requires_grad):
        buffer = scratch(role, (n, x.shape[0]), x.dtype, x.device)
    if buffer is None:
        return x.T.contiguous(), COLUMNS
    # numpy's transposing copy (exact; x is float32 or float64 here) is faster than torch's
    # strided loops: https://github.com/pytorch/pytorch/issues/3468
    np.copyto(buffer.numpy(), x.detach().numpy().T)
    return buffer, COLUMNS


# -- kernels for both layouts ------------------------------------------------------------------

def row_max(x, dim):
    """The max along the action axis, keepdim, without gradient (the shift cancels in every
    result). A large batch of rows whose length is not a multiple of `_AMAX_VECTOR_WIDTH` is
    copied into a -inf padded scratch buffer first: torch's CPU amax runs a scalar loop over
    such rows (no upstream issue found)."""
    if x.requires_grad:
        x = x.detach()
    n = x.shape[dim]
    buffer = None
    if dim == ROWS and n % _AMAX_VECTOR_WIDTH != 0:
        width = -(-n // _AMAX_VECTOR_WIDTH) * _AMAX_VECTOR_WIDTH
        buffer = scratch("rowmax", (*x.shape[:-1], width), x.dtype, x.device)
    if buffer is None:
        return x.amax(dim, keepdim=True)
    buffer[..., :n].copy_(x)
    buffer[..., n:].fill_(float("-inf"))
    return buffer.amax(-1, keepdim=True)


def running_sum_(w, dim):
    """w, in place, becomes its CDF along `dim`. Rows: cumsum (sequential, accumulated in
    double). Columns: one add per action, each over contiguous rows, since torch's cumsum over
    a leading axis is a strided scalar loop: https://github.com/pytorch/pytorch/issues/122170"""
    if dim == ROWS:
        return w.cumsum_(-1)
    rows = w.unbind(0)  # one call for every view; indexing w[j] costs a call per view
    for previous, row in zip(rows, rows[1:]):
        row.add_(previous)
    return w


def running_total(w, dim):
    """The last entry of `running_sum_(w.clone(), dim)` (dim dropped), bit for bit: the same
    additions in the same order, without changing w."""
    if dim == ROWS:
        return w.cumsum(-1)[..., -1]
    rows = w.unbind(0)
    last = rows[0].clone()
    for row in rows[1:]:
        last.add_(row)
    return last


def locate(cdf, threshold, dim, below=None):
    """Index of the first CDF entry above the threshold (keepdim, int64).

    Mostly a branch-free count of `cdf <= threshold`, written as 0/1 floats into a scratch
    buffer and summed, since summing booleans is a slow int64 reduction
    (https://github.com/pytorch/pytorch/issues/37053). Rows longer than
    `_SEARCH_ROWS_LONGER_THAN` binary-search: with fresh random thresholds searchsorted
    mispredicts its branches, which a benchmark on fixed inputs hides. A row with nothing
    allowed has max -inf, so its CDF is NaN (never a total of 0: the max has weight 1): the
    count gives 0 and searchsorted the out-of-range n, set to 0 here, as in jax_impl (never an
    index error or a CUDA device-side assert in the gather that follows). `below`: a free
    scratch buffer of the CDF's shape for the count, or None.
    """
    if dim == ROWS and cdf.shape[-1] > _SEARCH_ROWS_LONGER_THAN:
        total = cdf[..., -1:]
        return torch.searchsorted(cdf, threshold, right=True).masked_fill_(total.isnan(), 0)
    if below is None:
        below = scratch("count", cdf.shape, cdf.dtype, cdf.device)
    if below is None:
        return torch.le(cdf, threshold).sum(dim, keepdim=True)
    return torch.le(cdf, threshold, out=below).sum(dim, keepdim=True).long()


# -- the fused no-grad draw --------------------------------------------------------------------

def draw_in_place(x, dim, m, z, w, uniform, rows=None):
    """The categorical core's draw without autograd, on buffers it may overwrite.

    x: float logits laid out along `dim` (masks applied); m, z, w: their max (keepdim),
    clamped shifted logits and weights (sampling.py's `_weights`), which become z * w, the
    count's scratch and the CDF; uniform: one per row (m's shape) from `torch.rand`, which
    never returns 1, so `u * total` stays below the total and the spec's clamp is not needed
    (caller-given uniforms go through sampling.py's `_inverse_cdf`). rows: the same logits as
    rows `(batch, n)` when x is a columns copy the weights overwrote (log-probabilities are
    then read from the rows: the same values).

    Returns (action int64, logprob, weighted, total, log_total), dim dropped: the entropy is
    sampling.py's `_entropy(weighted, total, log_total)`. Every rounding is the scoring path's,
    so sampled and re-scored results of the same logits are bit-identical.
    """
    weighted = z.mul_(w).sum(dim)
    cdf = running_sum_(w, dim)
    total = cdf.narrow(dim, cdf.shape[dim] - 1, 1)
    action = locate(cdf, uniform.mul_(total), dim, below=z)
    log_total = total.log()
    if rows is not None:
        x, dim, action, m, log_total = rows, ROWS, action.view(-1, 1), m.view(-1, 1), log_total.view(-1, 1)
    logprob = x.gather(dim, action).sub_(m).sub_(log_total).squeeze(dim)
    return action.squeeze(dim), logprob, weighted, total.reshape(-1), log_total.reshape(-1)


# -- the small-batch draw ----------------------------------------------------------------------

SMALL_DTYPES = (torch.float32, torch.float64)  # dtypes the compute dtype leaves as they are


def small(x) -> bool:
    """Whether `small_draw` takes the draw from logits x: plain float32/float64 CPU logits
    `(batch, n)`, n <= `_MAX_ACTIONS_AS_COLUMNS`, too small for scratch buffers (a rollout
    step), without autograd, in eager mode."""
    if (type(x) is not torch.Tensor or x.dtype not in SMALL_DTYPES or x.ndim != 2 or x.device.type != "cpu"
            or (x.requires_grad and torch.is_grad_enabled()) or torch.compiler.is_compiling()):
        return False
    batch, n = x.shape
    return 0 < n <= _MAX_ACTIONS_AS_COLUMNS and 0 < batch and n * batch < _SCRATCH_MIN_ELEMENTS


def small_draw(x, generator, clamp, log2_e):
    """`(action, logprob, entropy)` of a draw from logits x that `small` accepts.

    At these sizes the draw's cost is the count of torch calls (~1.5 us each), not the
    arithmetic, so this is the general path (`layout`, sampling.py's `_weights`,
    `draw_in_place`, `_entropy`) with every call it does not need left out: no checks already
    made, no scratch lookups, the count as one bool sum, the log-probability gathered from the
    shifted logits z (the drawn action has weight > 0, so z there is `x - m` unclamped, the
    general path's first subtraction). Same ops on the same layout, so the same bits.
    clamp, log2_e: sampling.py's constants (passed: sampling.py imports this module).
    """
    batch = x.shape[0]
    # no autograd context needed: x does not require grad here, so nothing builds a graph
    columns = x.T.contiguous()
    m = columns.amax(0, keepdim=True)
    z = torch.sub(columns, m).clamp_(min=clamp[x.dtype])
    w = torch.mul(z, log2_e).exp2_()
    if generator is None:
        uniform = torch.rand((1, batch), dtype=x.dtype, device=x.device)
    else:
        uniform = torch.rand((1, batch), generator=generator, dtype=x.dtype, device=x.device)
    weighted = torch.mul(z, w).sum(0)
    rows = w.unbind(0)  # w becomes its CDF: running_sum_'s adds
    for previous, row in zip(rows, rows[1:]):
        row.add_(previous)
    total = rows[-1]
    action = torch.le(w, uniform.mul_(total)).sum(0, keepdim=True)  # locate's count
    log_total = total.log()
    logprob = z.gather(0, action).sub_(log_total)
    return action.view(-1), logprob.view(-1), torch.addcdiv(log_total, weighted, total, value=-1.0)
