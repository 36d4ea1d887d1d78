"""JAX pytrees to and from the checkpoint's flat, named numpy arrays (pipelines.checkpoint).

A leaf is named by its path in the tree (`env_state/x`, `1/0/mu/actor/0/kernel`): dict keys,
sequence indices and attribute names joined by `/`. Used by the jax pipeline (the whole
runner state) and the mixed pipeline's env (env states, keys, episode statistics).
"""
from __future__ import annotations

import jax
import numpy as np

from ...spec.errors import bad_value

__all__ = ["path_name", "tree_arrays", "restore_tree", "LeafPacker"]


def path_name(path) -> str:
    """A pytree path as `a/0/b` (dict keys, tuple indices and attribute names)."""
    parts = []
    for entry in path:
        for attribute in ("key", "idx", "name"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
    return "/".join(parts)


def tree_arrays(tree) -> dict:
    """{path name: numpy array} of every leaf of `tree` (fetched from the device)."""
    return {path_name(path): np.asarray(leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def restore_tree(template, arrays: dict, what: str):
    """`template`'s tree with every leaf replaced by `arrays[path name]`, placed as the
    template's leaf is (same sharding, committed). `what` names the group in errors.

    Raises ValueError when a leaf is missing or differs in shape or dtype: a checkpoint of
    another configuration (or device count).
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    restored = []
    for path, leaf in leaves:
        name = path_name(path)
        if name not in arrays:
            raise bad_value("checkpoint", f"{what}/{name}", "a checkpoint without it")
        value = np.asarray(arrays[name])
        shape, dtype = np.shape(leaf), (leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype)
        if value.shape != tuple(shape) or value.dtype != dtype:
            raise bad_value("checkpoint", f"{what}/{name} of shape {tuple(shape)} and dtype {dtype}",
                            f"shape {value.shape} and dtype {value.dtype}")
        restored.append(jax.device_put(value, leaf.sharding) if hasattr(leaf, "sharding") else value)
    return jax.tree_util.tree_unflatten(treedef, restored)


class LeafPacker:
    """A pytree of arrays packed as one flat array per dtype, and back.

    A jitted call costs per argument and per result: brax's env state alone has 31 arrays,
    which made the mixed env's per-step dispatch cost as much as the step itself at 64 envs.
    Packed, the state crosses the call as a few arrays; `unpack` inside the jitted function
    is slicing (free), `pack` one concatenation per dtype. Leaves of extended dtypes (typed
    PRNG keys) cannot be concatenated: they stay as they are. Built from an example tree (or
    its `jax.eval_shape`); `pack` and `unpack` then take trees of that structure.
    """

    def __init__(self, example):
        leaves, self.treedef = jax.tree.flatten(example)
        self.shapes = [tuple(leaf.shape) for leaf in leaves]
        groups: dict = {}
        self.apart = []  # indices of leaves kept unpacked
        for index, leaf in enumerate(leaves):
            if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.extended):
                self.apart.append(index)
            else:
                groups.setdefault(np.dtype(leaf.dtype), []).append(index)
        self.groups = list(groups.values())

    def pack(self, tree) -> tuple:
        """(one flat array per dtype, the leaves kept apart)."""
        import jax.numpy as jnp

        leaves = self.treedef.flatten_up_to(tree)
        flat = tuple(jnp.concatenate([jnp.ravel(leaves[i]) for i in group]) for group in self.groups)
        return flat, tuple(leaves[i] for i in self.apart)

    def unpack(self, packed):
        flat, apart = packed
        leaves = [None] * len(self.shapes)
        for array, group in zip(flat, self.groups):
            offset = 0
            for i in group:
                size = int(np.prod(self.shapes[i], dtype=np.int64))
                leaves[i] = array[offset:offset + size].reshape(self.shapes[i])
                offset += size
        for leaf, i in zip(apart, self.apart):
            leaves[i] = leaf
        return jax.tree.unflatten(self.treedef, leaves)
