"""Names that PufferLib 2.0/3.0's `pufferlib/pytorch.py` defines besides the documented API.

Code written for PufferLib imports them through `pufferlib.pytorch` (which the shim makes
this backend): the private helpers (`_nativize_dtype`, `_nativize_tensor`,
`_flattened_tensor_size`), `round_to`, `compilable_cast`, `nativize_observation`,
`LITTLE_BYTE_ORDER`, `NativeDTypeValue`, `cycle_selector`, and one fork convention,
`deterministic_action`. The recurrent modules and `PolicyPool` are in `pufferlib_modules`.
Each takes PufferLib's signature and gives its results, except where `docs/torch.md`
("Everything `pufferlib/pytorch.py` defines") says why not. Layouts come from the spec
layer (numpy's field table), not from PufferLib's running cursor.
"""
from __future__ import annotations

import math
import numbers
import sys
from typing import List, Tuple

import numpy as np
import torch

from ..spec import bad_type, bad_value
from ..spec.layout import flattened_tensor_size as _spec_flattened_size
from ..spec.layout import leaves, placed_layout
from .dtypes import numpy_to_torch_dtype_dict, to_torch_dtype
from .nativize import nativize_dtype, nativize_tensor
from .sampling import sample_logits

__all__ = ["LITTLE_BYTE_ORDER", "NativeDTypeValue", "round_to", "_nativize_dtype", "_nativize_tensor",
           "compilable_cast", "nativize_observation", "_flattened_tensor_size", "cycle_selector",
           "deterministic_action"]

LITTLE_BYTE_ORDER = sys.byteorder == "little"

# One leaf as PufferLib types it: (torch dtype, shape, offset, delta).
NativeDTypeValue = Tuple[torch.dtype, List[int], int, int]


def _real(value, argument: str):
    """An int (exact arithmetic) or a float, for round_to; bools and non-numbers refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise bad_type(argument, "a real number (int or float, not a bool)", value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise bad_value(argument, "a finite number", value)
    return value


def round_to(x, base) -> int:
    """The smallest multiple of `base` that is >= `x`, as a Python int (PufferLib's alignment
    helper: `round_to(5, 4) == 8`). Integers are rounded exactly; floats as PufferLib does,
    `int(base * ceil(x / base))`. Raises TypeError/ValueError naming `x` or `base` for
    non-numbers, bools, infinities and a `base` that is not positive."""
    x, base = _real(x, "x"), _real(base, "base")
    if base <= 0:
        raise bad_value("base", "a positive number", base)
    if isinstance(x, int) and isinstance(base, int):
        return -(-x // base) * base
    return int(base * math.ceil(x / base))


def _torch_dtype(dtype) -> torch.dtype:
    return numpy_to_torch_dtype_dict[np.dtype(dtype)]


def _nativize_dtype(sample_dtype, structured_dtype, offset=0):
    """PufferLib's 5-tuple `(subviews, dtype, shape, offset, delta)` for `structured_dtype`
    placed at element `offset` of rows of `sample_dtype`.

    A leaf gives `(None, torch dtype, shape, offset, delta)`: in byte rows its offset is
    rounded up to its alignment and its delta counts bytes, in wider rows both count
    elements. A struct gives `(dict of (dtype, shape, offset, delta) tuples and nested dicts,
    its last leaf's dtype and shape, its start, the sum of its leaves' deltas)`, as PufferLib's.
    Leaf offsets are numpy's field offsets (`spec.layout.placed_layout`). Raises
    TypeError/ValueError naming the argument (unsupported or big-endian dtypes, leaves that
    are not whole sample elements, a negative offset).
    """
    layout, start = placed_layout(sample_dtype, structured_dtype, offset, _torch_dtype)
    if not isinstance(layout, dict):
        return (None, *layout)
    found = [leaf for _, leaf in leaves(layout)]
    last_dtype, last_shape = (found[-1].dtype, found[-1].shape) if found else (None, None)
    return layout, last_dtype, last_shape, start, sum(leaf.delta for leaf in found)


def _nativize_tensor(observation, native_dtype):
    """PufferLib's private name for `nativize_tensor`: the same function."""
    return nativize_tensor(observation, native_dtype)


def nativize_observation(observation, emulated):
    """`nativize_tensor(observation, nativize_dtype(emulated))`: flat rows to native tensors in
    one call. PufferLib 2.0/3.0 define this name, but theirs passes three arguments to the
    two-argument `nativize_tensor` and raises TypeError on every call; this is what it meant.
    Recomputes the layout each call: keep `nativize_dtype(emulated)` for a training loop."""
    return nativize_tensor(observation, nativize_dtype(emulated))


def _flattened_tensor_size(native_dtype) -> int:
    """PufferLib's private name for `flattened_tensor_size`: elements over all leaves, a Python int
    (PufferLib's `np.prod` gives a numpy integer of the same value)."""
    return _spec_flattened_size(native_dtype)


def compilable_cast(u8, dtype):
    """The bytes along the last axis of `u8` (a uint8 tensor) read as `dtype`, in the machine's
    byte order: `(..., k * itemsize)` uint8 -> `(..., k)` of `dtype`.

    PufferLib's assembles unsigned dtypes from shifted bytes (which torch's CPU kernels
    refuse for uint16/32/64) and views the rest; the values are the same. A view where
    torch allows one, else one contiguous copy. Raises TypeError/ValueError naming `u8`
    (not a uint8 tensor, a last axis that is not whole elements) or `dtype`.
    """
    if not isinstance(u8, torch.Tensor):
        raise bad_type("u8", "a torch.Tensor of uint8 bytes", u8)
    if u8.dtype != torch.uint8:
        raise bad_value("u8", "a uint8 tensor (bytes)", f"dtype {u8.dtype}")
    dtype = to_torch_dtype(dtype, "dtype")
    size = dtype.itemsize
    if u8.dim() == 0 or u8.shape[-1] % size:
        raise bad_value("u8", f"a last axis of whole {dtype} elements (a multiple of {size} bytes)",
                        f"shape {tuple(u8.shape)}")
    if size == 1:
        return u8.view(dtype)
    aligned = u8.stride(-1) == 1 and all(s % size == 0 for s in u8.stride()[:-1])
    if not aligned or u8.storage_offset() % size:
        u8 = u8.clone(memory_format=torch.contiguous_format)  # view(dtype) needs aligned, adjacent bytes
    return u8.view(dtype)


def cycle_selector(sample_idx, num_policies):
    """The policy that serves agent `sample_idx` in a `PolicyPool`: `sample_idx % num_policies`."""
    return sample_idx % num_policies


def deterministic_action(logits, *, mask=None):
    """The action `sample_logits(logits, mask=mask, deterministic=True)` returns: the argmax of
    each head (int64) or a Normal's mean, in sample_logits' action shape.

    A convention of PufferLib forks (`action = pufferlib.pytorch.deterministic_action(logits)`
    in evaluation loops); PufferLib itself does not define it.
    """
    return sample_logits(logits, mask=mask, deterministic=True)[0]
