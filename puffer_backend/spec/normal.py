"""The diagonal Normal's closed forms, written once for both backends.

Array-api-compat style: the functions take the backend's arrays (torch tensors, JAX or numpy
arrays) and use only arithmetic operators, so they import no framework; the caller passes
`log(scale)`, computed with its own framework (and shared between the two forms). Results
are per dimension, not summed.
"""
from __future__ import annotations

import math

__all__ = ["HALF_LOG_2PI", "log_density", "entropy"]

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_density(value, loc, scale, log_scale):
    """`log N(value; loc, scale)` per dimension: `-z**2 / 2 - log(scale) - log(2 pi) / 2`, with
    `z = (value - loc) / scale`; arrays of one shape (or broadcastable) and float dtype."""
    z = (value - loc) / scale
    return -0.5 * z * z - log_scale - HALF_LOG_2PI


def entropy(log_scale):
    """The Normal's entropy per dimension, `1/2 + log(2 pi) / 2 + log(scale)`."""
    return 0.5 + HALF_LOG_2PI + log_scale
