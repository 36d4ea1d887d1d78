"""NativeDType: where each leaf of a structured observation lives inside a flat row.

`Leaf.offset` and `Leaf.delta` count elements of the observation's sample dtype (bytes
when the sample dtype is uint8), as in PufferLib. Offsets are read from numpy's own field
offsets, so aligned, packed (`align=False`), tail-padded and nested layouts are all exact.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Union

import numpy as np

from . import trees
from .dtypes import check_element_dtype
from .errors import bad_type, bad_value

__all__ = ["Leaf", "NativeDType", "RecordedLeaf", "RecordedDict", "recorded_layout", "nativize_dtype", "placed_layout",
           "leaves", "flattened_tensor_size", "row_width", "emulated_sample_dtype", "check_leaf_extents"]


class Leaf(NamedTuple):
    """One field of the observation: element dtype, shape per row, offset and width in the row."""
    dtype: object
    shape: tuple
    offset: int
    delta: int


NativeDType = Union[Leaf, "dict[str, NativeDType]"]


def _emulated_dtypes(emulated):
    """(sample dtype, structured dtype) from a mapping, an attribute object or a gymnasium space."""
    keys = ("observation_dtype", "emulated_observation_dtype")
    if isinstance(emulated, dict):
        missing = [k for k in keys if k not in emulated]
        if missing:
            raise bad_value("emulated", f"a mapping with keys {keys}", f"keys {sorted(emulated)}")
        return emulated[keys[0]], emulated[keys[1]]
    if all(hasattr(emulated, k) for k in keys):
        return getattr(emulated, keys[0]), getattr(emulated, keys[1])
    from .spaces import is_gymnasium_space, emulated_dtypes_of_space
    if is_gymnasium_space(emulated):
        return emulated_dtypes_of_space(emulated)
    raise bad_type("emulated", f"a mapping or object with {' and '.join(keys)}, or a gymnasium space",
                   emulated)


class RecordedLeaf(Leaf):
    """A Leaf made by `nativize_dtype`: it also records the rows it describes.

    `sample_dtype` (numpy dtype name) and `row_width` (sample elements per row) let
    `nativize_tensor` refuse rows of another dtype or width instead of misreading them.
    Compares equal to a plain Leaf or PufferLib tuple.
    """


class RecordedDict(dict):
    """A dict of leaves made by `nativize_dtype`, recording `sample_dtype` and `row_width` too."""


def _checked_dtypes(emulated) -> tuple[np.dtype, np.dtype]:
    """(sample element dtype, structured dtype) of `emulated`, validated."""
    sample_dtype, structured_dtype = _emulated_dtypes(emulated)
    try:
        sample_dtype = np.dtype(sample_dtype)
        structured_dtype = np.dtype(structured_dtype)
    except TypeError as err:
        raise bad_type("emulated", "numpy dtypes for observation_dtype and emulated_observation_dtype",
                       str(err)) from None
    if sample_dtype.subdtype is not None:
        sample_dtype = sample_dtype.subdtype[0]
    return check_element_dtype(sample_dtype, "emulated.observation_dtype"), structured_dtype


def recorded_layout(emulated, convert_dtype) -> NativeDType:
    """`nativize_dtype(emulated)` with every leaf dtype mapped through `convert_dtype`.

    The one place where a layout learns its rows: the result (a `RecordedLeaf` or a
    `RecordedDict` of Leafs) records `sample_dtype` and `row_width`, the structured
    dtype's itemsize over the sample dtype's itemsize, which is how PufferLib's emulation
    sizes its flat rows. Backends pass their dtype conversion (numpy -> torch/JAX).
    """
    sample, structured = _checked_dtypes(emulated)
    native = _nativize(sample, structured, 0, "emulated_observation_dtype", convert_dtype)
    result = RecordedDict(native) if isinstance(native, dict) else RecordedLeaf(*native)
    result.sample_dtype = sample.name
    result.row_width = structured.itemsize // sample.itemsize
    return result


def nativize_dtype(emulated) -> NativeDType:
    """Layout of the structured observation inside flat rows of the sample dtype.

    Returns a `Leaf` (numpy element dtype) for an unstructured observation, else a nested dict
    of Leafs that mirrors the structured dtype's fields; the top level also records the
    rows' `sample_dtype` and `row_width` (see `recorded_layout`).
    """
    return recorded_layout(emulated, lambda dtype: dtype)


def _dtype_argument(value, argument: str) -> np.dtype:
    try:
        return np.dtype(value)
    except TypeError:
        raise bad_type(argument, "a numpy dtype", value) from None


def placed_layout(sample_dtype, structured_dtype, offset, convert_dtype) -> tuple[NativeDType, int]:
    """`(layout, start)`: `structured_dtype` placed at element `offset` of rows of `sample_dtype`.

    The cursor of PufferLib's `_nativize_dtype(sample_dtype, structured_dtype, offset)`. In
    byte rows (a 1-byte sample dtype) the structure starts at `offset` rounded up to its own
    alignment, where an aligned parent struct puts it; in wider rows it starts at `offset`.
    Its leaves then sit at numpy's field offsets from `start`, converted by `convert_dtype`
    like `recorded_layout`'s (no row width is recorded: the rows are the caller's). A
    subarray sample dtype (`np.dtype((np.uint8, (n,)))`) counts its element. Raises
    TypeError/ValueError naming `sample_dtype`, `structured_dtype` or `offset`.
    """
    sample = _dtype_argument(sample_dtype, "sample_dtype")
    sample = check_element_dtype(sample.base, "sample_dtype")
    structured = _dtype_argument(structured_dtype, "structured_dtype")
    if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, (numbers.Integral, np.integer)):
        raise bad_type("offset", "an integer number of sample elements", offset)
    if offset < 0:
        raise bad_value("offset", "an offset >= 0", offset)
    start = int(offset)
    if sample.itemsize == 1:
        start = -(-start // structured.alignment) * structured.alignment
    layout = _nativize(sample, structured, start * sample.itemsize, "structured_dtype", convert_dtype)
    return layout, start


def _nativize(sample: np.dtype, field: np.dtype, byte_offset: int, path: str, convert_dtype) -> NativeDType:
    if field.fields is not None:
        return {name: _nativize(sample, sub, byte_offset + sub_offset, f"{path}.{name}", convert_dtype)
                for name, (sub, sub_offset, *_title) in field.fields.items()}
    if field.subdtype is not None:
        element, shape = field.subdtype
        if element.fields is not None:
            raise bad_value(path, "a scalar or subarray of a supported dtype (arrays of structs have no view)",
                            f"dtype {field}")
    else:
        element, shape = field, (1,)  # PufferLib's convention for a scalar field
    element = check_element_dtype(element, path)
    nbytes = element.itemsize * int(np.prod(shape, dtype=np.int64))
    if byte_offset % sample.itemsize or nbytes % sample.itemsize:
        raise bad_value(path, f"byte offset and size divisible by the sample dtype's itemsize "
                              f"({sample} has {sample.itemsize})",
                        f"offset {byte_offset} bytes, size {nbytes} bytes")
    return Leaf(convert_dtype(element), tuple(int(s) for s in shape), byte_offset // sample.itemsize,
                nbytes // sample.itemsize)


_NATIVE_DTYPE = "a Leaf/(dtype, shape, offset, delta) tuple or a dict of them"


def _is_leaf(native_dtype) -> bool:
    """A Leaf, or PufferLib's plain `(dtype, shape, offset, delta)` tuple."""
    return isinstance(native_dtype, tuple) and len(native_dtype) == 4


