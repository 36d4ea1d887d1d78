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
from .validation import check_key, is_torch_object, real_scalar_or_traced, refuse_torch_tensor

__all__ = ["layer_init", "orthogonal"]


def orthogonal(std: float = math.sqrt(2.0), *, column_axis: int = -1):
    """Initializer `(key, shape, dtype=float32) -> array` with (semi-)orthogonal weights times `std`.

    `column_axis` is the output axis: -1 for flax kernels `(*k, in, out)` (the default, so
    `nn.Dense(kernel_init=orthogonal(0.01))` works), 0 for torch/equinox weights `(out, in, *k)`.
    For a 2-D shape both choices give the same guarantee (W W^T or W^T W = std^2 I).
    `std` is a real scalar: a Python or numpy number, or a 0-d integer/float array (numpy,
    JAX, torch; a traced one inside `jit` too). Raises TypeError for anything else (bools,
    complex, arrays with axes), and ValueError for shapes with fewer than 2 axes.
    """
    base = jax.nn.initializers.orthogonal(scale=real_scalar_or_traced(std, "std"), column_axis=column_axis)

    def init(key, shape, dtype=jnp.float32):
        check_key(key)
        if len(shape) < 2:
            raise bad_value("shape", "at least 2 axes for an orthogonal init", f"shape {tuple(shape)}")
        return base(key, tuple(shape), dtype)

    return init


def layer_init(layer, key, std: float = math.sqrt(2.0), bias_const: float = 0.0):
    """Return a new params mapping with orthogonal weights (times `std`) and constant bias.

    layer: a mapping with `weight` (torch layout `(out, in, *k)`) or `kernel` (flax layout
    `(*k, in, out)`), optional `bias`; other entries are kept. key: a JAX PRNG key. Shapes
    and dtypes are kept, and the result has the input's mapping type when it can be built
    from a dict. `std` and `bias_const` are real scalars, as for `orthogonal`. Raises
    TypeError/ValueError for anything else: a torch module or tensors (with where to go
    instead), a batch of keys, a mapping without exactly one weight.
    """
    if not isinstance(layer, Mapping):
        if is_torch_object(layer):
            raise bad_type("layer", "a params mapping (for a torch module, use puffer_backend.torch_impl.layer_init)",
                           layer)
        raise bad_type("layer", "a params mapping with 'weight' (torch layout) or 'kernel' (flax layout)", layer)
    if ("weight" in layer) == ("kernel" in layer):
        raise bad_value("layer", "exactly one of 'weight' (torch layout) or 'kernel' (flax layout)",
                        f"keys {sorted(layer)}")
    check_key(key)
    bias_const = real_scalar_or_traced(bias_const, "bias_const")
    name, axis = ("weight", 0) if "weight" in layer else ("kernel", -1)
    weight = layer[name]
    refuse_torch_tensor(weight, f"layer[{name!r}]", "a float array")
    if not hasattr(weight, "shape") or not jnp.issubdtype(weight.dtype, jnp.floating):
        raise bad_type(f"layer[{name!r}]", "a float array", weight)
    new = dict(layer)
    new[name] = orthogonal(std, column_axis=axis)(key, weight.shape, weight.dtype)
    if layer.get("bias") is not None:
        bias = layer["bias"]
        refuse_torch_tensor(bias, "layer['bias']", "an array")
        new["bias"] = jnp.full(bias.shape, bias_const, dtype=bias.dtype)
    try:
        return type(layer)(new)
    except Exception:  # mapping types that cannot be built from a dict
        return new
