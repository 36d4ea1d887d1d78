"""CleanRL's PPO actor-critic as plain-dict JAX params.

Two separate 2-layer tanh MLPs (actor and critic), orthogonal init through
`jax_impl.layer_init` (std sqrt(2) for hidden layers, 0.01 for the actor head, 1.0 for the
critic head, zero biases), as CleanRL's ppo.py / ppo_continuous_action.py. A continuous
actor adds a state-independent `log_std` vector (zeros at init).

Params are a dict of dicts of arrays (in a checkpoint: `params/actor/0/kernel`, ...).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ... import jax_impl
from ..envs.gymnax_vec import EnvSpec

__all__ = ["init_params", "apply_policy", "fuse_policy", "apply_fused", "policy_dist"]


def _mlp(key, sizes, head_std):
    """Dense layers `sizes[0] -> ... -> sizes[-1]`, kernels in flax's (in, out) layout."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = {}
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        std = head_std if i == len(sizes) - 2 else math.sqrt(2.0)
        blank = {"kernel": jnp.zeros((n_in, n_out), jnp.float32), "bias": jnp.zeros((n_out,), jnp.float32)}
        layers[str(i)] = jax_impl.layer_init(blank, k, std=std, bias_const=0.0)
    return layers


def init_params(key, spec: EnvSpec, hidden_size: int = 64) -> dict:
    """Fresh actor-critic params for `spec`: {'actor': {...}, 'critic': {...}[, 'log_std']}."""
    k_actor, k_critic = jax.random.split(key)
    params = {
        "actor": _mlp(k_actor, (spec.obs_dim, hidden_size, hidden_size, spec.policy_width), 0.01),
        "critic": _mlp(k_critic, (spec.obs_dim, hidden_size, hidden_size, 1), 1.0),
    }
    if not spec.discrete:
        params["log_std"] = jnp.zeros((spec.action_dim,), jnp.float32)
    return params


def _forward(layers, x):
    n = len(layers)
    for i in range(n):
        x = x @ layers[str(i)]["kernel"] + layers[str(i)]["bias"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


def apply_policy(params, obs):
    """obs `(batch, obs_dim)` float32 -> (actor output `(batch, width)`, value `(batch,)`)."""
    return _forward(params["actor"], obs), _forward(params["critic"], obs)[:, 0]


def fuse_policy(params) -> list:
    """Actor and critic as one MLP of block-diagonal layers `[(kernel, bias)] * depth`.

    The same function as `apply_policy` in half the matmuls (the zero blocks add exact
    zeros). Rollouts build it once per update and run it every step, where XLA:CPU's cost is
    per kernel, not per flop. Not for training: gradients would fill the zero blocks.
    """
    actor, critic = params["actor"], params["critic"]
    fused = []
    for i in range(len(actor)):
        a, c = actor[str(i)], critic[str(i)]
        kernel = (jnp.concatenate([a["kernel"], c["kernel"]], axis=1) if i == 0
                  else jax.scipy.linalg.block_diag(a["kernel"], c["kernel"]))
        fused.append((kernel, jnp.concatenate([a["bias"], c["bias"]])))
    return fused


def apply_fused(fused, obs, width: int):
    """`apply_policy` on `fuse_policy(params)`: (actor output `(batch, width)`, value `(batch,)`)."""
    x = obs
    for i, (kernel, bias) in enumerate(fused):
        x = x @ kernel + bias
        if i < len(fused) - 1:
            x = jnp.tanh(x)
    return x[:, :width], x[:, width]


def policy_dist(params, actor_out):
    """What `jax_impl.sample_logits` takes: the logits, or a `jax_impl.Normal` for continuous."""
    if "log_std" not in params:
        return actor_out
    scale = jnp.broadcast_to(jnp.exp(params["log_std"]), actor_out.shape)
    return jax_impl.Normal(actor_out, scale)
