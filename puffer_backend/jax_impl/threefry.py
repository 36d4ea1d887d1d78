"""`jax.random.bits(key, shape, uint32)` for threefry keys, bit for bit, as plain fusible ops.

On CPU, JAX lowers its threefry primitive to a rolled 5-step `while` loop (for compile
time), which XLA runs as separate kernels per step and cannot fuse with the code that uses
the bits (upstream's change to unrolled loops: https://github.com/jax-ml/jax/pull/37872).
Writing the same 20 rounds of Threefry-2x32 (Salmon et al., 2011) out as elementwise ops
lets XLA fuse the draw into its consumer (measured in docs/benchmarks.md). The counters and
the output folding are those of JAX's default (`jax_threefry_partitionable`) scheme, so the
result equals `jax.random.bits`; with any other key implementation or setting,
`random_bits` calls `jax.random.bits` itself.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["random_bits"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_PARITY = 0x1BD11BDA


def random_bits(key, shape: tuple) -> jax.Array:
    """uint32 bits of `shape`, equal to `jax.random.bits(key, shape, jnp.uint32)`."""
    if str(jax.random.key_impl(key)) != "threefry2x32" or not jax.config.jax_threefry_partitionable:
        return jax.random.bits(key, shape, jnp.uint32)
    size = math.prod(shape)
    if size >= 2 ** 32:  # JAX's counters then need the high word too
        return jax.random.bits(key, shape, jnp.uint32)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if tuple(key.shape) != (() if typed else (2,)):  # not one key (a batch of keys?): let JAX say so
        return jax.random.bits(key, shape, jnp.uint32)
    data = jax.random.key_data(key) if typed else key
    k0, k1 = data[0], data[1]
    keys = (k0, k1, k0 ^ k1 ^ jnp.uint32(_KEY_PARITY))
    # Counter i is the 64-bit (high, low) = (0, i) over the flattened shape.
    x0 = jnp.broadcast_to(keys[0], shape)
    x1 = lax.iota(jnp.uint32, size).reshape(shape) + keys[1]
    for block in range(5):
        for rotation in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = ((x1 << jnp.uint32(rotation)) | (x1 >> jnp.uint32(32 - rotation))) ^ x0
        x0 = x0 + keys[(block + 1) % 3]
        x1 = x1 + keys[(block + 2) % 3] + jnp.uint32(block + 1)
    return x0 ^ x1
