"""CleanRL's PPO actor-critic as plain-dict JAX params, and its checkpoint format.

Two separate 2-layer tanh MLPs (actor and critic), orthogonal init through
`jax_impl.layer_init` (std sqrt(2) for hidden layers, 0.01 for the actor head, 1.0 for the
critic head, zero biases), as CleanRL's ppo.py / ppo_continuous_action.py. A continuous
actor adds a state-independent `log_std` vector (zeros at init).

Params are a dict of dicts of arrays, so a checkpoint is one `.npz` with keys like
`actor/0/kernel`, plus a JSON file that says how to rebuild the env and the network.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ... import jax_impl
from ..envs.gymnax_vec import EnvSpec

__all__ = ["init_params", "apply_policy", "fuse_policy", "apply_fused", "policy_dist", "save_checkpoint", "load_checkpoint", "CHECKPOINT_NPZ", "CHECKPOINT_META"]

CHECKPOINT_NPZ = "policy_jax.npz"
CHECKPOINT_META = "policy_jax.json"


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


def _flatten(tree, prefix=""):
    out = {}
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "/"))
        else:
            out[path] = np.asarray(value)
    return out


def _unflatten(flat):
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = jnp.asarray(value)
    return tree


def save_checkpoint(run_dir, params, meta: dict) -> Path:
    """Writes `policy_jax.npz` (params) and `policy_jax.json` (meta) under `run_dir`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez(run_dir / CHECKPOINT_NPZ, **_flatten(jax.device_get(params)))
    (run_dir / CHECKPOINT_META).write_text(json.dumps(meta, indent=2))
    return run_dir / CHECKPOINT_NPZ


def load_checkpoint(run_dir) -> tuple[dict, dict]:
    """(params, meta) saved by `save_checkpoint`; FileNotFoundError naming the missing file."""
    run_dir = Path(run_dir)
    npz, meta = run_dir / CHECKPOINT_NPZ, run_dir / CHECKPOINT_META
    for path in (npz, meta):
        if not path.is_file():
            raise FileNotFoundError(f"run_dir: expected a jax checkpoint file {path}, not found")
    with np.load(npz) as data:
        params = _unflatten({k: data[k] for k in data.files})
    return params, json.loads(meta.read_text())
