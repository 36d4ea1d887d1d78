"""Action sampling, log-probabilities and entropies for categorical and Normal heads.

Discrete draws follow the spec's rule (puffer_backend.spec.sampling): inverse CDF with one
uniform per head per row, so the JAX backend returns the same actions for the same uniforms.
Everything is computed in float32 (float64 stays float64) from shifted logits
`z = logits - max` and weights `exp2(z * log2(e))`. z is clamped where those weights
underflow to exactly 0, so masked and `-inf` actions are never drawn and `0 * -inf` never
poisons values or gradients; a clamped entry loses less than 5e-46 of the total weight
(float64: less than the smallest subnormal).

One formula for drawn and re-scored results: the no-grad draw (`_draw_no_grad`, PufferLib's
rollout hot path) and the scoring path (`_categorical`, with autograd in the update) share
every rounding, so on CPU in eager mode a sampled action's log-probability and entropy equal
the re-scored ones bit for bit, as in PufferLib (PPO's first ratio is exactly 1).

Sections and private helpers mirror jax_impl/sampling.py name for name (`_weights`,
`_inverse_cdf`, `_log_prob`, `_entropy`, `_categorical`, `_normal_parts`, `_normal`,
`_classify`); what only torch needs says so (`_draw_no_grad`, `_stack_heads`, `_layout`).
"""
from __future__ import annotations

import math
import threading

import numpy as np
import torch

from ..spec import bad_value, checks, normal
from ..spec.checks import bad_array_type, check_action_shape
from . import validation as v

__all__ = ["sample_logits", "sample_from_uniforms", "log_prob", "entropy", "entropy_probs"]

# Shifted logits are clamped here: exp2(clamp * log2(e)) underflows to exactly 0 (float32:
# 2**-150.8; float64: 2**-1076.3), so masked and -inf actions get weight 0 (never drawn), and
# masked entries stay finite, so `z * w` is 0, not `-inf * 0 = NaN` (values and gradients).
_CLAMP = {torch.float32: -104.5, torch.float64: -746.0}


# -- the categorical core ----------------------------------------------------------------------
#
# Two layouts, chosen by the input alone, so that every path that sees the same logits (the
# draw, the re-scoring, log_prob, entropy) shares each rounding: rows, the actions along the
# last axis (`dim=-1`), or columns `(n, rows)` (`dim=0`), where every reduction over the
# actions is a vectorized loop over contiguous rows instead of a scalar loop over a row of a
# few actions. Stacked heads are columns (`_stack_heads`); a logits tensor is columns on CPU
# up to 16 actions, else rows (`_layout`).

_ROWS, _COLUMNS = -1, 0
_LOG2_E = 1.4426950408889634


def _rand(shape, generator, dtype, device):
    """torch.rand; `generator=None` is not passed on: under torch.compile it makes a dynamic
    batch size untraceable ("SymIntArrayRef expected to contain only concrete integers")."""
    if generator is None:
        return torch.rand(shape, dtype=dtype, device=device)
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def _as_compute(x: torch.Tensor) -> torch.Tensor:
    return x.to(v.compute_dtype(x.dtype))


