"""Environments shared by the pipelines: which ids and installed modules each needs (this
module, framework-free), gymnasium vector envs for torch (`gym_vec`), gymnax vector envs for
jax and mixed (`gymnax_vec`).

The CLI validates `--backend` and `--env` against these tables before importing any
framework, so a typo costs milliseconds instead of a torch/JAX import.
"""
from __future__ import annotations

import importlib.util

__all__ = ["GYMNASIUM_ENVS", "GYMNAX_ENVS", "SUPPORTED_ENVS", "REQUIRED_MODULES", "supported_envs",
           "missing_modules"]

# Ids the pipelines train and test. gymnasium and gymnax have more; each one added here must
# have an observation the spec layer packs (torch) or a flat Box (gymnax), and a Discrete,
# MultiDiscrete or Box action space.
GYMNASIUM_ENVS = ("CartPole-v1", "Blackjack-v1", "Pendulum-v1")
GYMNAX_ENVS = ("CartPole-v1", "Pendulum-v1")

# torch steps gymnasium envs (envs/gym_vec.py); jax and mixed step gymnax envs under jit
# (envs/gymnax_vec.py).
SUPPORTED_ENVS: dict[str, tuple[str, ...]] = {"torch": GYMNASIUM_ENVS, "jax": GYMNAX_ENVS, "mixed": GYMNAX_ENVS}

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
