"""The sampling rule both backends implement, and its numpy reference.

Discrete heads use the inverse CDF with one uniform `u` in [0, 1) per head per row:
    weights   = exp(logits - max(logits)), 0 where masked
    cdf       = cumsum(weights)
    threshold = min(u * cdf[-1], the largest float below cdf[-1])
    action    = first index i with cdf[i] > threshold
The clamp keeps the action on an entry of positive weight even when `u * cdf[-1]` rounds up
to the total, so a masked (zero-weight) action is never returned. A row with nothing
allowed has no distribution: its action is 0 (and both backends score it NaN). Continuous (Normal) heads
use the normal inverse CDF per dimension: `loc + scale * ndtri(u)`.
Given the same logits and uniforms, torch_impl and jax_impl return the same actions; this
numpy version is the reference they are both tested against.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["categorical_from_uniform", "normal_from_uniform"]


def categorical_from_uniform(logits: np.ndarray, uniform: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Reference sampler: logits `(batch, n)`, uniform `(batch,)` in [0, 1) -> int64 actions `(batch,)`."""
    logits = np.asarray(logits, dtype=np.float64)
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    top = logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits - np.where(np.isfinite(top), top, 0.0))
    cdf = np.cumsum(weights, axis=-1)
    total = cdf[..., -1]
    threshold = np.minimum(np.asarray(uniform, np.float64) * total, np.nextafter(total, 0.0))
    action = (cdf <= threshold[..., None]).sum(axis=-1)
    return np.where(total > 0, action, 0).astype(np.int64)


def normal_from_uniform(loc: np.ndarray, scale: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Reference Normal sampler: `loc + scale * ndtri(u)` elementwise."""
    ndtri = np.vectorize(lambda u: math.sqrt(2.0) * _erfinv(2.0 * u - 1.0))
    return np.asarray(loc) + np.asarray(scale) * ndtri(np.asarray(uniform, np.float64))


def _erfinv(y: float) -> float:
    # Newton on math.erf: exact enough for a test reference without scipy.
    if y <= -1.0:
        return -math.inf
    if y >= 1.0:
        return math.inf
    x = 0.0
    for _ in range(60):
        step = (math.erf(x) - y) / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
        x -= step
        if abs(step) < 1e-15:
            break
    return x
