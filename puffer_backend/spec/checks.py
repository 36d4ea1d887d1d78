"""Shape and dtype checks shared by both backends. They read only static metadata (shape,
dtype), so they run at trace time under jit/compile and never force a device sync; the one
exception, `real_scalar`, serves layer initialization, not a hot path."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import bad_type, bad_value
from .layout import row_width

__all__ = ["check_logits_shape", "is_unbatched_logits", "check_heads", "check_any_logits_shape",
           "check_head_masks_container", "check_heads_batch", "check_action_shape", "check_value_shape",
           "action_range_error", "check_mask_shape", "check_probs_shape", "is_unbatched_normal", "guess_sample_dtype",
           "check_observation", "real_scalar", "bad_array_type"]

# How each framework's arrays convert, for a message when one reaches the other backend.
_CONVERT = {"torch": "convert a torch tensor with puffer_backend.exchange.to_jax",
            "jax": "convert a JAX array with puffer_backend.exchange.to_torch"}
_FRAMEWORK_OF_MODULE = {"torch": "torch", "jax": "jax", "jaxlib": "jax"}


def check_logits_shape(shape, argument: str = "logits") -> None:
    if len(shape) != 2 or shape[1] < 1:
        raise bad_value(argument, "shape (batch, num_actions) with num_actions >= 1", f"shape {tuple(shape)}")


def is_unbatched_logits(shape, argument: str = "logits") -> bool:
    """sample_logits takes `(batch, n)` or one unbatched row `(n,)` (distrax style, for vmap)."""
    if len(shape) not in (1, 2) or shape[-1] < 1:
        raise bad_value(argument, "shape (batch, num_actions) or unbatched (num_actions,), with num_actions >= 1",
                        f"shape {tuple(shape)}")
    return len(shape) == 1


def check_heads(shapes, argument: str = "logits") -> int | None:
    """At least one head; all `(batch, n_i)` with one batch size (returns it) or all unbatched
    `(n_i,)` (None)."""
    if len(shapes) == 0:
        raise bad_value(argument, "a non-empty tuple or list of logits, one per head", "an empty sequence")
    ranks = {len(shape) for shape in shapes}
    if ranks == {1}:
        for i, shape in enumerate(shapes):
            is_unbatched_logits(shape, f"{argument}[{i}]")
        return None
    if len(ranks) > 1:
        raise bad_value(argument, "heads all batched (batch, n_i) or all unbatched (n_i,)",
                        f"shapes {[tuple(s) for s in shapes]}")
    return check_heads_batch(shapes, argument)


def check_any_logits_shape(shape, argument: str = "logits") -> None:
    """log_prob/entropy take any leading axes: `(..., num_actions)`."""
    if len(shape) < 1 or shape[-1] < 1:
        raise bad_value(argument, "shape (..., num_actions) with num_actions >= 1", f"shape {tuple(shape)}")


def check_head_masks_container(mask, num_heads: int, argument: str = "mask") -> None:
    """Heads take one mask per head, in a tuple or list (each then checked by the backend)."""
    if not isinstance(mask, (tuple, list)) or len(mask) != num_heads:
        raise bad_type(argument, f"a tuple of {num_heads} boolean masks, one per head", mask)


def check_heads_batch(shapes, argument: str = "logits") -> int:
    """All heads 2-D with one batch size; returns it."""
    for i, shape in enumerate(shapes):
        check_logits_shape(shape, f"{argument}[{i}]")
    batches = {shape[0] for shape in shapes}
    if len(batches) != 1:
        raise bad_value(argument, "heads with one batch size", f"shapes {[tuple(s) for s in shapes]}")
    return batches.pop()


def check_action_shape(shape, expected, argument: str = "action", *, batched: bool = True) -> None:
    """A given action (or uniforms) that reshapes to `expected`, `(batch,)` or `(batch, k)`.

    Batched: any shape with `prod(expected)` elements, read row-major, as PufferLib 3's
    `action.view(batch, -1)`: its trainer scores `(segments, horizon[, heads])` buffers
    against `segments * horizon` rows of logits, and flat `(batch * heads,)` works too.
    Unbatched (`batched=False`): exactly `expected`, there being no batch to view by.
    """
    shape, expected = tuple(shape), tuple(expected)
    if shape == expected:
        return
    if not batched:
        raise bad_value(argument, f"shape {expected} (unbatched logits take unbatched actions)", f"shape {shape}")
    if math.prod(shape) != math.prod(expected):
        raise bad_value(argument, f"shape {expected}, or any shape of {math.prod(expected)} elements "
                                  f"(read as view(batch, -1))", f"shape {shape}")


def check_value_shape(shape, logits_shape, argument: str = "value") -> None:
    """log_prob's actions: exactly the logits' shape without the last axis (no view: scoring
    `(..., n)` logits takes `(...)` actions)."""
    if tuple(shape) != tuple(logits_shape[:-1]):
        raise bad_value(argument, f"shape {tuple(logits_shape[:-1])} (the logits' shape without the last axis)",
                        f"shape {tuple(shape)}")


def action_range_error(argument: str, sizes, low, high) -> ValueError:
    """The refusal of integer actions outside `[0, n)`; `sizes`: one int, or one per head."""
    if isinstance(sizes, int) or len(sizes) == 1:
        expected = f"actions in [0, n) for n = {sizes if isinstance(sizes, int) else sizes[0]}"
    else:
        expected = f"actions in [0, n) for head sizes {tuple(sizes)}"
    return bad_value(argument, expected, f"values from {low} to {high}")


def check_mask_shape(shape, logits_shape, argument: str = "mask") -> None:
    if tuple(shape) != tuple(logits_shape):
        raise bad_value(argument, f"a boolean mask of the logits' shape {tuple(logits_shape)}", f"shape {tuple(shape)}")


def check_probs_shape(shape, logits_shape, argument: str = "probs") -> None:
    """entropy_probs' probabilities: exactly the logits' shape (no broadcasting)."""
    if tuple(shape) != tuple(logits_shape):
        raise bad_value(argument, f"the logits' shape {tuple(logits_shape)}", f"shape {tuple(shape)}")


def is_unbatched_normal(loc_shape, scale_shape) -> bool:
    """A Normal's loc is `(batch, *event)`, or one unbatched action `(action_dim,)` (returns True
    for that, distrax style), and its scale broadcasts to loc's shape."""
    loc_shape, scale_shape = tuple(loc_shape), tuple(scale_shape)
    if len(loc_shape) < 1:
        raise bad_value("logits.loc", "shape (batch, *event) or unbatched (action_dim,)", f"shape {loc_shape}")
    if scale_shape != loc_shape and not _broadcasts_to(scale_shape, loc_shape):
        raise bad_value("logits.scale", f"a shape broadcastable to loc's {loc_shape}", f"shape {scale_shape}")
    return len(loc_shape) == 1


