"""Torch adapter for the conformance suite: numpy in and out, a seeded torch.Generator per call."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from puffer_backend import torch_impl

from .base import Adapter


class TorchAdapter(Adapter):
    name = "torch"
    api = torch_impl
    dtype_dict = torch_impl.numpy_to_torch_dtype_dict

    def array(self, value, dtype=None):
        value = np.asarray(value)
        if dtype == "bfloat16":
            return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).to(torch.bfloat16)
        if dtype is not None:
            value = value.astype(np.dtype(dtype))
        # copy(order="C"), not ascontiguousarray: that one turns a 0-d array into shape (1,)
        return torch.from_numpy(value if value.flags.c_contiguous else value.copy(order="C"))

    def numpy(self, value):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy().copy()

    def dtype_name(self, value):
        return str(value.dtype).replace("torch.", "")

    convert_with = "puffer_backend.exchange.to_torch"

    def foreign_array(self, value):
        jnp = pytest.importorskip("jax.numpy")
        return jnp.asarray(value)

    def can_hold(self, dtype):
        return True  # every dtype of the table

    def shares_memory(self, a, b):
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def normal(self, loc, scale):
        # torch's own argument validation off: the library's checks must hold without it
        return torch.distributions.Normal(loc, scale, validate_args=False)

    def sample_logits(self, logits, action=None, *, seed=0, **kwargs):
        # no generator when nothing is drawn: it is not traceable, and scoring works under compile
        drawn = action is None and not kwargs.get("deterministic", False)
        generator = torch.Generator().manual_seed(seed) if drawn else None
        return torch_impl.sample_logits(logits, action, generator=generator, **kwargs)

    def grad(self, fn, *args):
        leaves = [a.detach().clone().requires_grad_(True) if a.is_floating_point() else a for a in args]
        fn(*leaves).sum().backward()
        return [a.grad.float().numpy().copy() for a in leaves if a.is_floating_point()]

    def with_grad(self, fn, *args):
        def leaf(a):
            if isinstance(a, (tuple, list)):
                return type(a)(leaf(x) for x in a)
            return a.detach().clone().requires_grad_(True) if a.is_floating_point() else a
        with torch.enable_grad():
            out = fn(*[leaf(a) for a in args])
        assert all(o.requires_grad for o in out)
        return [self.numpy(o) for o in out]

    def compiled(self, fn):
        return torch.compile(fn, fullgraph=True, backend="eager")

    def init_linear(self, in_features, out_features, *, seed=0, bias=True, **kwargs):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(in_features, out_features, bias=bias)
        out = torch_impl.layer_init(layer, **kwargs)
        assert out is layer
        result = {"weight": layer.weight.detach().numpy().copy()}
        if bias:
            result["bias"] = layer.bias.detach().numpy().copy()
        return result


ADAPTER = TorchAdapter()
