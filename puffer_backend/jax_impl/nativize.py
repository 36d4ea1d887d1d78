"""Structured observations from flat rows: `nativize_dtype` and a jit-compatible `nativize_tensor`.

Each leaf is a static slice of the row followed by `lax.bitcast_convert_type`, which reads
the bytes in the same little-endian order as numpy, so the result is bit-exact with numpy's
structured view. XLA fuses the slices; outside jit each leaf is one small copy (JAX arrays
cannot alias a slice of another buffer).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from ..spec import checks, layout
from ..spec.dtypes import check_element_dtype
from ..spec.errors import bad_type
from ..spec.layout import Leaf, NativeDType, flattened_tensor_size
from ..spec.trees import map_dict_leaves, path_name
from .dtypes import numpy_to_jax_dtype_dict, require_dtype

__all__ = ["nativize_dtype", "nativize_tensor", "flattened_tensor_size", "NativeDType", "Leaf"]


def nativize_dtype(emulated) -> NativeDType:
    """Layout of a structured observation in flat rows: a `Leaf(dtype, shape, offset, delta)` or a
    nested dict of them, with JAX dtypes. `emulated` is a mapping or object with
    `observation_dtype` and `emulated_observation_dtype`, or a gymnasium space. The result
    compares equal to plain Leafs/dicts and also records the rows' sample dtype and width
    (`spec.layout.recorded_layout`), so that `nativize_tensor` refuses rows of another dtype
    or width and names the expected one.
    Raises TypeError/ValueError for unsupported, big-endian or misaligned dtypes."""
    return layout.recorded_layout(emulated, lambda dtype: numpy_to_jax_dtype_dict[np.dtype(dtype)])


def _leaf_itemsize(dtype) -> int:
    return check_element_dtype(dtype, "native_dtype").itemsize


def _check(observation, native_dtype) -> np.dtype:
    """The observation against the layout: types, rank, dtype, row width (spec.checks) and the
    x64 rule for it and every leaf; returns its element dtype."""
    if not hasattr(observation, "shape") or not hasattr(observation, "dtype"):
        raise bad_type("observation", "a jax or numpy array of shape (batch, elements)", observation)
    sample = check_element_dtype(observation.dtype, "observation")
    require_dtype(sample, "observation")
    expected = getattr(native_dtype, "sample_dtype", None)
    if expected is None:  # hand-built tuples: the same checks and guess as torch_impl
        layout.check_leaf_extents(native_dtype, _leaf_itemsize, sample)
        expected = checks.guess_sample_dtype(sample.name, [np.dtype(leaf.dtype).name for _, leaf in layout.leaves(native_dtype)])
    checks.check_observation(observation.shape, sample.name, native_dtype, expected)
    for path, leaf in layout.leaves(native_dtype):
        name = path_name("native_dtype", path)
        require_dtype(check_element_dtype(leaf.dtype, name), name)
    return sample


def _leaf(leaf, observation, sample: np.dtype):
    """One leaf's array `(batch, *shape)`: a static slice of the rows, bitcast."""
    dtype, shape, offset, delta = leaf
    dtype = np.dtype(dtype)
    batch = observation.shape[0]
    part = observation[:, offset:offset + delta]
    if dtype != sample:
        if dtype.itemsize == sample.itemsize:
            part = lax.bitcast_convert_type(part, dtype)
        else:
            # Through bytes: bitcast adds (or removes) a trailing axis of the itemsize ratio.
            if sample.itemsize > 1:
                part = lax.bitcast_convert_type(part, jnp.uint8)
            count = delta * sample.itemsize // dtype.itemsize
            part = _from_bytes(part.reshape(batch, count, dtype.itemsize), dtype)
    return part.reshape(batch, *shape)


_UINT = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}


def _from_bytes(parts, dtype: np.dtype):
    """`(..., itemsize)` little-endian bytes -> `(...)` of `dtype`, bit-exact.

    Assembling the word with shifts and ors is what `bitcast_convert_type` does too, but XLA's
    CPU lowering of that bitcast (a reduce over the byte axis) is slower than this.
    """
    unsigned = _UINT[dtype.itemsize]
    if dtype.itemsize == 1:
        return lax.bitcast_convert_type(parts[..., 0], dtype)
    wide = parts.astype(unsigned)
    word = wide[..., 0]
    for i in range(1, dtype.itemsize):
        word = word | (wide[..., i] << jnp.asarray(8 * i, unsigned))
    return word if np.dtype(unsigned) == dtype else lax.bitcast_convert_type(word, dtype)


def nativize_tensor(observation, native_dtype: NativeDType):
    """Split flat observation rows into native arrays.

    observation: `(batch, elements)` jax (or numpy) array of the sample dtype, the flat rows
    the environment produced. native_dtype: from `nativize_dtype`. Returns one array
    `(batch, *leaf.shape)` of the leaf's dtype, or a nested dict of them. Bit-exact for
    every layout `nativize_dtype` produces. Works under `jax.jit`, `vmap` (over an extra
    leading axis) and sharding; checks are static and run at trace time.
    Raises ValueError for a wrong shape, rows whose width is not the layout's (for hand-built
    tuples: narrower than the leaves), a sample dtype whose itemsize does not match the
    layout (e.g. bytes cast to float), a hand-built leaf whose delta disagrees with its shape
    and dtype, or 64-bit dtypes while x64 is off.
    """
    sample = _check(observation, native_dtype)
    observation = jnp.asarray(observation)
    return map_dict_leaves(native_dtype, _leaf, observation, sample)