def _broadcasts_to(shape, target) -> bool:
    """numpy's rule, one way: `shape` aligned right, each axis 1 or the target's."""
    if len(shape) > len(target):
        return False
    return all(axis == 1 or axis == goal for axis, goal in zip(reversed(shape), reversed(target)))


def guess_sample_dtype(dtype_name: str, leaf_dtype_names) -> str | None:
    """The sample dtype to expect when the layout recorded none (hand-built PufferLib tuples).

    A float observation for leaves that are all integers is the `torch.Tensor(data)` cast
    (the rows were raw bytes or integers): expect the leaves' dtype, or bytes when they
    differ, so that `check_observation` refuses it with its hint instead of reinterpreting
    float bits. Anything else: None (no expectation).
    """
    if dtype_name.startswith(("float", "bfloat")):
        names = set(leaf_dtype_names)
        if names and not any(n.startswith(("float", "bfloat")) for n in names):
            return "uint8" if len(names) > 1 else names.pop()
    return None


def check_observation(shape, dtype_name: str, native_dtype, sample_dtype_name: str | None,
                      argument: str = "observation") -> None:
    """Observation must be `(batch, width)` of the sample dtype: exactly the recorded row width
    for a layout from `nativize_dtype`, wide enough for every leaf for hand-built tuples.

    `sample_dtype_name` is the expected element dtype when known (None: any of the table).
    A float observation where an integer sample dtype is expected is the classic
    `torch.Tensor(data)` mistake, and is named as such.
    """
    if len(shape) != 2:
        raise bad_value(argument, "shape (batch, elements)", f"shape {tuple(shape)}")
    if sample_dtype_name is not None and dtype_name != sample_dtype_name:
        hint = ""
        if dtype_name.startswith(("float", "bfloat")) and not sample_dtype_name.startswith("float"):
            hint = " (was the observation cast to float, e.g. torch.Tensor(data) instead of torch.from_numpy(data)?)"
        raise bad_value(argument, f"dtype {sample_dtype_name}", f"dtype {dtype_name}{hint}")
    recorded = getattr(native_dtype, "row_width", None)  # known for layouts from nativize_dtype
    if recorded is not None and shape[1] != recorded:
        raise bad_value(argument, f"{recorded} elements per row, the row width of native_dtype's layout",
                        f"{shape[1]} elements per row, shape {tuple(shape)}")
    width = row_width(native_dtype)
    if shape[1] < width:
        raise bad_value(argument, f"at least {width} elements per row for this native_dtype", f"shape {tuple(shape)}")


