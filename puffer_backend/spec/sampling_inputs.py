"""What the sampling functions were given: classified and checked once, for both backends.

array-api-compat style: the input's kind, every expected shape, the order of the checks and
the wording of the shape errors are decided here; each backend passes its `validation`
module (`backend` below), whose functions answer what only its framework can tell (one of
its float arrays? its Normal? values in range, where they can be read without a device
sync?) and convert what they accept. So both backends raise the same message, checked in
the same order:

1. the logits: their kind (`NORMAL`, `HEADS`, else `TENSOR`), each array's type, then the
   shapes; a Normal's loc and scale types, loc's shape, scale's shape, then scale's values;
2. `deterministic` (sample_logits only);
3. the mask: none for a Normal, else its type and shape, one per head;
4. the logits' values, where the backend reads them: every row has a distribution (no NaN
   or +inf allowed entry, at least one finite one: `checks.check_logit_rows`);
5. the given action (or the uniforms): type, element count (PufferLib's `view(batch, -1)`),
   then range.
Backend-only arguments are checked after these, by the backend (torch: `generator` and
`is_continuous`; JAX: the key, when there is a draw).

The backend module provides `is_normal`, `check_normal_parts`, `check_normal_loc`,
`check_normal_scale`, `check_logit_values`,
`check_sample_logits`, `check_heads`, `check_deterministic`, `check_mask`,
`check_head_masks`, `check_action`, `check_normal_action`, `check_uniforms`,
`check_logits`, `check_integer_action`, `check_action_range` and `check_float`
(torch_impl/validation.py and jax_impl/validation.py, name for name).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from .checks import check_probs_shape, check_value_shape, is_unbatched_normal
from .errors import bad_value

__all__ = ["NORMAL", "TENSOR", "HEADS", "SampleInputs", "sample_logits_inputs", "sample_from_uniforms_inputs",
           "log_prob_inputs", "entropy_inputs", "entropy_probs_inputs"]

NORMAL, TENSOR, HEADS = "normal", "tensor", "heads"


class SampleInputs(NamedTuple):
    """The checked input of `sample_logits` or `sample_from_uniforms`.

    kind: `NORMAL` (continuous), `TENSOR` (one categorical) or `HEADS` (multi-discrete).
    unbatched: one row without a batch axis (distrax style); the backend computes on a batch
        of one and returns the row.
    parts: `(logits,)`, the heads, or a Normal's `(loc, scale)`, as given (type-checked).
    masks: one mask per part of the logits (`(mask,)` for a tensor), or None.
    given: the given action (or uniforms), reshaped to `shape`, or None.
    shape: the batched shape of an action: `(batch,)`, `(batch, heads)` or `(batch, action_dim)`
        (batch 1 when unbatched).
    deterministic: the checked flag (False for `sample_from_uniforms`).
    """
    kind: str
    unbatched: bool
    parts: tuple
    masks: tuple | None
    given: Any
    shape: tuple
    deterministic: bool


def sample_logits_inputs(backend, logits, action=None, mask=None, deterministic=False) -> SampleInputs:
    """`sample_logits(logits, action, mask=, deterministic=)`'s input, checked in the order above."""
    kind, unbatched, parts, shape, sizes = _logits(backend, logits)
    deterministic = backend.check_deterministic(deterministic)
    masks = None if mask is None else _masks(backend, kind, parts, mask)
    _logit_values(backend, kind, parts, masks)
    if action is not None:
        if kind == NORMAL:
            action = backend.check_normal_action(action, shape, unbatched=unbatched)
        else:
            action = backend.check_action(action, shape, sizes, unbatched=unbatched)
    return SampleInputs(kind, unbatched, parts, masks, action, shape, deterministic)


def sample_from_uniforms_inputs(backend, logits, uniforms, mask=None) -> SampleInputs:
    """`sample_from_uniforms(logits, uniforms, mask=)`'s input: the uniforms take the place
    of a given action (one per head per row, or per dimension of a Normal)."""
    kind, unbatched, parts, shape, _ = _logits(backend, logits)
    masks = None if mask is None else _masks(backend, kind, parts, mask)
    _logit_values(backend, kind, parts, masks)
    uniforms = backend.check_uniforms(uniforms, shape, unbatched=unbatched)
    return SampleInputs(kind, unbatched, parts, masks, uniforms, shape, False)


def log_prob_inputs(backend, logits, value) -> None:
    """`log_prob(logits, value)`: float logits `(..., n)`, integer `value` of exactly the shape
    `(...)` (no view, no broadcasting), in range where values are read."""
    backend.check_logits(logits)
    backend.check_integer_action(value, "value")
    check_value_shape(value.shape, logits.shape)
    backend.check_logit_values(logits)
    backend.check_action_range(value, (logits.shape[-1],), "value")


def entropy_inputs(backend, logits) -> None:
    """`entropy(logits)`: float logits `(..., n)`, every row with a distribution."""
    backend.check_logits(logits)
    backend.check_logit_values(logits)


def entropy_probs_inputs(backend, logits, probs) -> None:
    """`entropy_probs(logits, probs)`: float logits `(..., n)` and float probabilities of the
    same shape."""
    backend.check_logits(logits)
    backend.check_float(probs, "probs")
    check_probs_shape(probs.shape, logits.shape)


def _logits(backend, logits):
    """(kind, unbatched, parts, action shape, sizes): the logits classified and checked.
    sizes: the number of actions of each head (None for a Normal)."""
    if backend.is_normal(logits):
        loc, scale = backend.check_normal_parts(logits)
        unbatched = is_unbatched_normal(loc.shape, scale.shape)
        backend.check_normal_loc(loc)
        backend.check_normal_scale(scale)
        # math.prod, not a reshape to (batch, -1), which fails for batch 0
        shape = (1, loc.shape[0]) if unbatched else (loc.shape[0], math.prod(loc.shape[1:]))
        return NORMAL, unbatched, (loc, scale), shape, None
    if isinstance(logits, (tuple, list)):
        batch = backend.check_heads(logits)
        heads = tuple(logits)
        shape = (1 if batch is None else batch, len(heads))
        return HEADS, batch is None, heads, shape, tuple(head.shape[-1] for head in heads)
    unbatched = backend.check_sample_logits(logits)
    shape = (1,) if unbatched else (logits.shape[0],)
    return TENSOR, unbatched, (logits,), shape, (logits.shape[-1],)


def _logit_values(backend, kind, parts, masks) -> None:
    """Step 4: every row of every head has a distribution (a Normal's values were step 1's)."""
    if kind == NORMAL:
        return
    for i, part in enumerate(parts):
        index = f"[{i}]" if kind == HEADS else ""
        backend.check_logit_values(part, None if masks is None else masks[i], f"logits{index}", f"mask{index}")


def _masks(backend, kind, parts, mask):
    """A given mask as one mask per part of the logits."""
    if kind == NORMAL:
        raise bad_value("mask", "None for a continuous (Normal) distribution", mask)
    if kind == HEADS:
        backend.check_head_masks(mask, parts)
        return tuple(mask)
    backend.check_mask(mask, parts[0].shape)
    return (mask,)
