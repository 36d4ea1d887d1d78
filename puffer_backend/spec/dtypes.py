"""The supported element dtypes: one table that both backends derive their dicts from."""
from __future__ import annotations

import numpy as np

from .errors import bad_type, bad_value

__all__ = ["SUPPORTED_DTYPE_NAMES", "SUPPORTED_DTYPES", "DtypeDict", "X64_DTYPE_NAMES", "needs_x64", "x64_error",
           "derive_dtype_dict", "check_element_dtype", "compute_dtype_name"]

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


# Element dtypes JAX holds only with `jax_enable_x64` on; with it off JAX narrows them to 32 bits
# silently, so jax_impl and exchange refuse them instead (`x64_error`).
X64_DTYPE_NAMES: frozenset[str] = frozenset({"float64", "int64", "uint64", "complex128"})


def needs_x64(dtype_name: str) -> bool:
    """Whether JAX needs `jax_enable_x64` to hold elements of `dtype_name` (numpy's spelling)."""
    return dtype_name in X64_DTYPE_NAMES


def x64_error(argument: str, dtype_name: str, received: str) -> ValueError:
    """The refusal of 64-bit data while `jax_enable_x64` is off, one message for jax_impl and exchange."""
    return bad_value(argument, f"a dtype JAX keeps as it is: with jax_enable_x64 off JAX would silently narrow "
                               f"{dtype_name} to 32 bits; enable it with jax.config.update('jax_enable_x64', True) "
                               "(JAX_ENABLE_X64=1) or cast the data explicitly", received)


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


def compute_dtype_name(dtype_name: str) -> str:
    """The dtype in which log-probabilities and entropies are computed and returned, for logits
    (or a Normal's loc) of the float dtype `dtype_name` (numpy's spelling: "float16",
    "bfloat16", "float8_e4m3fn" ...). float64 stays float64; every narrower float gives float32,
    so that no score is ever computed in 16 bits or fewer. Both backends apply this rule
    (`torch_impl.validation.compute_dtype`, `jax_impl.validation.compute_dtype`).

    Raises ValueError naming `dtype` for a name that is not a float of at most 64 bits.
    """
    bits = dtype_name.removeprefix("b").removeprefix("float").partition("_")[0]
    if not dtype_name.startswith(("float", "bfloat")) or not bits.isdigit() or int(bits) > 64:
        raise bad_value("dtype", "a floating dtype of at most 64 bits", f"dtype {dtype_name}")
    return "float64" if int(bits) == 64 else "float32"
