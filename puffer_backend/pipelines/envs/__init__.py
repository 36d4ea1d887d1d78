"""Which environment ids and which installed modules each pipeline needs: one table, numpy-free.

The CLI validates `--backend` and `--env` against these tables before importing any
framework, so a typo costs milliseconds instead of a torch/JAX import.
"""
from __future__ import annotations

import importlib.util

__all__ = ["SUPPORTED_ENVS", "REQUIRED_MODULES", "supported_envs", "missing_modules"]

# torch steps gymnasium envs; jax and mixed step gymnax envs under jit.
SUPPORTED_ENVS: dict[str, tuple[str, ...]] = {
    "torch": ("CartPole-v1", "Blackjack-v1", "Pendulum-v1"),
    "jax": ("CartPole-v1", "Pendulum-v1"),
    "mixed": ("CartPole-v1", "Pendulum-v1"),
}

# Top-level modules each pipeline imports; a missing one is reported before training starts.
REQUIRED_MODULES: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "gymnasium"),
    "jax": ("jax", "gymnax", "optax"),
    "mixed": ("torch", "jax", "gymnax"),
}


def supported_envs(backend: str) -> tuple[str, ...]:
    """The environment ids that `backend`'s pipeline can train on.

    Raises ValueError for an unknown backend.
    """
    if backend not in SUPPORTED_ENVS:
        raise ValueError(f"backend: expected one of {sorted(SUPPORTED_ENVS)}, received {backend!r}")
    return SUPPORTED_ENVS[backend]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked package counts as missing
        return False


def missing_modules(backend: str) -> list[str]:
    """The modules `backend` needs that cannot be found (without importing any of them)."""
    if backend not in REQUIRED_MODULES:
        raise ValueError(f"backend: expected one of {sorted(REQUIRED_MODULES)}, received {backend!r}")
    return [name for name in REQUIRED_MODULES[backend] if not _installed(name)]
