"""Imports both frameworks once, with an ImportError that says what to install."""
from __future__ import annotations

try:
    import torch
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "puffer_backend.exchange needs PyTorch and JAX; torch is missing "
        "(pip install 'puffer-backend[torch,jax]')") from error
try:
    import jax
    import jax.numpy as jnp
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "puffer_backend.exchange needs PyTorch and JAX; jax is missing "
        "(pip install 'puffer-backend[torch,jax]')") from error

__all__ = ["torch", "jax", "jnp"]
