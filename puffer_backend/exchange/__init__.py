"""Zero-copy exchange between PyTorch and JAX through DLPack.

`to_jax` / `to_torch` move arrays and pytrees of arrays across without copying where the
buffer allows it; `jax_fn_for_torch` / `torch_fn_for_jax` wrap whole functions, gradients
included. Importing this module needs both torch and jax.
"""
from .jax_for_torch import jax_fn_for_torch
from .pytrees import to_jax, to_torch
from .torch_for_jax import torch_fn_for_jax

__all__ = ["to_jax", "to_torch", "jax_fn_for_torch", "torch_fn_for_jax"]