def real_scalar(value, argument: str) -> float:
    """`float(value)` for one real number: a Python or numpy int/float, or a 0-d array of an
    integer or float dtype from numpy, JAX or torch. Bools, complex numbers and arrays with
    axes are refused (TypeError naming `argument`). Reads the value: not for hot paths."""
    if isinstance(value, (bool, np.bool_)):
        raise bad_type(argument, "a real number (not a bool)", value)
    if isinstance(value, numbers.Real):
        return float(value)
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or dtype is None or not hasattr(value, "__float__"):
        raise bad_type(argument, "a real number (int, float, or a 0-d array)", value)
    if tuple(shape) != ():
        raise bad_type(argument, "a real number (a 0-d array, not one with axes)", value)
    name = str(dtype).removeprefix("torch.")  # torch dtypes print as torch.float32
    if not name.startswith(("float", "bfloat", "int", "uint")):
        raise bad_type(argument, "a real number (an integer or float dtype)", value)
    return float(value)


def bad_array_type(argument: str, expected: str, value, *, backend: str = "torch") -> TypeError:
    """`bad_type`, saying how to convert when `value` is the other framework's array: a torch
    tensor refused by the jax backend, a JAX array by the torch backend. `backend`: the
    framework of the function that refuses `value`; an array of its own framework (a tensor
    of the wrong dtype) gets no conversion advice."""
    framework = _FRAMEWORK_OF_MODULE.get(type(value).__module__.partition(".")[0])
    if framework is not None and framework != backend and hasattr(value, "shape"):
        expected = f"{expected} ({_CONVERT[framework]})"
    return bad_type(argument, expected, value)


# The rule for rows without a distribution, both backends (docs/backends.md, "Non-finite
# logits"): an allowed entry may be finite or -inf (never taken), and a row needs at least one
# finite allowed entry. Eager calls with value checks on refuse any other row, naming it;
# traced calls (jit, torch.compile) and calls with the checks off give such a row action 0 and
# NaN log-probability and entropy, sampled or deterministic.
ALLOWED_LOGITS = "finite logits or -inf (never taken)"


def check_logit_rows(allowed_max, all_max=None, argument: str = "logits", mask_argument: str = "mask") -> None:
    """Refuse rows without a distribution, given per row (numpy, NaN where a row holds a NaN)
    the max of the allowed logits and, with a mask, the max of all logits: a NaN or +inf
    allowed logit names `argument`; a row whose allowed logits are all -inf names
    `argument`, or `mask_argument` when the mask removed every other entry."""
    bad = ~np.isfinite(allowed_max)
    if not bad.any():
        return
    row = int(np.flatnonzero(bad)[0])
    top = allowed_max[row]
    if np.isnan(top):
        raise bad_value(argument, ALLOWED_LOGITS, f"NaN in row {row}")
    if top > 0:
        raise bad_value(argument, ALLOWED_LOGITS, f"+inf in row {row}")
    if all_max is not None and not all_max[row] == -np.inf:
        raise bad_value(mask_argument, "at least one allowed action per row with a finite logit",
                        f"none in row {row}")
    raise bad_value(argument, "at least one finite logit per row", f"only -inf in row {row}")


def check_finite_values(values, argument: str) -> None:
    """Refuse a NaN or infinite value (numpy), naming its flat index's row."""
    bad = ~np.isfinite(values)
    if bad.any():
        index = np.unravel_index(int(np.flatnonzero(bad)[0]), values.shape)
        raise bad_value(argument, "finite values", f"{values[index]} at index {tuple(int(i) for i in index)}")
