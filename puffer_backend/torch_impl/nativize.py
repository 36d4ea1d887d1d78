"""Structured observations: flat `(batch, elements)` rows -> tensors or nested dicts of tensors.

`nativize_tensor` returns zero-copy views (narrow + `Tensor.view(dtype)` + reshape) wherever
the layout allows. One case cannot be a view: a leaf whose element is wider than the sample
element and whose byte position in the buffer is not a multiple of its own size (packed
`align=False` layouts, odd row widths, a sliced observation). Such a leaf is copied into a
fresh aligned buffer; everything else stays a view. No call here reads `storage_offset()`
under torch.compile (it breaks the graph), so the compiled path assumes the observation's
buffer starts aligned, as every freshly allocated tensor does.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import spec
from ..spec import bad_type, bad_value
from ..spec.checks import check_observation, guess_sample_dtype
from ..spec.layout import NativeDType, check_leaf_extents, leaves, recorded_layout
from ..spec.trees import map_dict_leaves
from .dtypes import numpy_to_torch_dtype_dict, to_torch_dtype

__all__ = ["NativeDType", "nativize_dtype", "nativize_tensor", "flattened_tensor_size"]

_TORCH_TO_NAME = {t: np.dtype(n).name for n, t in numpy_to_torch_dtype_dict.items()}


def nativize_dtype(emulated) -> NativeDType:
    """Layout of a structured observation inside flat rows, with torch dtypes.

    emulated: a mapping or attribute object with `observation_dtype` (the flat sample dtype)
    and `emulated_observation_dtype` (structured numpy dtype), or a gymnasium space.
    Returns a `Leaf(torch.dtype, shape, offset, delta)` (equal to PufferLib's tuple) or a
    nested dict of them; offsets and deltas count sample elements. The result also records
    the rows' sample dtype and width (`spec.layout.recorded_layout`), which
    `nativize_tensor` checks. Raises TypeError/ValueError for unknown, big-endian or
    misaligned dtypes.
    """
    return recorded_layout(emulated, lambda dtype: numpy_to_torch_dtype_dict[np.dtype(dtype)])


def flattened_tensor_size(native_dtype: NativeDType) -> int:
    """Total number of elements over all leaves, as a Python int."""
    return spec.flattened_tensor_size(native_dtype)


_SIZES = {t: np.dtype(n).itemsize for n, t in numpy_to_torch_dtype_dict.items()}


def _leaf_itemsize(dtype) -> int:
    return _SIZES[to_torch_dtype(dtype, "native_dtype")]


def _check(observation, native_dtype) -> None:
    """The observation against the layout: types, rank, dtype and row width (spec.checks)."""
    if not isinstance(observation, torch.Tensor):
        raise bad_type("observation", "a torch.Tensor of shape (batch, elements)", observation)
    if not isinstance(native_dtype, (tuple, dict)):
        raise bad_type("native_dtype", "the result of nativize_dtype (a Leaf or a dict of Leafs)", native_dtype)
    dtype_name = _TORCH_TO_NAME.get(observation.dtype, str(observation.dtype).replace("torch.", ""))
    sample = getattr(native_dtype, "sample_dtype", None)
    if sample is None and observation.dtype in _SIZES:
        # Hand-built tuples: nothing vouches for their deltas (nativize_dtype's come from numpy).
        check_leaf_extents(native_dtype, _leaf_itemsize, np.dtype(dtype_name))
    if sample is None and dtype_name.startswith(("float", "bfloat")):  # only a float can be a cast
        leaf_names = [_TORCH_TO_NAME[to_torch_dtype(leaf.dtype, "native_dtype")] for _, leaf in leaves(native_dtype)]
        sample = guess_sample_dtype(dtype_name, leaf_names)
    check_observation(tuple(observation.shape), dtype_name, native_dtype, sample)
    if observation.dtype not in _SIZES:
        raise bad_value("observation", "a dtype from numpy_to_torch_dtype_dict", f"dtype {observation.dtype}")


def _leaf(leaf, observation: torch.Tensor, sample_size: int, check_offset: bool) -> torch.Tensor:
    """One leaf's tensor `(batch, *shape)`: a view of the rows (a copy in the one case the module
    docstring names)."""
    dtype, shape, offset, delta = leaf
    dtype = to_torch_dtype(dtype, "native_dtype")
    piece = observation.narrow(1, offset, delta)
    size = _SIZES[dtype]
    if size > sample_size:
        row_bytes = observation.stride(0) * sample_size
        aligned = (offset * sample_size) % size == 0 and row_bytes % size == 0
        if aligned and check_offset:
            aligned = (observation.storage_offset() * sample_size) % size == 0
        if not aligned:
            # Documented copy: a wider element at a misaligned byte position has no view.
            piece = piece.clone(memory_format=torch.contiguous_format)
    return piece.view(dtype).view(observation.shape[0], *shape)


def nativize_tensor(observation, native_dtype: NativeDType):
    """Split flat observations `(batch, elements)` into native tensors `(batch, *shape)`.

    native_dtype: from `nativize_dtype`, or PufferLib-style `(torch.dtype, shape, offset,
    delta)` tuples / nested dicts of them. Returns a tensor or a nested dict mirroring it.
    Views share the observation's memory; see the module docstring for the one copy case
    (and an observation whose rows are not contiguous is copied once, whole).
    Raises TypeError/ValueError for a non-tensor, a wrong dtype (with a hint when the
    observation was cast to float), a wrong rank, rows whose width is not the layout's
    (not at least the leaves' extent, for hand-built tuples) or a hand-built leaf whose
    delta disagrees with its shape and dtype.
    """
    _check(observation, native_dtype)
    if observation.shape[0] == 0:
        # an empty tensor may carry any strides (numpy gives 0); dtype views need real ones
        observation = observation.new_empty(observation.shape)
    elif observation.shape[1] > 1 and observation.stride(1) != 1:
        # Rows whose elements are not adjacent (a transposed buffer) cannot be reinterpreted
        # as another dtype: one contiguous copy, then views of it.
        observation = observation.contiguous()
    check_offset = not torch.compiler.is_compiling()
    return map_dict_leaves(native_dtype, _leaf, observation, _SIZES[observation.dtype], check_offset)
