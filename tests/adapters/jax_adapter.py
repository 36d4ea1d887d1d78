"""JAX adapter for the conformance suite: numpy in and out, explicit keys from seeds."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from puffer_backend import jax_impl

from .base import Adapter


class JaxAdapter(Adapter):
    name = "jax"
    api = jax_impl
    dtype_dict = jax_impl.numpy_to_jax_dtype_dict

    def array(self, value, dtype=None):
        value = np.asarray(value)
        if dtype is not None:
            target = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
            value = value.astype(target)
        # jnp.asarray would narrow 64-bit data silently with x64 off; jax_impl must see it instead.
        if value.dtype.itemsize == 8 and not jax.config.jax_enable_x64:
            return value
        return jnp.asarray(value)

    def numpy(self, value):
        out = np.asarray(value)
        if out.dtype == ml_dtypes.bfloat16:
            out = out.astype(np.float32)
        return np.array(out)

    def dtype_name(self, value):
        return np.dtype(value.dtype).name

    convert_with = "puffer_backend.exchange.to_jax"

    def foreign_array(self, value):
        torch = pytest.importorskip("torch")
        return torch.from_numpy(np.array(value))

    def can_hold(self, dtype):
        return np.dtype(dtype).itemsize < 8 or bool(jax.config.jax_enable_x64)

    def shares_memory(self, a, b):
        # JAX arrays are immutable and never views of one another: outside jit a slice is a new
        # buffer, inside jit XLA fuses it away. Only "the very same buffer" is observable.
        try:
            if a.unsafe_buffer_pointer() == b.unsafe_buffer_pointer():
                return True
        except Exception:
            pass
        return None

    def normal(self, loc, scale):
        return jax_impl.Normal(loc, scale)

    def sample_logits(self, logits, action=None, *, seed=0, **kwargs):
        return jax_impl.sample_logits(jax.random.key(seed), logits, action, **kwargs)

    def grad(self, fn, *args):
        # Every float array among the args, also inside tuples of heads or a Normal, in order.
        flat, tree = jax.tree_util.tree_flatten(args)
        floats = [i for i, leaf in enumerate(flat)
                  if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)]

        def total(float_leaves):
            full = list(flat)
            for i, value in zip(floats, float_leaves):
                full[i] = value
            return jnp.sum(fn(*jax.tree_util.tree_unflatten(tree, full)))

        grads = jax.grad(total)([flat[i] for i in floats])
        return [self.numpy(g) for g in grads]

    def with_grad(self, fn, *args):
        flat, tree = jax.tree_util.tree_flatten(args)
        floats = [i for i, leaf in enumerate(flat)
                  if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)]

        def primal(*float_leaves):
            full = list(flat)
            for i, value in zip(floats, float_leaves):
                full[i] = value
            return tuple(fn(*jax.tree_util.tree_unflatten(tree, full)))

        out, _ = jax.vjp(primal, *[flat[i] for i in floats])
        return [self.numpy(o) for o in out]

    def compiled(self, fn):
        return jax.jit(fn)

    def init_linear(self, in_features, out_features, *, seed=0, bias=True, **kwargs):
        params = {"weight": jnp.zeros((out_features, in_features), jnp.float32)}
        if bias:
            params["bias"] = jnp.zeros((out_features,), jnp.float32)
        out = jax_impl.layer_init(params, jax.random.key(seed), **kwargs)
        return {k: self.numpy(v) for k, v in out.items()}


ADAPTER = JaxAdapter()
