"""Action sampling for JAX: `sample_logits`, `sample_from_uniforms`, `log_prob`, `entropy`,
`entropy_probs`.

Functional and explicit about randomness: `sample_logits(key, logits, ...)`. Every function
works under `jit`, `vmap` and `grad`, on batched or unbatched (one row, distrax style)
input. Shape and dtype checks are static, so under `jit` they raise at trace time; the value
checks (rows with a distribution, action ranges, a Normal's loc and scale) need values and
run only on concrete host arrays (numpy inputs, or JAX arrays on a CPU device outside
`jit`/`vmap`) while `set_default_validate_args(True)`: they never sync an accelerator. Where
they do not run, a row without a distribution (a NaN or +inf allowed logit, no finite one)
gives action 0 and NaN log-probability and entropy, as in torch_impl; an out-of-range action
a NaN log-probability; a scale that is not positive and finite NaN or infinite
log-probabilities and entropies.

Discrete draws follow the spec's rule (`puffer_backend.spec.sampling`): inverse CDF with one
uniform per head per row, so the same uniforms give the same actions as torch_impl. The
uniforms are 23-bit floats `(k + 0.5) / 2**23` built from `jax.random.bits` (computed as fusible
ops, `threefry.random_bits`): one 32-bit draw
per head per row (Gumbel-max `jax.random.categorical` needs one per logit), and never exactly
0 or 1, so the Normal's inverse CDF stays finite.

Inputs are classified and checked by `spec.sampling_inputs`, as in torch_impl. The sections
follow torch_impl/sampling.py, and helpers that do the same job carry its names: `_threshold`,
`_normal_parts`, `_normal_from_uniforms`, `_normal` (the randomness last: a key here, a
generator there), `_batch_of_rows` and `_first_row` also take its arguments; torch's
categorical core (`_weights`, `_inverse_cdf`, `_log_prob`, `_entropy`, `_categorical`) works
on a layout axis, so those arguments differ. JAX only: `_cdf`, `_action_from_cdf`,
`_action_from_columns`, `_head_by_columns`, `_flat_shape` and `uniforms`.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import ndtri

from ..spec import sampling_inputs
from ..spec.sampling_inputs import HEADS, NORMAL
from . import validation as v
from .distributions import Normal
from .dtypes import int_dtype
from .threefry import random_bits

__all__ = ["sample_logits", "sample_from_uniforms", "log_prob", "entropy", "entropy_probs", "uniforms"]


# -- the categorical core ----------------------------------------------------------------------

def _weights(logits, mask):
    """(shifted logits, unnormalized weights, their total). Masked entries get weight 0.

    The max is taken without gradient: log-probabilities do not depend on the shift, and an
    all-masked row (max -inf) is shifted by 0 instead of producing NaN.
    """
    x = logits.astype(v.compute_dtype(logits.dtype))
    if mask is not None:
        x = jnp.where(mask, x, -jnp.inf)
    top = lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    shifted = x - jnp.where(jnp.isfinite(top), top, 0.0)
    weights = jnp.exp(shifted)
    return shifted, weights, weights.sum(-1)


_MAX_ACTIONS_BY_COLUMNS = 8  # heads of at most this many actions are computed column by column


def _inverse_cdf(weights, uniform):
    """The spec's rule. The total is the CDF's own last entry, so the clamped threshold is always
    below it and the action always lands on an entry of positive weight. A row with nothing
    allowed (total 0) gets action 0 (as torch_impl) instead of the out-of-range n."""
    n = weights.shape[-1]
    if n <= _MAX_ACTIONS_BY_COLUMNS:
        return _action_from_columns([weights[..., i] for i in range(n)], uniform)
    return _action_from_cdf(_cdf(weights), uniform)


def _cdf(weights):
    """Running sums along the last axis, as a product with an upper-triangular matrix of ones:
    XLA's cumsum (reduce-window) is slower on CPU (https://github.com/jax-ml/jax/issues/4135).
    Every column sums the same terms in the same order (zeros elsewhere), so the CDF is
    monotone and flat exactly over zero weights. HIGHEST keeps it float32-exact where matmuls
    default to TF32."""
    n = weights.shape[-1]
    upper = np.triu(np.ones((n, n), dtype=np.dtype(weights.dtype)))  # a literal, not a kernel
    return jnp.matmul(weights, upper, precision=lax.Precision.HIGHEST)


def _has_distribution(total):
    """Rows whose weights, shifted by their max, total in [1, n]: not a row without a
    distribution (NaN or +inf allowed, nothing finite allowed), whose total is NaN, inf or 0."""
    return (total > 0) & (total < jnp.inf)


def _action_from_cdf(cdf, uniform):
    total = cdf[..., -1]
    threshold = _threshold(uniform, total)
    action = (cdf <= threshold[..., None]).sum(-1, dtype=int_dtype())
    return jnp.where(_has_distribution(total), action, 0)


def _action_from_columns(weights, uniform):
    """The rule on a list of weight columns `(batch,)`: a running sum, then a count."""
    cdf = [weights[0]]
    for weight in weights[1:]:
        cdf.append(cdf[-1] + weight)
    threshold = _threshold(uniform, cdf[-1])
    action = sum((c <= threshold).astype(int_dtype()) for c in cdf)
    return jnp.where(_has_distribution(cdf[-1]), action, 0)  # no distribution: action 0, as torch_impl


def _threshold(uniform, total):
    # The draw is discrete: no gradient flows through it (nor could: nextafter has no JVP rule).
    total = lax.stop_gradient(total)
    return jnp.minimum(uniform.astype(total.dtype) * total, jnp.nextafter(total, jnp.zeros_like(total)))


def _log_prob(shifted, total, action):
    index = action[..., None].astype(jnp.int32)
    picked = jnp.take_along_axis(shifted, jnp.clip(index, 0, shifted.shape[-1] - 1), axis=-1)[..., 0]
    # Out-of-range actions (only possible under jit, where values are not checked) give NaN,
    # never another action's log-probability (take_along_axis would wrap -1 to the last one).
    valid = (action >= 0) & (action < shifted.shape[-1]) & _has_distribution(total)
    return jnp.where(valid, picked, jnp.nan) - jnp.log(total)


def _entropy(shifted, weights, total):
    # where before the product (the double-where trick): -inf * 0 would give NaN values and grads.
    # Tested on `shifted`, not `weights > 0`: XLA would recompute the exp inside the select.
    safe = jnp.where(shifted > -jnp.inf, shifted, 0.0)
    return jnp.where(_has_distribution(total), jnp.log(total) - (weights * safe).sum(-1) / total, jnp.nan)


def _categorical(logits, mask, action, deterministic, uniform):
    """(action, logprob, entropy), each `(batch,)`, of one head's logits `(batch, n)`: scores the
    given `action`, takes the argmax (`deterministic`) or draws with `uniform` `(batch,)`.

    Drawn, argmax and given actions are scored by the same arithmetic (the draw's total is
    `weights.sum(-1)`, not the CDF's last entry), so outside `jit` a sampled log-probability
    and entropy equal the re-scored ones bit for bit."""
    if action is None and deterministic:
        x = logits.astype(v.compute_dtype(logits.dtype))
        x = x if mask is None else jnp.where(mask, x, -jnp.inf)
        # a row without a distribution (max NaN, +inf or -inf) gets 0, as a draw does
        action = jnp.where(jnp.isfinite(x.max(-1)), jnp.argmax(x, axis=-1), 0).astype(int_dtype())
    if logits.shape[1] <= _MAX_ACTIONS_BY_COLUMNS:
        return _head_by_columns(logits, mask, uniform=uniform if action is None else None, action=action)
    shifted, weights, total = _weights(logits, mask)
    if action is None:
        action = _action_from_cdf(_cdf(weights), uniform)
    return action, _log_prob(shifted, total, action), _entropy(shifted, weights, total)


# -- JAX only: small heads written on columns, and the uniforms --------------------------------

def _head_by_columns(logits, mask, uniform=None, action=None):
    """(action, logprob, entropy) of one head of at most `_MAX_ACTIONS_BY_COLUMNS` actions,
    written on its `(batch,)` columns: the arithmetic of `_weights`, `_inverse_cdf`, `_log_prob`
    and `_entropy`, which XLA:CPU then fuses into one loop over the batch instead of reducing
    rows of 2 to 8 elements. Draws with `uniform`, or scores the given `action`."""
    x = logits.astype(v.compute_dtype(logits.dtype))
    if mask is not None:
        x = jnp.where(mask, x, -jnp.inf)
    n = x.shape[-1]
    columns = [x[:, i] for i in range(n)]
    top = columns[0]
    for column in columns[1:]:
        top = jnp.maximum(top, column)
    top = lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
    shifted = [column - top for column in columns]
    weights = [jnp.exp(column) for column in shifted]
    total = sum(weights[1:], weights[0])  # the same running sum as the CDF's last entry
    if action is None:
        action = _action_from_columns(weights, uniform)
    picked = shifted[0]
    for i in range(1, n):
        picked = jnp.where(action == i, shifted[i], picked)
    has_distribution = _has_distribution(total)
    valid = (action >= 0) & (action < n) & has_distribution  # out of range (unchecked under jit): NaN, as _log_prob
    log_total = jnp.log(total)
    # where before the product, as _entropy: -inf * 0 would give NaN values and gradients
    weighted = sum(w * jnp.where(z > -jnp.inf, z, 0.0) for w, z in zip(weights, shifted))
    entropy = jnp.where(has_distribution, log_total - weighted / total, jnp.nan)
    return action, jnp.where(valid, picked, jnp.nan) - log_total, entropy


def uniforms(key, shape, dtype=jnp.float32):
    """Uniforms in (0, 1) of `shape`: `(k + 0.5) / 2**23` with k the top 23 bits of one 32-bit draw.

    Never exactly 0 or 1; resolution 2**-23 (as float32's own uniforms).
    """
    bits = random_bits(v.check_key(key), shape)
    return ((bits >> 9).astype(dtype) + 0.5) * (2.0 ** -23)


# -- the Normal --------------------------------------------------------------------------------

def _normal_parts(loc, scale, unbatched):
    """(loc, scale): loc `(batch, *event)` (a batch of one for an unbatched `(d,)` loc) and
    scale broadcast to it."""
    scale = jnp.broadcast_to(scale, loc.shape)
    if unbatched:
        return loc[None], scale[None]
    return loc, scale


def _flat_shape(loc) -> tuple[int, int]:
    """`(batch, action_dim)` of a Normal's loc `(batch, *event)`."""
    return loc.shape[0], int(np.prod(loc.shape[1:], dtype=np.int64))


def _normal_from_uniforms(loc, scale, uniform):
    """The spec's `loc + scale * ndtri(u)`, ndtri in the compute dtype, in loc's dtype."""
    return loc + scale * ndtri(uniform.astype(v.compute_dtype(loc.dtype))).astype(loc.dtype)


def _normal(loc, scale, action, deterministic, key):
    """(action `(batch, dim)`, logprob `(batch,)`, entropy `(batch,)`) of a Normal's `(batch, *event)`
    parts: scores the given `action` `(batch, dim)`, takes the mean or draws with `key`."""
    batch, dim = _flat_shape(loc)
    out = v.compute_dtype(loc.dtype)
    if action is None:
        if deterministic:
            action = loc
        else:
            action = _normal_from_uniforms(loc, scale, uniforms(key, loc.shape, out))
        action = lax.stop_gradient(action)
    value = action.reshape(loc.shape).astype(out)
    loc32, scale32 = loc.astype(out), scale.astype(out)
    logprob = Normal(loc32, scale32).log_prob(value).reshape(batch, dim).sum(-1)
    ent = Normal(loc32, scale32).entropy().reshape(batch, dim).sum(-1)
    return action.reshape(batch, dim), logprob, ent


# -- unbatched rows ----------------------------------------------------------------------------

def _batch_of_rows(parts, masks, unbatched):
    """(heads, masks): the discrete parts as a list of `(batch, n_i)` jax arrays, an unbatched
    row as a batch of one, and their masks (None where unmasked). Each head is then sampled on
    its own (torch_impl stacks its heads into one padded tensor: `_stack_heads`)."""
    heads = [jnp.asarray(part) for part in parts]
    masks = [None] * len(heads) if masks is None else [jnp.asarray(m) for m in masks]
    if unbatched:
        heads = [h[None] for h in heads]
        masks = [None if m is None else m[None] for m in masks]
    return heads, masks


def _first_row(results):
    """Unbatched results from a batch of one."""
    return tuple(r[0] for r in results)


# -- the API -----------------------------------------------------------------------------------

def sample_logits(key, logits, action=None, *, mask=None, deterministic: bool = False):
    """Sample actions (or score given ones); returns `(action, logprob, entropy)`.

    key: one JAX PRNG key (ignored when `action` is given or `deterministic`); for a batch
    of keys, `jax.vmap` this function over unbatched logits.
    logits: `(batch, n)` float array (discrete); a tuple/list of `(batch, n_i)` heads
    (multi-discrete); or `Normal(loc, scale)` with loc `(batch, *event)` (continuous).
    Unbatched, distrax style: `(n,)`, heads `(n_i,)`, or a Normal with loc `(d,)` give action
    `()`, `(heads,)` or `(d,)` and 0-d logprob and entropy, so that
    `jax.vmap(sample_logits)(keys, logits)` works.
    action: optional actions to score instead of sampling. Batched: any shape with `batch`
    (discrete), `batch * heads` or `batch * dim` (floats, Normal) elements, read as
    PufferLib's `action.view(batch, -1)`, and returned as `(batch,)`, `(batch, heads)` or
    `(batch, dim)`. Unbatched: exactly `()`, `(heads,)` or `(d,)`.
    mask: boolean, True = allowed, the logits' shape (a tuple of masks for heads).
    Every row needs a distribution: allowed logits finite or -inf, at least one finite
    (docs/backends.md, "Non-finite logits"); eager calls refuse other rows, and without the
    value checks (`set_default_validate_args(False)`, jit) such a row gives action 0 and NaN
    logprob and entropy.
    deterministic: argmax (discrete) or the mean (continuous) instead of a draw.

    Returns action `(batch,)` / `(batch, heads)` of JAX's default int (int32 with x64 off,
    int64 with x64 on) or `(batch, dim)` floats; logprob and entropy `(batch,)`, summed over
    heads or dims, float32 (float64 for float64 inputs). Raises TypeError/ValueError (at
    trace time under jit) for wrong types, shapes and masks, as torch_impl, in the order of
    `spec.sampling_inputs` (the key last); see the module doc for ranges and for a Normal's
    scale.
    """
    inputs = sampling_inputs.sample_logits_inputs(v, logits, action, mask, deterministic)
    if inputs.given is None and not inputs.deterministic:
        key = v.check_key(key)
    if inputs.kind == NORMAL:
        loc, scale = _normal_parts(*inputs.parts, inputs.unbatched)
        results = _normal(loc, scale, inputs.given, inputs.deterministic, key)
        return _first_row(results) if inputs.unbatched else results
    heads, masks = _batch_of_rows(inputs.parts, inputs.masks, inputs.unbatched)
    multi = inputs.kind == HEADS
    action = inputs.given
    u = None
    if action is None and not inputs.deterministic:
        u = uniforms(key, (inputs.shape[0], len(heads)), v.compute_dtype(heads[0].dtype))
    actions, logprob, ent = [], 0.0, 0.0
    for i, (head, head_mask) in enumerate(zip(heads, masks)):
        given = None if action is None else (action[:, i] if multi else action)
        a, head_logprob, head_entropy = _categorical(head, head_mask, given, inputs.deterministic,
                                                     None if u is None else u[:, i])
        actions.append(a)
        logprob = logprob + head_logprob
        ent = ent + head_entropy
    if action is None:
        action = jnp.stack(actions, axis=-1) if multi else actions[0]
    results = action, logprob, ent
    return _first_row(results) if inputs.unbatched else results


def sample_from_uniforms(logits, uniforms, *, mask=None):
    """The spec's sampling rule with caller-given uniforms in [0, 1); returns actions only.

    logits `(batch, n)` with uniforms `(batch,)`; heads with uniforms `(batch, heads)`;
    `Normal` with uniforms `(batch, dim)` (in (0, 1): `loc + scale * ndtri(u)`); batched
    uniforms may have any shape of as many elements, as given actions. Unbatched logits
    take exactly `()`, `(heads,)` or `(d,)`. Same shapes, dtypes and errors as `sample_logits`,
    the uniforms checked where it checks a given action.
    """
    inputs = sampling_inputs.sample_from_uniforms_inputs(v, logits, uniforms, mask)
    u = inputs.given
    if inputs.kind == NORMAL:
        loc, scale = _normal_parts(*inputs.parts, inputs.unbatched)
        action = _normal_from_uniforms(loc, scale, u.reshape(loc.shape)).reshape(inputs.shape)
        return action[0] if inputs.unbatched else action
    heads, masks = _batch_of_rows(inputs.parts, inputs.masks, inputs.unbatched)
    multi = inputs.kind == HEADS
    actions = [_inverse_cdf(_weights(h, m)[1], u[:, i] if multi else u) for i, (h, m) in enumerate(zip(heads, masks))]
    action = jnp.stack(actions, axis=-1) if multi else actions[0]
    return action[0] if inputs.unbatched else action


def log_prob(logits, value):
    """Log-probability of integer actions `value` `(batch,)` under the categorical of `logits`
    `(batch, n)` (any leading axes: `(...,)` and `(..., n)`).

    Exact for unnormalized logits; masked entries (-inf or the dtype's minimum) keep the
    others finite, values and gradients. float32 result for 16/32-bit logits.
    """
    sampling_inputs.log_prob_inputs(v, logits, value)
    logits, value = jnp.asarray(logits), jnp.asarray(value)
    # rows through `_categorical`: the same arithmetic as sample_logits (bit-equal outside jit)
    rows = logits.reshape(-1, logits.shape[-1])
    return _categorical(rows, None, value.reshape(-1), False, None)[1].reshape(value.shape)


def entropy(logits):
    """Entropy `(batch,)` of the categorical of `logits` `(batch, n)` (any leading axes); finite
    (values and gradients) with masked entries at -inf or the dtype's minimum; float32 for
    16/32-bit logits."""
    sampling_inputs.entropy_inputs(v, logits)
    logits = jnp.asarray(logits)
    rows = logits.reshape(-1, logits.shape[-1])
    any_action = jnp.zeros(rows.shape[:1], int_dtype())  # only the entropy is kept
    return _categorical(rows, None, any_action, False, None)[2].reshape(logits.shape[:-1])


def entropy_probs(logits, probs):
    """PufferLib's `-(logits * probs).sum(-1)` for normalized logits and their probabilities.

    Entries with probability 0 contribute 0 even where the logit is -inf (no NaN). Shapes
    `(batch, n)` both; result `(batch,)` float32 for 16/32-bit inputs.
    """
    sampling_inputs.entropy_probs_inputs(v, logits, probs)
    logits, probs = jnp.asarray(logits), jnp.asarray(probs)
    out = v.compute_dtype(jnp.promote_types(logits.dtype, probs.dtype))
    logits, probs = logits.astype(out), probs.astype(out)
    safe = jnp.where(probs == 0, 0.0, logits)
    return -(safe * probs).sum(-1)

