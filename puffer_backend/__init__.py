"""puffer_backend: PufferLib's `pufferlib.pytorch` API for PyTorch and JAX on one spec layer.

Importing this package loads neither framework: `puffer_backend.torch_impl`,
`puffer_backend.jax_impl`, `puffer_backend.exchange` and `puffer_backend.vector` (a JAX env
as a gymnasium vector env of torch tensors) import theirs when first used.
"""
import importlib

from . import spec

__version__ = "0.1.0"
__all__ = ["spec", "torch_impl", "jax_impl", "exchange", "shim", "vector", "__version__"]
_LAZY = ("torch_impl", "jax_impl", "exchange", "shim", "vector")  # imported on first attribute access


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
