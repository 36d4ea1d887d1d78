"""Numpy closed forms the conformance suite compares every backend against (float64)."""
from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, np.float64)
    m = x.max(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def categorical_entropy(logits: np.ndarray) -> np.ndarray:
    logp = log_softmax(logits)
    p = np.exp(logp)
    with np.errstate(invalid="ignore"):
        return -np.where(p > 0, p * logp, 0.0).sum(-1)


def categorical_log_prob(logits: np.ndarray, action: np.ndarray) -> np.ndarray:
    return np.take_along_axis(log_softmax(logits), np.asarray(action)[..., None], -1)[..., 0]


def normal_log_prob(loc, scale, x) -> np.ndarray:
    loc, scale, x = (np.asarray(a, np.float64) for a in (loc, scale, x))
    return (-0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)).sum(-1)


def normal_entropy(scale) -> np.ndarray:
    return (0.5 + 0.5 * np.log(2 * np.pi) + np.log(np.asarray(scale, np.float64))).sum(-1)


def uniforms_off_boundaries(logits: np.ndarray, rng: np.random.Generator, mask=None, gap: float = 1e-4) -> np.ndarray:
    """Uniforms in [0, 1), float32-exact, at least `gap` away from every CDF boundary of each row,
    so float32 and float64 cumulative sums pick the same action."""
    x = np.asarray(logits, np.float64)
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    p = np.exp(x - x.max(-1, keepdims=True))
    cdf = np.cumsum(p, -1) / p.sum(-1, keepdims=True)
    out = np.empty(x.shape[0], np.float32)
    for i in range(x.shape[0]):
        while True:
            u = np.float32(rng.random())
            if np.abs(cdf[i] - np.float64(u)).min() > gap and u > gap:
                out[i] = u
                break
    return out
