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
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..spec.errors import BadValueError, bad_value, one_line
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
    arrays. Raises FileNotFoundError (naming the file) when there is none, BadValueError when
    the file is damaged (as load_checkpoint)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"run_dir: expected a run folder holding {CHECKPOINT_FILE}, "
                                f"received {str(run_dir)!r} without it", str(path))
    return _read(path, arrays=False)[0]


def _read(path: Path, *, arrays: bool) -> tuple[dict, dict]:
    """(header, {group: {name: array}}) of the checkpoint file at `path` (groups empty unless
    `arrays`). Every way a file can be broken (empty, truncated, random bytes, a plain .npy,
    a member or a header key missing) is a one-line BadValueError naming the file."""
    groups = {group: {} for group in _GROUPS}
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise _broken(path, f"a single .npy array of shape {np.shape(data)}, not an archive")
        with data:
            if _META not in data.files:
                raise _broken(path, f"an archive without its header {_META}")
            meta = json.loads(str(data[_META]))
            if arrays:
                for key in data.files:
                    group, _, name = key.partition("/")
                    if group in groups:
                        groups[group][name] = data[key]
    except (EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise _broken(path, f"a truncated, empty or damaged file ({type(error).__name__}: {one_line(str(error))})") from None
    except ValueError as error:
        if isinstance(error, BadValueError):
            raise
        # numpy takes bytes that are neither .npz nor .npy for a pickle, refuses it
        # (allow_pickle=False) and suggests loading it unsafely: not advice for a checkpoint.
        what = ("a file that is not a numpy archive (unknown bytes)" if "pickle" in str(error)
                else f"a damaged file ({one_line(str(error))})")
        raise _broken(path, what) from None
    if not isinstance(meta, dict):
        raise _broken(path, f"a header that is not a JSON object ({type(meta).__name__})")
    for key, kind, what in (("backend", str, "a str"), ("step", int, "an int"), ("update", int, "an int")):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise _broken(path, f"a header without {what} {key!r}")
    return meta, groups


def _broken(path: Path, received: str):
    return bad_value(str(path), "a checkpoint written by puffer-backend (a numpy .npz archive with its header)",
                     received)


def load_checkpoint(run_dir, backend: str | None = None) -> tuple[TrainConfig, Checkpoint]:
    """(config from config.json, Checkpoint) of a run folder.

    Raises FileNotFoundError (its `filename` the missing file) when there is no checkpoint
    or no config.json, BadValueError (one line, naming the file) when the checkpoint is
    damaged (empty, truncated, not an archive, its header missing) or of another backend or
    format. Whether its arrays fit a policy is the pipeline's check when it loads them.
    """
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        legacy = [name for name in _LEGACY if (run_dir / name).is_file()]
        hint = f" (it holds {legacy[0]}, written by an earlier version: train again)" if legacy else ""
        raise FileNotFoundError(errno.ENOENT, f"run_dir: expected a run folder holding {CHECKPOINT_FILE}, "
                                f"received {str(run_dir)!r} without it{hint}", str(path))
    config = load_config(run_dir)
    meta, groups = _read(path, arrays=True)
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
