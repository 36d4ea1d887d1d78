"""JAX dtypes: the dtype dict derived from the spec table, and the x64 guard.

JAX dtypes are numpy dtypes, so each entry maps a numpy dtype to itself. With x64 off
(JAX's default) JAX cannot hold 64-bit arrays; instead of letting `jnp.asarray` narrow them
silently, every dtype the spec says needs x64 (`spec.dtypes.needs_x64`) raises
`require_dtype`'s error.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import derive_dtype_dict
from ..spec.dtypes import needs_x64, x64_error

__all__ = ["numpy_to_jax_dtype_dict", "x64_enabled", "require_dtype", "int_dtype"]

# Keyed by np.dtype; `[np.float32]` and `["float32"]` work too (spec.dtypes.DtypeDict), as in torch_impl.
numpy_to_jax_dtype_dict: dict = derive_dtype_dict(lambda name: jnp.dtype(name))


def x64_enabled() -> bool:
    """True when `jax_enable_x64` is on (64-bit arrays exist)."""
    return bool(jax.config.jax_enable_x64)


def require_dtype(dtype, argument: str) -> np.dtype:
    """`dtype` as a numpy dtype, or the spec's ValueError (`spec.dtypes.x64_error`) when JAX
    needs x64 to hold it (`spec.dtypes.needs_x64`) and x64 is off."""
    dtype = np.dtype(dtype)
    if dtype.itemsize >= 8 and needs_x64(dtype.name) and not x64_enabled():
        raise x64_error(argument, dtype.name, f"dtype {dtype}")
    return dtype


def int_dtype() -> np.dtype:
    """Action dtype of discrete heads: int64 with x64 on, int32 otherwise (JAX's default int)."""
    return np.dtype(np.int64) if x64_enabled() else np.dtype(np.int32)
