"""JAX dtypes: the dtype dict derived from the spec table, and the x64 guard.

JAX dtypes are numpy dtypes, so each entry maps a numpy dtype to itself. With x64 off
(JAX's default) JAX cannot hold 64-bit arrays; instead of letting `jnp.asarray` narrow them
silently, every 64-bit dtype that would reach an array raises `require_dtype`'s error.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import derive_dtype_dict
from ..spec.errors import bad_value

__all__ = ["numpy_to_jax_dtype_dict", "x64_enabled", "require_dtype", "int_dtype"]

# Keyed by np.dtype; `[np.float32]` and `["float32"]` work too (spec.dtypes.DtypeDict), as in torch_impl.
numpy_to_jax_dtype_dict: dict = derive_dtype_dict(lambda name: jnp.dtype(name))


def x64_enabled() -> bool:
    """True when `jax_enable_x64` is on (64-bit arrays exist)."""
    return bool(jax.config.jax_enable_x64)


def require_dtype(dtype, argument: str) -> np.dtype:
    """`dtype` as a numpy dtype, or a ValueError when it is 64-bit and x64 is off."""
    dtype = np.dtype(dtype)
    if dtype.itemsize == 8 and dtype.kind in "iuf" and not x64_enabled():
        raise bad_value(argument, f"a dtype JAX can hold; {dtype} needs jax.config.update('jax_enable_x64', True) "
                                  "(JAX_ENABLE_X64=1), refusing to narrow it silently", f"dtype {dtype}")
    return dtype


def int_dtype() -> np.dtype:
    """Action dtype of discrete heads: int64 with x64 on, int32 otherwise (JAX's default int)."""
    return np.dtype(np.int64) if x64_enabled() else np.dtype(np.int32)