def _max(x, dim):
    """The max along the action axis, keepdim, without gradient (the shift cancels in every
    result). On CPU, torch 2.13's amax over a last axis whose length is not a multiple of 32
    runs a scalar loop (73 us at 4096 x 16, 20 us at 4096 x 32): large batches of such rows
    are copied into a -inf padded scratch buffer first (~10 us)."""
    if x.requires_grad:
        x = x.detach()
    n = x.shape[dim]
    width = -(-n // 32) * 32
    buffer = None
    if dim == _ROWS and n % 32 != 0 and n > 4:
        buffer = _scratch("rowmax", (*x.shape[:-1], width), x.dtype, x.device)
    if buffer is None:
        return x.amax(dim, keepdim=True)
    buffer[..., :n].copy_(x)
    buffer[..., n:].fill_(float("-inf"))
    return buffer.amax(-1, keepdim=True)


def _weights(x: torch.Tensor, dim: int, inplace: bool):
    """(m, z, w) for float logits x with actions along `dim`: the max (keepdim), the clamped
    shifted logits and the unnormalized weights `2 ** (z * log2(e))`.

    exp2, not exp: torch's exp calls MKL's vector math, which takes its generic path on AMD
    CPUs whatever the ATen capability (215 us at 4096 x 64), where exp2 runs ATen's own
    vectorized kernel (75 us with AVX-512, 125 us with AVX2). `inplace` (no autograd) writes
    into reused scratch buffers; the values are the same either way.
    """
    m = _max(x, dim)
    clamp = _CLAMP[x.dtype]
    if inplace:
        z = torch.sub(x, m, out=_scratch("z", x.shape, x.dtype, x.device)).clamp_(min=clamp)
        w = torch.mul(z, _LOG2_E, out=_scratch("w", x.shape, x.dtype, x.device)).exp2_()
    else:
        z = (x - m).clamp(min=clamp)
        w = (z * _LOG2_E).exp2()
    return m, z, w


def _running_sum_(w: torch.Tensor, dim: int) -> torch.Tensor:
    """w, in place, becomes its CDF along `dim`. Rows: cumsum (sequential, accumulated in
    double). Columns: one add per action, each over contiguous rows (torch's cumsum over a
    leading axis is a strided scalar loop, 5x slower)."""
    if dim == _ROWS:
        return w.cumsum_(-1)
    rows = w.unbind(0)  # one call for every view; indexing w[j] costs a call per view
    for previous, row in zip(rows, rows[1:]):
        row.add_(previous)
    return w


def _total(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Total weight along `dim` (dim dropped): bit for bit the last CDF entry that a draw on the
    same weights normalizes with (`_running_sum_`), and, with autograd, the gradient of a sum.

    The CDF's last entry c and the sum s are both within a few ulps of the true total (>= 1),
    so `c - s` is exact (Sterbenz) and `s + (c - s)` rounds to exactly c.
    """
    with torch.no_grad():
        if dim == _ROWS:
            last = w.cumsum(-1)[..., -1]
        else:
            rows = w.unbind(0)
            last = rows[0].clone()
            for row in rows[1:]:
                last.add_(row)  # the same additions, in the same order, as _running_sum_
    if not (torch.is_grad_enabled() and w.requires_grad):
        return last
    s = w.sum(dim)
    return s + (last - s.detach())


_COUNT_MAX = 128  # up to this many actions in a row, counting beats binary search (a tie at 256)


def _locate(cdf, threshold, dim, below=None):
    """Index of the first CDF entry above the threshold (keepdim, int64).

    Mostly a branch-free count of `cdf <= threshold`, written as 0/1 floats into a scratch
    buffer and summed (summing booleans is a slow int64 reduction: 62 us at 4096 x 16 against
    32 us). Rows longer than `_COUNT_MAX` binary-search. With fresh random thresholds
    searchsorted mispredicts its branches: at 4096 x 64 the whole draw takes 10-15% longer
    with it than with the count (repeated calls on the same data look 4x faster than that,
    which is how a benchmark on fixed inputs hides it). A row with nothing allowed has max
    -inf, so its CDF is NaN (never a total of 0: the max has weight 1): the count gives 0 and
    searchsorted the out-of-range n, set to 0 here, as in jax_impl (never an index error or a
    CUDA device-side assert in the gather that follows). `below`: a free scratch buffer of the
    CDF's shape for the count, or None.
    """
    if dim == _ROWS and cdf.shape[-1] > _COUNT_MAX:
        total = cdf[..., -1:]
        return torch.searchsorted(cdf, threshold, right=True).masked_fill_(total.isnan(), 0)
    if below is None:
        below = _scratch("count", cdf.shape, cdf.dtype, cdf.device)
    if below is None:
        return torch.le(cdf, threshold).sum(dim, keepdim=True)
    return torch.le(cdf, threshold, out=below).sum(dim, keepdim=True).long()


def _threshold(uniform, total):
    """The spec's `min(u * total, nextafter(total, 0))` for caller-given uniforms."""
    return torch.minimum(uniform * total, torch.nextafter(total, total.new_zeros(())))


def _inverse_cdf(w: torch.Tensor, dim: int, uniform: torch.Tensor) -> torch.Tensor:
    """The spec rule on weights w (not modified) and one uniform per row (keepdim) -> int64
    actions (dim dropped)."""
    cdf = _running_sum_(w.clone(), dim)
    total = cdf.narrow(dim, cdf.shape[dim] - 1, 1)
    return _locate(cdf, _threshold(uniform, total), dim).squeeze(dim)


def _log_prob(x, dim, m, log_total, action, given):
    """Log-probabilities (dim dropped) of int actions (dim dropped) under logits x with max m
    (keepdim) and log-total weight `log_total`.

    Given actions are range-checked eagerly on CPU only (validation.py); under torch.compile or
    on CUDA an out-of-range index would crash the process (a CUDA device-side assert), so it
    is clamped and its result replaced by NaN, as jax_impl does under jit.
    """
    index = (action if action.dtype in (torch.int64, torch.int32) else action.long()).unsqueeze(dim)
    if not given or v.values_checked(action):
        chosen = x.gather(dim, index).squeeze(dim)
    else:
        n = x.shape[dim]
        chosen = x.gather(dim, index.clamp(0, n - 1)).squeeze(dim)
        chosen = torch.where((action >= 0) & (action < n), chosen, float("nan"))
    return chosen - m.squeeze(dim) - log_total


def _entropy(weighted, total, log_total):
    """Entropy from `sum(z * w)`, the total weight and its log (the draw uses the same op)."""
    return torch.addcdiv(log_total, weighted, total, value=-1.0)


def _categorical(x, dim, action, deterministic, generator, uniform=None, rows=None):
    """Core for float logits x with masks applied (-inf) and actions along `dim` (`_ROWS`: a
    tensor `(..., n)`; `_COLUMNS`: stacked heads `(n, rows)`).

    Returns (action int64, logprob, entropy), each x's shape without `dim`; given actions have
    that shape; `uniform` (x's shape with `dim` of length 1) overrides rand. Sampled and
    re-scored results of the same logits are bit-identical: both paths share `_weights`,
    `_total`, `_log_prob` and `_entropy`, and the draw's in-place versions keep every rounding.
    rows: the same logits as rows `(batch, n)` when x is a scratch copy the draw may overwrite.
    """
    given = action is not None
    grad = torch.is_grad_enabled() and x.requires_grad
    if action is None and not deterministic and not grad:
        return _draw_no_grad(x, dim, generator, uniform, rows)
    m, z, w = _weights(x, dim, inplace=not grad)
    if action is None:
        with torch.no_grad():
            if deterministic:
                action = x.argmax(dim)
            else:
                if uniform is None:
                    uniform = _rand(m.shape, generator, x.dtype, x.device)
                action = _inverse_cdf(w.detach(), dim, uniform)
    total = _total(w, dim)
    log_total = total.log()
    logprob = _log_prob(x, dim, m, log_total, action, given)
    return action, logprob, _entropy((z * w).sum(dim), total, log_total)


# -- torch only: the no-grad CPU draw, fused ---------------------------------------------------

class _Workspace(threading.local):
    """Per-thread scratch buffers for the no-grad CPU draw, reused across calls.

    Fresh 1 MB temporaries are served by mmap and page-faulted in on every call; at batch
    4096 x 64 actions that costs more than the arithmetic. Buffers are keyed by
    (role, shape, dtype); the cache is dropped when it grows past a few shapes.
    """
    def __init__(self):
        self.buffers = {}

    def get(self, role, shape, dtype):
        key = (role, tuple(shape), dtype)
        buffer = self.buffers.get(key)
        if buffer is None:
            if len(self.buffers) >= 24:
                self.buffers.clear()
            buffer = self.buffers[key] = torch.empty(shape, dtype=dtype)
        return buffer


_WORKSPACE = _Workspace()


def _scratch(role, shape, dtype, device):
    """A reusable CPU buffer, or None where reuse is not worth it (small, not CPU) or unsafe
    (under torch.compile, where inductor plans memory itself)."""
    if device.type != "cpu" or torch.compiler.is_compiling() or math.prod(shape) < 16384:
        return None
    return _WORKSPACE.get(role, shape, dtype)


def _draw_no_grad(x, dim, generator, uniform, rows=None):
    """Sampling without autograd: `_categorical`'s arithmetic with its buffers reused in place
    (z becomes z * w, then the count's scratch; w becomes the CDF) and, on CPU, across calls:
    two buffers of the logits' size (they stay in cache). With `rows` (the logits as rows), x
    is a columns copy in the z buffer itself, shifted in place, and log-probabilities are read
    from `rows`: the same values, one buffer and one pass fewer.

    torch.rand returns u <= 1 - eps/2 and rounding is monotone, so u * total <=
    nextafter(total, 0) already: the spec's clamp is needed only for caller-given uniforms.
    """
    m, z, w = _weights(x, dim, inplace=True)
    weighted = z.mul_(w).sum(dim)
    cdf = _running_sum_(w, dim)
    total = cdf.narrow(dim, cdf.shape[dim] - 1, 1)
    if uniform is None:
        threshold = _rand(total.shape, generator, x.dtype, x.device).mul_(total)
    else:
        threshold = _threshold(uniform, total)
    action = _locate(cdf, threshold, dim, below=z)
    log_total = total.log()
    if rows is not None:  # x was overwritten: the same logits, as rows
        x, dim, action, m, log_total = rows, _ROWS, action.view(-1, 1), m.view(-1, 1), log_total.view(-1, 1)
    logprob = x.gather(dim, action).sub_(m).sub_(log_total).squeeze(dim)
    return action.squeeze(dim), logprob, _entropy(weighted, total.reshape(-1), log_total.reshape(-1))


# -- heads -------------------------------------------------------------------------------------

def _stack_heads(heads, masks):
    """Heads (batch, n_i) -> columns `(max n, heads * batch)` in the compute dtype: action j of
    head i for row b at `[j, i * batch + b]`, padded with -inf, so that one `_categorical` call
    samples every head (jax_impl loops over them: `_split_heads`)."""
    dtype = heads[0].dtype
    for h in heads[1:]:
        dtype = torch.promote_types(dtype, h.dtype)
    dtype = v.compute_dtype(dtype)
    width, batch = max(h.shape[1] for h in heads), heads[0].shape[0]
    shape = (width, len(heads) * batch)
    stacked = None
    if not (torch.is_grad_enabled() and any(h.requires_grad for h in heads)):
        stacked = _scratch("stack", shape, dtype, heads[0].device)
    if stacked is None:
        stacked = heads[0].new_empty(shape, dtype=dtype)
    columns = stacked.view(width, len(heads), batch)
    for i, h in enumerate(heads):
        if masks is not None:
            h = torch.where(masks[i], h, float("-inf"))
        columns[:h.shape[1], i] = h.T  # copy_ converts the dtype; autograd tracks the slices
        if h.shape[1] < width:
            columns[h.shape[1]:, i] = float("-inf")
    return stacked


def _heads_categorical(heads, masks, action, deterministic, generator, uniform=None):
    """`_categorical` on stacked heads: action `(batch, heads)` (the given one, as given),
    logprob and entropy `(batch,)` summed over heads; uniform `(batch, heads)` overrides rand."""
    count, batch = len(heads), heads[0].shape[0]
    x = _stack_heads(heads, masks)
    columns = None if action is None else action.T.reshape(-1)
    if uniform is None and action is None and not deterministic:
        # drawn as (batch, heads), as jax_impl's: the same generator state gives the actions of
        # sample_from_uniforms(heads, torch.rand((batch, heads)))
        uniform = _rand((batch, count), generator, x.dtype, x.device)
    if uniform is not None:
        uniform = uniform.T.reshape(1, -1).to(x.dtype)
    drawn, logprob, ent = _categorical(x, _COLUMNS, columns, deterministic, generator, uniform)
    if action is None:
        action = drawn.view(count, batch).T.contiguous()
    return action, logprob.view(count, batch).sum(0), ent.view(count, batch).sum(0)


# -- one logits tensor -------------------------------------------------------------------------

_COLUMNS_MAX = 16  # rows of up to this many actions are laid out as columns


def _layout(x, role="columns"):
    """(x, dim): float logits `(batch, n)` as the core takes them, rows (`_ROWS`, as they are)
    or, on CPU for n <= `_COLUMNS_MAX`, columns `(n, batch)` (`_COLUMNS`): over 4 to 16
    actions a row reduction is a scalar loop, a column reduction a vectorized one, and that
    gains more than the transposing copy costs (30% of the draw at 4096 x 4 to x 12, 5-8% at
    x 16, none at x 24). Elsewhere one cumsum kernel beats a launch per column. `role`: the
    scratch buffer the columns go to without autograd (the no-grad draw passes its z buffer)."""
    n = x.shape[-1]
    if n > _COLUMNS_MAX or x.device.type != "cpu":
        return x, _ROWS
    buffer = None
    if not (torch.is_grad_enabled() and x.requires_grad):
        buffer = _scratch(role, (n, x.shape[0]), x.dtype, x.device)
    if buffer is None:
        return x.T.contiguous(), _COLUMNS
    # A transposing copy (exact; x is float32 or float64 here). numpy's is 2-3x faster than
    # torch's strided loops (4096 x 16: 50 us against 85 us for mul(out=), 104 us for copy_).
    np.copyto(buffer.numpy(), x.detach().numpy().T)
    return buffer, _COLUMNS


def _tensor_categorical(x, action, deterministic, generator, uniform=None):
    """`_categorical` on float logits `(batch, n)` (masks applied): action, logprob and entropy
    `(batch,)`; given actions `(batch,)`; uniform `(batch,)` overrides rand."""
    draw = action is None and not deterministic and not (torch.is_grad_enabled() and x.requires_grad)
    laid_out, dim = _layout(x, "z" if draw else "columns")
    if uniform is not None:
        uniform = uniform.reshape((1, -1) if dim == _COLUMNS else (-1, 1))
    # the draw may shift its columns copy in place: log-probabilities are read from the rows
    rows = x if draw and dim == _COLUMNS else None
    return _categorical(laid_out, dim, action, deterministic, generator, uniform, rows)


# -- the Normal --------------------------------------------------------------------------------

def _normal_parts(dist):
    """loc and scale as `(batch, action_dim)`, and whether the Normal is unbatched (loc `(d,)`)."""
    loc, scale = dist.loc, dist.scale
    if loc.dim() == 0:
        raise bad_value("logits", "a Normal with loc of shape (batch, ...) or unbatched (action_dim,)",
                        f"loc shape {tuple(loc.shape)}")
    v.check_normal_scale(scale)
    unbatched = loc.dim() == 1
    # math.prod, not reshape(batch, -1), which fails for batch 0
    shape = (1, loc.shape[0]) if unbatched else (loc.shape[0], math.prod(loc.shape[1:]))
    return loc.reshape(shape), scale.reshape(shape), unbatched


def _normal(loc, scale, action, deterministic, generator, uniform=None):
    """Action, logprob and entropy of a Normal's `(batch, action_dim)` parts."""
    if action is None:
        with torch.no_grad():
            if deterministic:
                action = loc.clone()
            else:
                if uniform is None:
                    # torch.rand returns multiples of 2**-mantissa in [0, 1); shifting by half a
                    # step makes the draws symmetric in (0, 1), so ndtri never sees 0.
                    draw = v.compute_dtype(loc.dtype)  # ndtri has no half kernels; draw in float32
                    half_step = torch.finfo(draw).eps / 4  # the rand step is eps / 2
                    uniform = _rand(loc.shape, generator, draw, loc.device)
                    uniform = uniform + half_step
                cd = v.compute_dtype(loc.dtype)
                noise = torch.special.ndtri(uniform.to(torch.promote_types(uniform.dtype, cd)))
                action = (loc.to(cd) + scale.to(cd) * noise.to(cd)).to(loc.dtype)
    cd = v.compute_dtype(loc.dtype)
    loc_c, scale_c = loc.to(cd), scale.to(cd)
    log_scale = scale_c.log()
    logprob = normal.log_density(action.to(cd), loc_c, scale_c, log_scale).sum(1)
    ent = normal.entropy(log_scale).sum(1)
    return action, logprob, ent


# -- inputs: kinds and unbatched rows ----------------------------------------------------------

def _classify(logits, is_continuous):
    """('normal' | 'tensor' | 'heads', unbatched), after checking the input's types and shapes."""
    if isinstance(logits, torch.distributions.Normal):
        v.check_is_continuous(is_continuous, True)
        return "normal", logits.loc.dim() == 1
    v.check_is_continuous(is_continuous, False)
    if isinstance(logits, torch.Tensor):
        return "tensor", v.check_sample_logits(logits)
    if isinstance(logits, (tuple, list)):
        return "heads", v.check_heads(logits) is None
    raise bad_array_type("logits", "a tensor, a tuple/list of tensors or a torch.distributions.Normal", logits)


def _masked(x, mask):
    return x if mask is None else torch.where(mask, x, float("-inf"))


def _one_row(tensor):
    return None if tensor is None else tensor.unsqueeze(0)


def _first_row(results):
    """Unbatched results from a batch of one."""
    return tuple(r[0] for r in results)


# -- the API -----------------------------------------------------------------------------------

def sample_logits(logits, action=None, *, mask=None, deterministic=False, generator=None, is_continuous=None):
    """Sample actions (or score given ones) and return `(action, logprob, entropy)`.

    logits: a float tensor `(batch, n)` (one categorical: action `(batch,)` int64), a tuple or
    list of such tensors of different widths (multi-discrete: action `(batch, heads)` int64,
    logprob and entropy summed over heads), or a `torch.distributions.Normal` with loc
    `(batch, ...)` (continuous: action `(batch, action_dim)`, summed over dims).
    Unbatched input, distrax style: logits `(n,)`, heads `(n_i,)` or a Normal with loc `(d,)`
    give action `()`, `(heads,)` or `(d,)` and 0-d logprob and entropy.
    action: actions to score instead of sampling. Batched: any shape with `batch` (discrete),
    `batch * heads` or `batch * action_dim` elements, read as PufferLib's
    `action.view(batch, -1)` (a `(segments, horizon[, heads])` buffer, a flat one); it is
    returned in the shape above, in its own dtype. Unbatched: exactly `()`, `(heads,)`, `(d,)`.
    mask: boolean, True = allowed, the logits' shape (a tuple of masks for heads). A row
    with nothing allowed has no distribution (NaN); it is not checked, to avoid a sync.
    deterministic: argmax (mean for a Normal) instead of a draw. generator: a torch.Generator
    for `torch.rand`. is_continuous: PufferLib 2's flag; a bool contradicting the input is an error.
    logprob and entropy are `(batch,)`, float32 for float16/bfloat16 inputs.
    Raises TypeError/ValueError naming the argument for bad input; integer actions are
    range-checked, and a Normal's scale checked positive and finite, on CPU in eager mode
    (on CUDA only with `puffer_backend.torch_impl.validation.CHECK_DEVICE_ACTIONS = True`,
    since it syncs). `generator` works in eager mode only: dynamo cannot trace a torch.Generator.
    """
    kind, unbatched = _classify(logits, is_continuous)
    deterministic = v.check_deterministic(deterministic)
    v.check_generator(generator)
    if kind == "normal":
        if mask is not None:
            raise bad_value("mask", "None for a continuous (Normal) distribution", mask)
        loc, scale, unbatched = _normal_parts(logits)
        if action is not None:
            action = v.check_normal_action(action, loc.shape, unbatched=unbatched)
        results = _normal(loc, scale, action, deterministic, generator)
        return _first_row(results) if unbatched else results
    if kind == "tensor":
        if mask is not None:
            v.check_mask(mask, logits.shape)
        if unbatched:
            logits, mask = logits.unsqueeze(0), _one_row(mask)
        if action is not None:
            action = v.check_action(action, (logits.shape[0],), int(logits.shape[1]), unbatched=unbatched)
        # contiguous: searchsorted copies a strided CDF (a transposed logits tensor) with a warning
        results = _tensor_categorical(_masked(_as_compute(logits).contiguous(), mask), action, deterministic,
                                      generator)
        return _first_row(results) if unbatched else results
    heads = tuple(logits)
    if mask is not None:
        v.check_head_masks(mask, heads)
    if unbatched:
        heads = tuple(h.unsqueeze(0) for h in heads)
        mask = None if mask is None else tuple(m.unsqueeze(0) for m in mask)
    sizes = tuple(int(h.shape[1]) for h in heads)
    if action is not None:
        action = v.check_action(action, (heads[0].shape[0], len(sizes)), sizes, unbatched=unbatched)
    results = _heads_categorical(heads, mask, action, deterministic, generator)
    return _first_row(results) if unbatched else results


def sample_from_uniforms(logits, uniforms, *, mask=None):
    """The sampling rule itself: actions from given uniforms in [0, 1), no randomness.

    logits as in `sample_logits`; uniforms `(batch,)` for a tensor, `(batch, heads)` for a
    tuple of heads, `(batch, action_dim)` for a Normal (`loc + scale * ndtri(u)`), or any
    shape of as many elements (as given actions); for unbatched logits exactly `()`,
    `(heads,)` or `(action_dim,)`. Returns the actions only (int64, or the Normal's dtype),
    shaped as `sample_logits`'s.
    """
    kind, unbatched = _classify(logits, None)
    if not isinstance(uniforms, torch.Tensor) or not uniforms.is_floating_point():
        raise bad_array_type("uniforms", "a floating-point tensor of values in [0, 1)", uniforms)
    with torch.no_grad():
        if kind == "normal":
            if mask is not None:
                raise bad_value("mask", "None for a continuous (Normal) distribution", mask)
            loc, scale, unbatched = _normal_parts(logits)
            check_action_shape(uniforms.shape, loc.shape[1:] if unbatched else loc.shape, "uniforms",
                               batched=not unbatched)
            action = _normal(loc, scale, None, False, None, uniforms.reshape(loc.shape))[0]
            return action[0] if unbatched else action
        if kind == "tensor":
            if mask is not None:
                v.check_mask(mask, logits.shape)
            if unbatched:
                logits, mask = logits.unsqueeze(0), _one_row(mask)
            expected = (logits.shape[0],)
            check_action_shape(uniforms.shape, expected[1:] if unbatched else expected, "uniforms",
                               batched=not unbatched)
            x = _masked(_as_compute(logits).contiguous(), mask)
            action = _tensor_categorical(x, None, False, None, uniforms.reshape(-1).to(x.dtype))[0]
            return action[0] if unbatched else action
        heads = tuple(logits)
        if mask is not None:
            v.check_head_masks(mask, heads)
        if unbatched:
            heads = tuple(h.unsqueeze(0) for h in heads)
            mask = None if mask is None else tuple(m.unsqueeze(0) for m in mask)
        expected = (heads[0].shape[0], len(heads))
        check_action_shape(uniforms.shape, expected[1:] if unbatched else expected, "uniforms", batched=not unbatched)
        action = _heads_categorical(heads, mask, None, False, None, uniforms.reshape(expected))[0]
        return action[0] if unbatched else action


def log_prob(logits, value):
    """Log-probability of integer actions `value (...)` under the categorical of `logits (..., n)`.

    Exact for unnormalized logits; entries at -inf or the dtype's minimum (masks) give
    finite results and finite gradients for allowed actions. float32 for half inputs.
    """
    v.check_logits(logits)
    v.check_integer_action(value, "value")
    checks.check_value_shape(value.shape, logits.shape)
    v.check_action_range(value, int(logits.shape[-1]), "value")
    x, dim = _layout(_as_compute(logits).reshape(-1, logits.shape[-1]))
    m, _, w = _weights(x, dim, inplace=not (torch.is_grad_enabled() and x.requires_grad))
    return _log_prob(x, dim, m, _total(w, dim).log(), value.reshape(-1), True).reshape(value.shape)


def entropy(logits):
    """Entropy `(...)` of the categorical of `logits (..., n)`, normalized or not.

    Masked entries (-inf or the dtype's minimum) count as probability 0: finite values and
    gradients. float32 for half inputs.
    """
    v.check_logits(logits)
    x, dim = _layout(_as_compute(logits).reshape(-1, logits.shape[-1]))
    _, z, w = _weights(x, dim, inplace=not (torch.is_grad_enabled() and x.requires_grad))
    total = _total(w, dim)
    return _entropy((z * w).sum(dim), total, total.log()).reshape(logits.shape[:-1])


def entropy_probs(logits, probs):
    """The documented formula `-(logits * probs).sum(-1)` for normalized log-probabilities
    `logits (..., n)` and their probabilities `probs` (same shape); result `(...)`.

    Entries with probability 0 contribute 0 even where the logit is -inf (0 log 0 = 0, not
    NaN), as in jax_impl. float32 for float16/bfloat16 inputs.
    """
    v.check_logits(logits)
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
        raise bad_array_type("probs", "a floating-point tensor", probs)
    if probs.shape != logits.shape:
        raise bad_value("probs", f"shape {tuple(logits.shape)} (the logits' shape)", f"shape {tuple(probs.shape)}")
    out = v.compute_dtype(torch.promote_types(logits.dtype, probs.dtype))
    logits, probs = logits.to(out), probs.to(out)
    return -(torch.where(probs == 0, 0.0, logits) * probs).sum(-1)

