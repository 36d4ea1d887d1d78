"""CleanRL's layer initialization, functional: `layer_init` on a params mapping, `orthogonal(std)`.

Layouts: torch's `weight` `(out, in, *kernel)` and flax's `kernel` `(*kernel, in, out)`.
Orthogonality is taken over the output axis against all the others flattened, as torch's
`nn.init.orthogonal_` does: the flattened matrix has orthonormal rows or columns, whichever
is fewer, scaled by `std`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from ..spec.errors import bad_type, bad_value

__all__ = ["layer_init", "orthogonal"]


def orthogonal(std: float = math.sqrt(2.0), *, column_axis: int = -1):
    """Initializer `(key, shape, dtype=float32) -> array` with (semi-)orthogonal weights times `std`.

    `column_axis` is the output axis: -1 for flax kernels `(*k, in, out)` (the default, so
    `nn.Dense(kernel_init=orthogonal(0.01))` works), 0 for torch/equinox weights `(out, in, *k)`.
    For a 2-D shape both choices give the same guarantee (W W^T or W^T W = std^2 I).
    Raises ValueError for shapes with fewer than 2 axes.
    """
    if not isinstance(std, (int, float)) or isinstance(std, bool):
        raise bad_type("std", "a float", std)
    base = jax.nn.initializers.orthogonal(scale=float(std), column_axis=column_axis)

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise bad_value("shape", "at least 2 axes for an orthogonal init", f"shape {tuple(shape)}")
        return base(key, tuple(shape), dtype)

    return init


def layer_init(layer, key, std: float = math.sqrt(2.0), bias_const: float = 0.0):
    """Return a new params mapping with orthogonal weights (times `std`) and constant bias.

    layer: a mapping with `weight` (torch layout `(out, in, *k)`) or `kernel` (flax layout
    `(*k, in, out)`), optional `bias`; other entries are kept. key: a JAX PRNG key. Shapes
    and dtypes are kept, and the result has the input's mapping type when it can be built
    from a dict. Raises TypeError/ValueError for anything else.
    """
    if not isinstance(layer, Mapping):
        raise bad_type("layer", "a params mapping with 'weight' (torch layout) or 'kernel' (flax layout)", layer)
    if ("weight" in layer) == ("kernel" in layer):
        raise bad_value("layer", "exactly one of 'weight' (torch layout) or 'kernel' (flax layout)",
                        f"keys {sorted(layer)}")
    if not isinstance(bias_const, (int, float)) or isinstance(bias_const, bool):
        raise bad_type("bias_const", "a float", bias_const)
    name, axis = ("weight", 0) if "weight" in layer else ("kernel", -1)
    weight = layer[name]
    if not hasattr(weight, "shape") or not jnp.issubdtype(weight.dtype, jnp.floating):
        raise bad_type(f"layer[{name!r}]", "a float array", weight)
    new = dict(layer)
    new[name] = orthogonal(std, column_axis=axis)(key, weight.shape, weight.dtype)
    if layer.get("bias") is not None:
        bias = layer["bias"]
        new["bias"] = jnp.full(bias.shape, bias_const, dtype=bias.dtype)
    try:
        return type(layer)(new)
    except Exception:  # mapping types that cannot be built from a dict
        return new
