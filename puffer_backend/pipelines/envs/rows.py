"""The layout of a JAX env's observation rows, for the spec layer: rows are float32, each
observation leaf flattened and concatenated in order (`gymnax_vec.pack_rows`), so the row is
one packed sample of a structured dtype of float32 fields, which `nativize_dtype` unpacks
into the observation's own structure (PufferLib's emulation, with float32 leaves).
Framework-free.
"""
from __future__ import annotations

import numpy as np

__all__ = ["rows_dtype", "emulated_rows"]


def rows_dtype(obs_leaves) -> np.dtype:
    """The structured dtype of one row: a float32 sub-array for a single leaf named "",
    else nested fields named by the leaves' "/"-separated paths."""
    if len(obs_leaves) == 1 and obs_leaves[0][0] == "":
        return np.dtype((np.float32, tuple(obs_leaves[0][1])))
    tree: dict = {}
    for name, shape in obs_leaves:
        *parents, leaf = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = tuple(shape)
    return _structured(tree)


def _structured(tree: dict) -> np.dtype:
    fields = [(name, _structured(sub) if isinstance(sub, dict) else np.dtype((np.float32, sub)))
              for name, sub in tree.items()]
    return np.dtype(fields, align=True)


def emulated_rows(obs_leaves) -> dict:
    """What `nativize_dtype` takes for these rows (the `emulated` dict of PufferLib 3.0)."""
    return {"observation_dtype": np.dtype(np.float32), "emulated_observation_dtype": rows_dtype(obs_leaves)}
