"""`Normal(loc, scale)`: a diagonal Normal as a registered pytree, for continuous actions.

It passes through `jit`, `vmap` and `lax.scan` like any pytree of arrays; `sample_logits`
reads `loc` and `scale` and uses the closed-form log-density and entropy.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..spec import normal

__all__ = ["Normal"]


@jax.tree_util.register_pytree_node_class
class Normal:
    """Diagonal Normal with mean `loc` and standard deviation `scale` (broadcast to `loc`'s shape).

    loc: `(batch, *event)` float array; scale: anything broadcastable to it (e.g. CleanRL's
    `exp(logstd)` of shape `(1, dim)`). Used by `sample_logits` for continuous actions.
    """

    def __init__(self, loc, scale):
        self.loc = loc
        self.scale = scale

    def tree_flatten(self):
        return (self.loc, self.scale), None

    @classmethod
    def tree_unflatten(cls, _aux, children):
        return cls(*children)

    def __repr__(self):
        shape = getattr(self.loc, "shape", None)
        return f"Normal(loc shape={shape})"

    def log_prob(self, value):
        """Elementwise log-density (not summed)."""
        scale = jnp.broadcast_to(self.scale, jnp.shape(self.loc))
        return normal.log_density(value, self.loc, scale, jnp.log(scale))

    def entropy(self):
        """Elementwise entropy `0.5 + 0.5 log(2 pi) + log(scale)` (not summed)."""
        scale = jnp.broadcast_to(self.scale, jnp.shape(self.loc))
        return normal.entropy(jnp.log(scale))
