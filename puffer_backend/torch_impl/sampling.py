"""Action sampling, log-probabilities and entropies for categorical and Normal heads.

Discrete draws follow the spec's rule (puffer_backend.spec.sampling): inverse CDF with one
uniform per head per row, so the JAX backend returns the same actions for the same uniforms.
Everything is computed in float32 (float64 stays float64) from shifted logits
`z = logits - max` and weights `exp2(z * log2(e))`. z is clamped where those weights
underflow to exactly 0, so masked and `-inf` actions are never drawn and `0 * -inf` never
poisons values or gradients; a clamped entry loses less than 5e-46 of the total weight
(float64: less than the smallest subnormal).

One formula for drawn and re-scored results: the no-grad draw (`cpu_draw.draw_in_place`,
PufferLib's rollout hot path) and the scoring path (`_categorical`, with autograd in the
update) share every rounding, so on CPU in eager mode a sampled action's log-probability and
entropy equal the re-scored ones bit for bit, as in PufferLib (PPO's first ratio is exactly 1).

Inputs are classified and checked by `spec.sampling_inputs`, as in jax_impl. The sections
follow jax_impl/sampling.py, and helpers that do the same job carry its names: `_threshold`,
`_normal_parts`, `_normal_from_uniforms`, `_normal` (the randomness last: a generator here,
a key there), `_batch_of_rows` and `_first_row` also take its arguments; the categorical
core (`_weights`, `_inverse_cdf`, `_log_prob`, `_entropy`, `_categorical`) works on a layout
(`dim`, see cpu_draw.py), so its arguments differ. torch only: `_total`, `_stack_heads`,
`_heads_categorical`, `_tensor_categorical`, `_rand`, `_as_compute`, `_masked`, and the CPU
fast path in cpu_draw.py.
"""
from __future__ import annotations

import math

import torch

from ..spec import normal, sampling_inputs
from ..spec.sampling_inputs import HEADS, NORMAL
from . import cpu_draw
from . import validation as v
from .cpu_draw import COLUMNS

__all__ = ["sample_logits", "sample_from_uniforms", "log_prob", "entropy", "entropy_probs"]

# Shifted logits are clamped here: exp2(clamp * log2(e)) underflows to exactly 0 (float32:
# 2**-150.8; float64: 2**-1076.3), so masked and -inf actions get weight 0 (never drawn), and
# masked entries stay finite, so `z * w` is 0, not `-inf * 0 = NaN` (values and gradients).
_CLAMP = {torch.float32: -104.5, torch.float64: -746.0}
_LOG2_E = 1.4426950408889634


def _rand(shape, generator, dtype, device):
    """torch.rand; `generator=None` is not passed on: under torch.compile it makes a dynamic
    batch size untraceable (https://github.com/pytorch/pytorch/issues/107170)."""
    if generator is None:
        return torch.rand(shape, dtype=dtype, device=device)
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def _as_compute(x: torch.Tensor) -> torch.Tensor:
    return x.to(v.compute_dtype(x.dtype))


# -- the categorical core ----------------------------------------------------------------------
#
# x: float logits with masks applied (-inf), laid out by `cpu_draw.layout` or `_stack_heads`
# with the actions along `dim` (`ROWS` or `COLUMNS`). Every path that sees the same logits
# (the draw, the re-scoring, log_prob, entropy) gets the same layout and kernels.

def _weights(x: torch.Tensor, dim: int, inplace: bool):
    """(m, z, w): the max (keepdim), the clamped shifted logits and the unnormalized weights
    `2 ** (z * log2(e))`. jax_impl's returns the shifted logits, the weights and their total.

    exp2, not exp: torch's exp calls MKL's vector math, which takes its generic path on AMD
    CPUs (https://github.com/pytorch/builder/issues/504), where exp2 runs ATen's own
    vectorized kernel. `inplace` (no autograd) writes into reused scratch buffers; the values
    are the same either way.
    """
    m = cpu_draw.row_max(x, dim)
    clamp = _CLAMP[x.dtype]
    if inplace:
        z = torch.sub(x, m, out=cpu_draw.scratch("z", x.shape, x.dtype, x.device)).clamp_(min=clamp)
        w = torch.mul(z, _LOG2_E, out=cpu_draw.scratch("w", x.shape, x.dtype, x.device)).exp2_()
    else:
        z = (x - m).clamp(min=clamp)
        w = (z * _LOG2_E).exp2()
    return m, z, w


