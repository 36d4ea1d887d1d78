"""The supported element dtypes: one table that both backends derive their dicts from."""
from __future__ import annotations

import numpy as np

from .errors import bad_type, bad_value

# The 11 dtypes of the documented API, in its order. Backends map each name to their own dtype.
SUPPORTED_DTYPE_NAMES: tuple[str, ...] = (
    "float64", "float32", "float16",
    "uint64", "uint32", "uint16", "uint8",
    "int64", "int32", "int16", "int8",
)
SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(name) for name in SUPPORTED_DTYPE_NAMES)


class DtypeDict(dict):
    """A plain dict keyed by `np.dtype`, as PufferLib's, that also answers any spelling numpy
    reads as that dtype: `table[np.float32]`, `table["float32"]` (a numpy scalar type does not
    hash like its dtype). Lookups (`[]`, `get`, `in`) normalize the key only on a miss, so
    the common `table[np.dtype(...)]` costs one dict lookup; iteration gives the dtypes."""

    def __missing__(self, key):
        normalized = _normalized(key)
        if normalized is None:
            raise KeyError(key)
        return self[normalized]

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __contains__(self, key):
        if dict.__contains__(self, key):
            return True
        normalized = _normalized(key)
        return normalized is not None and dict.__contains__(self, normalized)


def _normalized(key) -> np.dtype | None:
    """`np.dtype(key)` when that is a different key (None when numpy cannot read it, and for
    None itself, which numpy would read as float64)."""
    if key is None:
        return None
    try:
        normalized = np.dtype(key)
    except (TypeError, ValueError):
        return None
    if type(normalized) is type(key) and normalized == key:
        return None
    return normalized


def derive_dtype_dict(to_backend) -> DtypeDict:
    """Build a backend's `numpy dtype -> backend dtype` dict; `to_backend(name)` gives one entry."""
    return DtypeDict({np.dtype(name): to_backend(name) for name in SUPPORTED_DTYPE_NAMES})


def check_element_dtype(dtype, argument: str = "dtype") -> np.dtype:
    """Return `dtype` as a native-endian numpy dtype from the table, or raise naming `argument`."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise bad_type(argument, "a numpy dtype", dtype) from None
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and np.little_endian is False):
        raise bad_value(argument, "a little-endian dtype (big-endian data would be read byte-swapped)",
                        f"dtype {dtype.str}")
    plain = dtype.newbyteorder("=") if dtype.byteorder == "<" else dtype
    if plain not in SUPPORTED_DTYPES:
        raise bad_value(argument, f"one of {', '.join(SUPPORTED_DTYPE_NAMES)}", f"dtype {dtype}")
    return np.dtype(plain.name)
