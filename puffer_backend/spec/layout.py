"""NativeDType: where each leaf of a structured observation lives inside a flat row.

`Leaf.offset` and `Leaf.delta` count elements of the observation's sample dtype (bytes
when the sample dtype is uint8), as in PufferLib. Offsets are read from numpy's own field
offsets, so aligned, packed (`align=False`), tail-padded and nested layouts are all exact.
"""
from __future__ import annotations

from typing import NamedTuple, Union

import numpy as np

from .dtypes import check_element_dtype
from .errors import bad_type, bad_value


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


def nativize_dtype(emulated) -> NativeDType:
    """Layout of the structured observation inside flat rows of the sample dtype.

    Returns a `Leaf` (numpy element dtype) for an unstructured observation, else a nested dict
    of Leafs that mirrors the structured dtype's fields.
    """
    sample_dtype, structured_dtype = _emulated_dtypes(emulated)
    try:
        sample_dtype = np.dtype(sample_dtype)
        structured_dtype = np.dtype(structured_dtype)
    except TypeError as err:
        raise bad_type("emulated", "numpy dtypes for observation_dtype and emulated_observation_dtype",
                       str(err)) from None
    if sample_dtype.subdtype is not None:
        sample_dtype = sample_dtype.subdtype[0]
    sample_dtype = check_element_dtype(sample_dtype, "emulated.observation_dtype")
    return _nativize(sample_dtype, structured_dtype, 0, "emulated_observation_dtype")


def _nativize(sample: np.dtype, field: np.dtype, byte_offset: int, path: str) -> NativeDType:
    if field.fields is not None:
        return {name: _nativize(sample, sub, byte_offset + sub_offset, f"{path}.{name}")
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
    return Leaf(element, tuple(int(s) for s in shape), byte_offset // sample.itemsize,
                nbytes // sample.itemsize)


_NATIVE_DTYPE = "a Leaf/(dtype, shape, offset, delta) tuple or a dict of them"


def _is_leaf(native_dtype) -> bool:
    """A Leaf, or PufferLib's plain `(dtype, shape, offset, delta)` tuple."""
    return isinstance(native_dtype, tuple) and len(native_dtype) == 4


def leaves(native_dtype: NativeDType):
    """Yield (path, Leaf) pairs in field order; path is a tuple of keys."""
    if _is_leaf(native_dtype):
        yield (), Leaf(*native_dtype)
        return
    if not isinstance(native_dtype, dict):
        raise bad_type("native_dtype", _NATIVE_DTYPE, native_dtype)
    for name, sub in native_dtype.items():
        for path, leaf in leaves(sub):
            yield (name, *path), leaf


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
    sample = np.dtype(_emulated_dtypes(emulated)[0])
    if sample.subdtype is not None:
        sample = sample.subdtype[0]
    return check_element_dtype(sample, "emulated.observation_dtype")