def _total(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Total weight along `dim` (dim dropped): bit for bit the last CDF entry that a draw on the
    same weights normalizes with, and, with autograd, the gradient of a sum.

    The CDF's last entry c and the sum s are both within a few ulps of the true total (>= 1),
    so `c - s` is exact (Sterbenz) and `s + (c - s)` rounds to exactly c.
    """
    with torch.no_grad():
        last = cpu_draw.running_total(w, dim)
    if not (torch.is_grad_enabled() and w.requires_grad):
        return last
    s = w.sum(dim)
    return s + (last - s.detach())


def _threshold(uniform, total):
    """The spec's `min(u * total, nextafter(total, 0))` for caller-given uniforms."""
    return torch.minimum(uniform * total, torch.nextafter(total, total.new_zeros(())))


def _inverse_cdf(w: torch.Tensor, dim: int, uniform: torch.Tensor) -> torch.Tensor:
    """The spec rule on weights w (not modified) and one uniform per row (keepdim) -> int64
    actions (dim dropped)."""
    cdf = cpu_draw.running_sum_(w.clone(), dim)
    total = cdf.narrow(dim, cdf.shape[dim] - 1, 1)
    return cpu_draw.locate(cdf, _threshold(uniform, total), dim).squeeze(dim)


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
    """(action int64, logprob, entropy), each x's shape without `dim`, of laid-out logits x:
    scores the given `action` (x's shape without `dim`), takes the argmax (`deterministic`) or
    draws, with `uniform` (m's keepdim shape, from torch.rand) if given.

    Sampled and re-scored results of the same logits are bit-identical: both paths share
    `_weights`, the running sum whose last entry normalizes (`_total` on the scoring path),
    and `_log_prob`'s and `_entropy`'s arithmetic. rows: the same logits as rows `(batch, n)` when x is a scratch copy the draw
    may overwrite (`_tensor_categorical`).
    """
    given = action is not None
    grad = torch.is_grad_enabled() and x.requires_grad
    m, z, w = _weights(x, dim, inplace=not grad)
    if action is None and not deterministic and not grad:
        if uniform is None:
            uniform = _rand(m.shape, generator, x.dtype, x.device)
        action, logprob, weighted, total, log_total = cpu_draw.draw_in_place(x, dim, m, z, w, uniform, rows)
        return action, logprob, _entropy(weighted, total, log_total)
    if action is None:
        with torch.no_grad():
            if deterministic:  # a row without a distribution (max NaN, +inf or -inf) gets 0, as a draw does
                action = x.argmax(dim).masked_fill_(~torch.isfinite(m.squeeze(dim)), 0)
            else:
                if uniform is None:
                    uniform = _rand(m.shape, generator, x.dtype, x.device)
                action = _inverse_cdf(w.detach(), dim, uniform)
    total = _total(w, dim)
    log_total = total.log()
    logprob = _log_prob(x, dim, m, log_total, action, given)
    return action, logprob, _entropy((z * w).sum(dim), total, log_total)


# -- torch only: one logits tensor, and heads stacked as columns -------------------------------

def _tensor_categorical(x, action, deterministic, generator):
    """`_categorical` on float logits `(batch, n)` (masks applied): action, logprob and entropy
    `(batch,)`; given actions `(batch,)`."""
    draw = action is None and not deterministic and not (torch.is_grad_enabled() and x.requires_grad)
    laid_out, dim = cpu_draw.layout(x, "z" if draw else "columns")
    # the draw may shift its columns copy in place: log-probabilities are read from the rows
    rows = x if draw and dim == COLUMNS else None
    return _categorical(laid_out, dim, action, deterministic, generator, rows=rows)


def _stack_heads(heads, masks):
    """Heads (batch, n_i) -> columns `(max n, heads * batch)` in the compute dtype: action j of
    head i for row b at `[j, i * batch + b]`, padded with -inf, so that one `_categorical` call
    samples every head, on every device (jax_impl samples each head on its own)."""
    dtype = heads[0].dtype
    for h in heads[1:]:
        dtype = torch.promote_types(dtype, h.dtype)
    dtype = v.compute_dtype(dtype)
    width, batch = max(h.shape[1] for h in heads), heads[0].shape[0]
    shape = (width, len(heads) * batch)
    stacked = None
    if not (torch.is_grad_enabled() and any(h.requires_grad for h in heads)):
        stacked = cpu_draw.scratch("stack", shape, dtype, heads[0].device)
    if stacked is None:
        stacked = heads[0].new_empty(shape, dtype=dtype)
    columns = stacked.view(width, len(heads), batch)
    for i, h in enumerate(heads):
        if masks is not None:
            h = _masked(h, masks[i])
        columns[:h.shape[1], i] = h.T  # copy_ converts the dtype; autograd tracks the slices
        if h.shape[1] < width:
            columns[h.shape[1]:, i] = float("-inf")
    return stacked


def _heads_categorical(heads, masks, action, deterministic, generator):
    """`_categorical` on stacked heads: action `(batch, heads)` (the given one, as given),
    logprob and entropy `(batch,)` summed over heads."""
    count, batch = len(heads), heads[0].shape[0]
    x = _stack_heads(heads, masks)
    columns = None if action is None else action.T.reshape(-1)
    uniform = None
    if action is None and not deterministic:
        # drawn as (batch, heads), as jax_impl's: the same generator state gives the actions of
        # sample_from_uniforms(heads, torch.rand((batch, heads)))
        uniform = _rand((batch, count), generator, x.dtype, x.device).T.reshape(1, -1)
    drawn, logprob, ent = _categorical(x, COLUMNS, columns, deterministic, generator, uniform)
    if action is None:
        action = drawn.view(count, batch).T.contiguous()
    return action, logprob.view(count, batch).sum(0), ent.view(count, batch).sum(0)


def _masked(x, mask):
    return x if mask is None else torch.where(mask, x, float("-inf"))


# -- the Normal --------------------------------------------------------------------------------

def _normal_parts(loc, scale, unbatched):
    """(loc, scale) as `(batch, action_dim)` (a batch of one for an unbatched `(d,)` loc);
    torch.distributions has broadcast scale to loc's shape."""
    # math.prod, not reshape(batch, -1), which fails for batch 0
    shape = (1, loc.shape[0]) if unbatched else (loc.shape[0], math.prod(loc.shape[1:]))
    return loc.reshape(shape), scale.reshape(shape)


def _normal_from_uniforms(loc, scale, uniform):
    """The spec's `loc + scale * ndtri(u)`, computed in the compute dtype, in loc's dtype."""
    cd = v.compute_dtype(loc.dtype)
    noise = torch.special.ndtri(uniform.to(torch.promote_types(uniform.dtype, cd)))
    return (loc.to(cd) + scale.to(cd) * noise.to(cd)).to(loc.dtype)


def _normal(loc, scale, action, deterministic, generator):
    """(action `(batch, dim)`, logprob `(batch,)`, entropy `(batch,)`) of a Normal's `(batch, dim)`
    parts: scores the given `action` `(batch, dim)`, takes the mean or draws with `generator`."""
    if action is None:
        with torch.no_grad():
            if deterministic:
                action = loc.clone()
            else:
                # torch.rand returns multiples of 2**-mantissa in [0, 1); shifting by half a step
                # makes the draws symmetric in (0, 1), so ndtri never sees 0. Drawn in float32 at
                # least: ndtri has no half kernels.
                draw = v.compute_dtype(loc.dtype)
                uniform = _rand(loc.shape, generator, draw, loc.device) + torch.finfo(draw).eps / 4
                action = _normal_from_uniforms(loc, scale, uniform)
    cd = v.compute_dtype(loc.dtype)
    loc_c, scale_c = loc.to(cd), scale.to(cd)
    log_scale = scale_c.log()
    logprob = normal.log_density(action.to(cd), loc_c, scale_c, log_scale).sum(1)
    ent = normal.entropy(log_scale).sum(1)
    return action, logprob, ent


# -- unbatched rows ----------------------------------------------------------------------------

def _batch_of_rows(parts, masks, unbatched):
    """(parts, masks) with a batch axis: an unbatched row becomes a batch of one."""
    if not unbatched:
        return parts, masks
    return tuple(p.unsqueeze(0) for p in parts), None if masks is None else tuple(m.unsqueeze(0) for m in masks)


def _first_row(results):
    """Unbatched results from a batch of one."""
    return tuple(r[0] for r in results)


# -- the API -----------------------------------------------------------------------------------

def sample_logits(logits, action=None, is_continuous=None, *, mask=None, deterministic=False, generator=None):
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
    mask: boolean, True = allowed, the logits' shape (a tuple of masks for heads).
    Every row needs a distribution: allowed logits finite or -inf, at least one finite
    (docs/backends.md, "Non-finite logits"); eager calls refuse other rows, and without the
    value checks (`set_default_validate_args(False)`, torch.compile) such a row gives action
    0 and NaN logprob and entropy.
    deterministic: argmax (mean for a Normal) instead of a draw. generator: a torch.Generator
    for `torch.rand`. is_continuous: PufferLib 2's flag, positional as its wrappers pass it
    (`sample_logits(logits, action, self.is_continuous)`); a bool contradicting the input is an error.
    logprob and entropy are `(batch,)`, float32 for float16/bfloat16 inputs.
    Raises TypeError/ValueError naming the argument for bad input, as jax_impl, in the order of
    `spec.sampling_inputs`; the value checks (rows with a distribution, integer actions in
    range, a Normal's loc finite and scale positive and finite) run on CPU in eager mode
    while `set_default_validate_args(True)` (on CUDA only with
    `puffer_backend.torch_impl.validation.CHECK_DEVICE_ACTIONS = True`, since it syncs).
    `generator` works in eager mode only: dynamo cannot trace a torch.Generator.
    """
    plain = (mask is None and deterministic is False and (is_continuous is None or is_continuous is False)
             and (generator is None or (isinstance(generator, torch.Generator) and generator.device.type == "cpu")))
    if action is None and plain and cpu_draw.small(logits):
        # a rollout step's draw: cpu_draw.small_draw, the general path's results in fewer calls
        v.check_logit_values(logits)
        return cpu_draw.small_draw(logits, generator, _CLAMP, _LOG2_E)
    if action is not None and plain and _plain_scoring(logits, action):
        # the update's re-scoring: the general path's checks and ops, without its dispatch
        v.check_logit_values(logits)
        v.check_action_range(action, (logits.shape[1],))
        return _tensor_categorical(logits, action, False, generator)
    if (mask is None and deterministic is False and (is_continuous is None or is_continuous is True)
            and _plain_normal(logits, action, generator)):
        # a continuous policy's draw or re-scoring: the general path's checks and ops, without its dispatch
        v.check_normal_loc(logits.loc)
        v.check_normal_scale(logits.scale)
        return _normal(logits.loc, logits.scale, action, False, generator)
    return _sample_logits(logits, action, is_continuous, mask, deterministic, generator)


def _plain_scoring(logits, action) -> bool:
    """Whether the general path would take `logits` and `action` as they are: contiguous
    float32/float64 logits `(batch, n)`, batch > 0, and int64 actions `(batch,)` on their device
    (a PPO minibatch); everything else goes through `_sample_logits`' checks and conversions."""
    return (type(logits) is torch.Tensor and logits.dtype in cpu_draw.SMALL_DTYPES and logits.ndim == 2
            and logits.shape[0] > 0 and type(action) is torch.Tensor and action.dtype is torch.int64
            and action.shape == logits.shape[:1] and action.device == logits.device and logits.is_contiguous())


def _plain_normal(logits, action, generator) -> bool:
    """Whether the general path would take this Normal as it is: float32/float64 loc and scale
    of one shape `(batch, action_dim)`, batch > 0, an action of that shape, dtype and device
    or none, and no generator or a CPU one with CPU parameters; everything else goes through
    `_sample_logits`' checks and conversions."""
    if type(logits) is not torch.distributions.Normal:
        return False
    loc, scale = logits.loc, logits.scale
    if not (type(loc) is torch.Tensor and type(scale) is torch.Tensor and loc.dtype in cpu_draw.SMALL_DTYPES
            and scale.dtype == loc.dtype and loc.ndim == 2 and loc.shape == scale.shape and loc.shape[0] > 0
            and scale.device == loc.device):
        return False
    if generator is not None and not (type(generator) is torch.Generator and generator.device.type == "cpu"
                                      and loc.device.type == "cpu"):
        return False
    return action is None or (type(action) is torch.Tensor and action.dtype == loc.dtype
                              and action.shape == loc.shape and action.device == loc.device)


def _sample_logits(logits, action, is_continuous, mask, deterministic, generator):
    """`sample_logits` on its general path (every input it takes)."""
    kind, unbatched, parts, masks, action, _, deterministic = sampling_inputs.sample_logits_inputs(
        v, logits, action, mask, deterministic)
    v.check_generator(generator)
    v.check_is_continuous(is_continuous, kind == NORMAL)
    if kind == NORMAL:
        loc, scale = _normal_parts(*parts, unbatched)
        results = _normal(loc, scale, action, deterministic, generator)
    else:
        parts, masks = _batch_of_rows(parts, masks, unbatched)
        if kind == HEADS:
            results = _heads_categorical(parts, masks, action, deterministic, generator)
        else:
            # contiguous: searchsorted copies a strided CDF (a transposed logits tensor) with a warning
            x = _masked(_as_compute(parts[0]).contiguous(), None if masks is None else masks[0])
            results = _tensor_categorical(x, action, deterministic, generator)
    return _first_row(results) if unbatched else results


def sample_from_uniforms(logits, uniforms, *, mask=None):
    """The sampling rule itself: actions from given uniforms in [0, 1), no randomness.

    logits as in `sample_logits`; uniforms `(batch,)` for a tensor, `(batch, heads)` for a
    tuple of heads, `(batch, action_dim)` for a Normal (`loc + scale * ndtri(u)`), or any
    shape of as many elements (as given actions); for unbatched logits exactly `()`,
    `(heads,)` or `(action_dim,)`. Returns the actions only (int64, or the Normal's dtype),
    shaped as `sample_logits`'s. Same errors as `sample_logits`, the uniforms checked where
    it checks a given action.
    """
    inputs = sampling_inputs.sample_from_uniforms_inputs(v, logits, uniforms, mask)
    u = inputs.given
    with torch.no_grad():
        if inputs.kind == NORMAL:
            loc, scale = _normal_parts(*inputs.parts, inputs.unbatched)
            action = _normal_from_uniforms(loc, scale, u)
        else:
            parts, masks = _batch_of_rows(inputs.parts, inputs.masks, inputs.unbatched)
            if inputs.kind == HEADS:
                x, dim = _stack_heads(parts, masks), COLUMNS
                u = u.T.reshape(1, -1)  # column i * batch + b: head i of row b, as _stack_heads
            else:
                x = _masked(_as_compute(parts[0]).contiguous(), None if masks is None else masks[0])
                x, dim = cpu_draw.layout(x)
                u = u.reshape((1, -1) if dim == COLUMNS else (-1, 1))
            action = _inverse_cdf(_weights(x, dim, inplace=True)[2], dim, u.to(x.dtype))
            if inputs.kind == HEADS:
                action = action.view(len(parts), parts[0].shape[0]).T.contiguous()
    return action[0] if inputs.unbatched else action


def log_prob(logits, value):
    """Log-probability of integer actions `value (...)` under the categorical of `logits (..., n)`.

    Exact for unnormalized logits; entries at -inf or the dtype's minimum (masks) give
    finite results and finite gradients for allowed actions. float32 for half inputs.
    """
    sampling_inputs.log_prob_inputs(v, logits, value)
    x, dim = cpu_draw.layout(_as_compute(logits).reshape(-1, logits.shape[-1]))
    m, _, w = _weights(x, dim, inplace=not (torch.is_grad_enabled() and x.requires_grad))
    return _log_prob(x, dim, m, _total(w, dim).log(), value.reshape(-1), True).reshape(value.shape)


def entropy(logits):
    """Entropy `(...)` of the categorical of `logits (..., n)`, normalized or not.

    Masked entries (-inf or the dtype's minimum) count as probability 0: finite values and
    gradients. float32 for half inputs.
    """
    sampling_inputs.entropy_inputs(v, logits)
    x, dim = cpu_draw.layout(_as_compute(logits).reshape(-1, logits.shape[-1]))
    _, z, w = _weights(x, dim, inplace=not (torch.is_grad_enabled() and x.requires_grad))
    total = _total(w, dim)
    return _entropy((z * w).sum(dim), total, total.log()).reshape(logits.shape[:-1])


def entropy_probs(logits, probs):
    """The documented formula `-(logits * probs).sum(-1)` for normalized log-probabilities
    `logits (..., n)` and their probabilities `probs` (same shape); result `(...)`.

    Entries with probability 0 contribute 0 even where the logit is -inf (0 log 0 = 0, not
    NaN), as in jax_impl. float32 for float16/bfloat16 inputs.
    """
    sampling_inputs.entropy_probs_inputs(v, logits, probs)
    out = v.compute_dtype(torch.promote_types(logits.dtype, probs.dtype))
    logits, probs = logits.to(out), probs.to(out)
    return -(torch.where(probs == 0, 0.0, logits) * probs).sum(-1)
