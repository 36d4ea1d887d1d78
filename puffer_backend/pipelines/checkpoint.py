"""One checkpoint format for every pipeline: `checkpoint.npz` beside `config.json`.

The run's config is stored once, in config.json (pipelines.config); the checkpoint holds
everything else, framework-neutral, in one numpy `.npz` file (loaded without pickle):
    "checkpoint.json"   0-d string: {"format": 1, "backend": ..., "step": ..., "update": ...,
                        plus facts a pipeline adds (e.g. the optimizer's hyperparameters)}
    "params/<name>"     the policy's weights, named as their framework names them
                        (torch: `actor.0.weight`; jax: `actor/0/kernel`)
    "optimizer/<name>"  the optimizer's state (Adam's moments and step count)
    "state/<name>"      anything else needed to continue the run (e.g. RNG state)
`step` counts environment steps, `update` finished updates. One file, replaced atomically:
an interrupted save leaves the previous checkpoint whole.
"""
from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..spec.errors import bad_value
from .config import TrainConfig, load_config, write_config

__all__ = ["CHECKPOINT_FILE", "FORMAT", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint_info",
           "flatten_tree", "unflatten_tree"]

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT = 1
_META = "checkpoint.json"
_GROUPS = ("params", "optimizer", "state")
_LEGACY = ("checkpoint.pt", "policy_jax.npz")  # written by versions before this format


@dataclass
class Checkpoint:
    """What a pipeline saves. Arrays are numpy; names may contain `/` and `.`."""
    backend: str
    step: int
    update: int
    params: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def save_checkpoint(run_dir, config: TrainConfig, checkpoint: Checkpoint) -> Path:
    """Write run_dir/config.json (the config's only copy) and run_dir/checkpoint.npz."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, config)
    meta = {"format": FORMAT, "backend": checkpoint.backend, "step": int(checkpoint.step),
            "update": int(checkpoint.update), **checkpoint.info}
    arrays = {_META: np.array(json.dumps(meta, sort_keys=True))}
    for group in _GROUPS:
        for name, value in getattr(checkpoint, group).items():
            arrays[f"{group}/{name}"] = np.asarray(value)
    path = run_dir / CHECKPOINT_FILE
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:  # a handle: np.savez would append ".npz" to a name
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the rename makes it the checkpoint
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)  # the previous checkpoint stays, whole
        raise
    return path


def read_checkpoint_info(run_dir) -> dict:
    """The JSON header of run_dir's checkpoint (backend, step, update, ...) without loading its
    arrays. Raises FileNotFoundError (naming the file) when there is none."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"run_dir: expected a run folder holding {CHECKPOINT_FILE}, "
                                f"received {str(run_dir)!r} without it", str(path))
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data[_META]))


def load_checkpoint(run_dir, backend: str | None = None) -> tuple[TrainConfig, Checkpoint]:
    """(config from config.json, Checkpoint) of a run folder.

    Raises FileNotFoundError (its `filename` the missing file) when there is no checkpoint
    or no config.json, ValueError when the checkpoint is of another backend or format.
    """
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        legacy = [name for name in _LEGACY if (run_dir / name).is_file()]
        hint = f" (it holds {legacy[0]}, written by an earlier version: train again)" if legacy else ""
        raise FileNotFoundError(errno.ENOENT, f"run_dir: expected a run folder holding {CHECKPOINT_FILE}, "
                                f"received {str(run_dir)!r} without it{hint}", str(path))
    config = load_config(run_dir)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data[_META]))
        groups = {group: {} for group in _GROUPS}
        for key in data.files:
            group, _, name = key.partition("/")
            if group in groups:
                groups[group][name] = data[key]
    if meta.get("format") != FORMAT:
        raise bad_value(str(path), f"checkpoint format {FORMAT}", repr(meta.get("format")))
    if backend is not None and meta.get("backend") != backend:
        raise bad_value("run_dir", f"a {backend} checkpoint", f"one of backend {meta.get('backend')!r}")
    info = {k: v for k, v in meta.items() if k not in ("format", "backend", "step", "update")}
    return config, Checkpoint(meta["backend"], meta["step"], meta["update"], info=info, **groups)


def flatten_tree(tree: dict, prefix: str = "") -> dict:
    """Nested dicts of arrays -> {"a/b/c": numpy array}."""
    out = {}
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(flatten_tree(value, path + "/"))
        else:
            out[path] = np.asarray(value)
    return out


def unflatten_tree(flat: dict) -> dict:
    """{"a/b/c": array} -> nested dicts (the inverse of flatten_tree)."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return tree