def _children(native_dtype):
    """A layout's (key, sub-layout) pairs for `trees.leaves`; None for a leaf."""
    if _is_leaf(native_dtype):
        return None
    if not isinstance(native_dtype, dict):
        raise bad_type("native_dtype", _NATIVE_DTYPE, native_dtype)
    return native_dtype.items()


def leaves(native_dtype: NativeDType) -> list[tuple[tuple, Leaf]]:
    """[(path, Leaf)] in field order; a path is the tuple of keys (`trees.path_name` names it)."""
    return [(path, Leaf(*leaf)) for path, leaf in trees.leaves(native_dtype, _children)]


def flattened_tensor_size(native_dtype: NativeDType) -> int:
    """Total number of elements (of their own dtypes) over all leaves, as a Python int."""
    return int(sum(int(np.prod(leaf.shape, dtype=np.int64)) for _, leaf in leaves(native_dtype)))


def row_width(native_dtype: NativeDType) -> int:
    """Smallest row width (in sample elements) that holds every leaf."""
    # Plain recursion, no generator: torch.compile traces this without a graph break.
    if isinstance(native_dtype, dict):
        width = 0
        for sub in native_dtype.values():
            width = max(width, row_width(sub))
        return width
    if _is_leaf(native_dtype):
        return int(native_dtype[2]) + int(native_dtype[3])
    raise bad_type("native_dtype", _NATIVE_DTYPE, native_dtype)


