"""Helpers shared by the two function wrappers."""
from __future__ import annotations

from ..spec.errors import bad_type
from ._frameworks import jax, jnp, torch

__all__ = ["tree_flatten", "is_float_torch", "is_float_jax", "check_callable", "jax_dtype"]

tree_flatten = jax.tree_util.tree_flatten


def is_float_torch(t: "torch.Tensor") -> bool:
    return t.is_floating_point() or t.is_complex()


def is_float_jax(a) -> bool:
    return jnp.issubdtype(a.dtype, jnp.inexact)


def check_callable(fn, argument: str = "fn"):
    if not callable(fn):
        raise bad_type(argument, "a callable", fn)


def jax_dtype(tensor: "torch.Tensor"):
    """The JAX dtype with the same name as a torch dtype."""
    return jnp.dtype(str(tensor.dtype).removeprefix("torch."))
