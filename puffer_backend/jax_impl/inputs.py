"""Argument checks shared by jax_impl's modules: PRNG keys, real scalars, and torch tensors
passed by mistake (recognized by their type's module, so torch is never imported here)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..spec.checks import bad_array_type, real_scalar
from ..spec.errors import bad_type, bad_value

__all__ = ["is_torch_object", "refuse_torch_tensor", "check_key", "real_scalar_or_traced"]

_A_KEY = "a jax PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed))"


def is_torch_object(value) -> bool:
    """Whether `value` is a torch object (tensor, module, distribution)."""
    return type(value).__module__.partition(".")[0] == "torch"


def refuse_torch_tensor(value, argument: str, expected: str) -> None:
    """A TypeError that says to convert with `exchange.to_jax` when `value` is a torch tensor."""
    if is_torch_object(value) and hasattr(value, "shape"):
        raise bad_array_type(argument, expected, value)


def check_key(key, argument: str = "key"):
    """One PRNG key: a typed key of shape `()` or a legacy uint32 key of shape `(2,)` (any 1-D
    raw key of another implementation). A batch of keys is refused with the vmap hint."""
    refuse_torch_tensor(key, argument, _A_KEY)
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise bad_type(argument, _A_KEY, key)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not typed and key.dtype != jnp.uint32:
        raise bad_type(argument, _A_KEY, key)
    if len(key.shape) != (0 if typed else 1):
        kind = "typed keys" if typed else "uint32 key data"
        raise bad_value(argument, "a single PRNG key, shape () from jax.random.key or (2,) from jax.random.PRNGKey "
                                  "(for a batch of keys, use jax.vmap)", f"{kind} of shape {tuple(key.shape)}")
    return key


def real_scalar_or_traced(value, argument: str):
    """`spec.checks.real_scalar` (a float), except that a traced 0-d JAX number (inside `jit`,
    e.g. `jnp.sqrt(2)` there) is returned as is: its value is not known yet."""
    if isinstance(value, jax.core.Tracer):
        real = jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)
        if value.shape != () or not real:
            raise bad_type(argument, "a real number (a 0-d integer or float array)", value)
        return value
    return real_scalar(value, argument)