def emulated_sample_dtype(emulated) -> np.dtype:
    """The flat rows' element dtype (`observation_dtype`) of `emulated`, validated."""
    return _checked_dtypes(emulated)[0]


def _leaf_extents(native_dtype, itemsize_of) -> list:
    """[(path, leaf, nbytes)] in field order."""
    return [(path, leaf, itemsize_of(leaf.dtype) * math.prod([int(size) for size in leaf.shape]))
            for path, leaf in leaves(native_dtype)]


def check_leaf_extents(native_dtype: NativeDType, itemsize_of, sample: np.dtype,
                       argument: str = "observation") -> None:
    """Every leaf's `delta` must be its bytes counted in elements of the observation's dtype.

    For hand-built layouts (PufferLib tuples), which record no sample dtype: when the leaves
    agree on one element size that is not `sample`'s, the observation is named (bytes cast
    to float, rows of another dtype); otherwise the first leaf whose delta disagrees with
    its shape and dtype is named. `itemsize_of(leaf.dtype)` gives a leaf element's bytes.
    """
    extents = _leaf_extents(native_dtype, itemsize_of)
    implied = {nbytes // leaf.delta for _, leaf, nbytes in extents
               if nbytes > 0 and leaf.delta > 0 and nbytes % leaf.delta == 0}
    if len(implied) == 1 and sample.itemsize not in implied:
        size = implied.pop()
        hint = ""
        if sample.kind == "f" and size < sample.itemsize:
            hint = (" (was the observation cast to float, e.g. torch.Tensor(data) or .astype(float32), "
                    "instead of keeping the raw bytes?)")
        raise bad_value(argument, f"elements of {size} byte(s), as native_dtype's deltas imply "
                                  "(a delta counts elements of the observation's dtype)", f"dtype {sample}{hint}")
    for path, leaf, nbytes in extents:
        if nbytes != leaf.delta * sample.itemsize:
            name = trees.path_name("native_dtype", path)
            dtype = leaf.dtype.__name__ if isinstance(leaf.dtype, type) else leaf.dtype  # jnp.float32 is a class
            if nbytes % sample.itemsize:
                expected = (f"a leaf whose {nbytes} bytes (shape {tuple(leaf.shape)} of {dtype}) are a "
                            f"whole number of {sample} elements")
            else:
                expected = (f"delta {nbytes // sample.itemsize}: shape {tuple(leaf.shape)} of {dtype} is "
                            f"{nbytes} bytes, {nbytes // sample.itemsize} element(s) of the {sample} observation")
            raise bad_value(name, expected, f"delta {leaf.delta}")
