"""The producer side: gymnasium spaces to structured dtypes, and samples packed into flat rows.

This is what PufferLib's emulation does for its users; here it serves users without
PufferLib. Layouts follow PufferLib 3.0 (`align=True`, Tuple fields named `f0, f1, ...`,
Discrete and MultiDiscrete leaves as int32) with one difference: the rows' dtype is the
stored leaves' common dtype, else uint8 bytes, where PufferLib reads it from the gymnasium
leaves (Discrete: int64); see docs/torch.md, "Where our packing differs from PufferLib's
emulation". Packing refuses values the store would change (`spec.values`).
gymnasium is imported only when a space is used.
"""
from __future__ import annotations

import sys

import numpy as np

from . import trees
from .dtypes import check_element_dtype
from .errors import bad_type, bad_value
from .values import Bounds, checked_leaf_values

__all__ = ["is_gymnasium_space", "structured_dtype", "sample_dtype", "emulated_dtypes_of_space", "row_elements",
           "pack_batch", "pack", "unpack_batch"]


def _gym_spaces():
    import gymnasium.spaces  # lazy: the spec layer must import without it
    return gymnasium.spaces


def is_gymnasium_space(value) -> bool:
    if "gymnasium" not in sys.modules:
        return False
    return isinstance(value, _gym_spaces().Space)


def structured_dtype(space) -> np.dtype:
    """Structured (or plain sub-array) numpy dtype that holds one sample of `space`."""
    spaces = _gym_spaces()
    if isinstance(space, spaces.Dict):
        return np.dtype([(key, structured_dtype(sub)) for key, sub in space.spaces.items()], align=True)
    if isinstance(space, spaces.Tuple):
        return np.dtype([(f"f{i}", structured_dtype(sub)) for i, sub in enumerate(space.spaces)], align=True)
    if isinstance(space, spaces.Discrete):
        return np.dtype((np.int32, ()))
    if isinstance(space, spaces.MultiDiscrete):
        return np.dtype((np.int32, space.nvec.shape))
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return np.dtype((check_element_dtype(space.dtype, "space.dtype"), space.shape))
    raise bad_type("space", "a gymnasium Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple", space)


def _dtype_children(dtype: np.dtype):
    """A structured dtype's (field name, field dtype) pairs for `trees.leaves`; None for a leaf."""
    return None if dtype.fields is None else [(name, sub) for name, (sub, *_) in dtype.fields.items()]


def _space_children(space):
    """A Dict or Tuple space's (field name, sub-space) pairs for `trees.leaves` (Tuple fields are
    named f0, f1, ... as in the structured dtype); None for a leaf space."""
    spaces = _gym_spaces()
    if isinstance(space, spaces.Dict):
        return space.spaces.items()
    if isinstance(space, spaces.Tuple):
        return [(f"f{i}", sub) for i, sub in enumerate(space.spaces)]
    return None


def _sample_of(structured: np.dtype) -> np.dtype:
    found = {leaf.subdtype[0] if leaf.subdtype is not None else leaf
             for _, leaf in trees.leaves(structured, _dtype_children)}
    return found.pop() if len(found) == 1 else np.dtype(np.uint8)


def sample_dtype(space) -> np.dtype:
    """Element dtype of the flat rows: the leaves' common dtype, else uint8 bytes."""
    return _sample_of(structured_dtype(space))


def emulated_dtypes_of_space(space) -> tuple[np.dtype, np.dtype]:
    structured = structured_dtype(space)
    return _sample_of(structured), structured


def row_elements(space) -> int:
    """Width of one flat row, in elements of `sample_dtype(space)`."""
    sample, structured = emulated_dtypes_of_space(space)
    return structured.itemsize // sample.itemsize


def _leaf_shape(space) -> tuple:
    """Shape of one sample of a leaf space (what its structured field holds)."""
    return tuple(space.nvec.shape) if isinstance(space, _gym_spaces().MultiDiscrete) else tuple(space.shape)


def _bounds(space) -> Bounds | None:
    """The valid values of a leaf space, as gymnasium defines them (None: only the dtype's range)."""
    spaces = _gym_spaces()
    if isinstance(space, spaces.Discrete):
        start, n = int(space.start), int(space.n)
        return Bounds(start, start + n - 1, lambda: f"[{start}, {start + n}) for Discrete({n}, start={start})")
    if isinstance(space, spaces.MultiDiscrete):
        start = np.asarray(space.start, dtype=np.int64)
        return Bounds(start, start + space.nvec - 1,
                      lambda: (f"[start, start + nvec) element-wise for MultiDiscrete "
                               f"(nvec {space.nvec.tolist()}, start {start.tolist()})"))
    if isinstance(space, spaces.MultiBinary):
        return Bounds(0, 1, lambda: "{0, 1} for MultiBinary")
    return None


def _leaves_of(space, value, argument: str, path: tuple, out: list) -> list:
    """[(field path, leaf space, value, argument)]; checks the containers against the space."""
    spaces = _gym_spaces()
    if isinstance(space, spaces.Dict):
        if not isinstance(value, dict) or set(value) != set(space.spaces):
            raise bad_value(argument, f"a dict with keys {sorted(space.spaces)}", value)
        for key, sub in space.spaces.items():
            _leaves_of(sub, value[key], trees.path_name(argument, (key,)), (*path, key), out)
    elif isinstance(space, spaces.Tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(space.spaces):
            raise bad_value(argument, f"a tuple of {len(space.spaces)} items", value)
        for i, (sub, item) in enumerate(zip(space.spaces, value)):
            _leaves_of(sub, item, trees.path_name(argument, (i,)), (*path, f"f{i}"), out)
    else:
        out.append((path, space, np.asarray(value), argument))
    return out


def _batch_size(leaves, argument: str) -> int:
    """The batch size the leaves agree on, or an error that names an unbatched sample."""
    if all(array.shape == _leaf_shape(space) for _, space, array, _ in leaves):
        example = leaves[0]
        raise bad_value(argument, "a batch, every leaf with a leading batch axis (for one sample use "
                                  "spec.pack(space, sample))",
                        f"one unbatched sample ({example[3]} has shape {example[2].shape}, its space's own shape)")
    for _, space, array, _ in leaves:
        if array.ndim == len(_leaf_shape(space)) + 1:
            return array.shape[0]
    _, space, array, name = leaves[0]
    raise bad_value(name, f"shape (batch, *{_leaf_shape(space)})", f"shape {array.shape}")


class _Plan:
    """What packing a space needs besides the values, built once per space (~10 us per leaf)."""

    def __init__(self, space):
        self.space = space
        self.sample, self.structured = emulated_dtypes_of_space(space)
        self.leaves = {path: (leaf, _bounds(leaf)) for path, leaf in trees.leaves(space, _space_children)}

    def matches(self, leaves) -> bool:
        """Whether the space still has the leaf spaces this plan was built from (a Dict space
        can be changed in place)."""
        return len(leaves) == len(self.leaves) and all(
            path == known_path and leaf is known_leaf
            for (path, leaf, _, _), (known_path, (known_leaf, _)) in zip(leaves, self.leaves.items()))


_PLANS: dict[int, _Plan] = {}
_MAX_PLANS = 64


def _plan(space) -> _Plan:
    plan = _PLANS.get(id(space))
    if plan is None or plan.space is not space:  # the plan holds its space, so ids are not reused
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        plan = _PLANS[id(space)] = _Plan(space)
    return plan


def _pack(space, value, argument: str, batched: bool) -> np.ndarray:
    plan = _plan(space)
    leaves = _leaves_of(space, value, argument, (), [])
    if not leaves:
        raise bad_value("space", "a space with at least one Box, Discrete, MultiDiscrete or MultiBinary leaf",
                        space)
    if not plan.matches(leaves):
        plan = _PLANS[id(space)] = _Plan(space)
    sample, dtype = plan.sample, plan.structured
    batch = _batch_size(leaves, argument) if batched else 1
    rows = np.zeros(batch, dtype=dtype)  # zeros: padding bytes are deterministic
    for path, leaf_space, array, name in leaves:
        target = rows
        for key in path:
            target = target[key]  # a plain sub-array dtype gives rows (batch, *shape) directly
        expected = target.shape if batched else target.shape[1:]
        if array.shape != expected:
            hint = ""
            if batched and array.shape == expected[1:]:
                hint = " (one sample without the batch axis?)"
            elif not batched and array.shape[1:] == expected:
                hint = " (a batch? use spec.pack_batch(space, samples))"
            raise bad_value(name, f"shape {expected}", f"shape {array.shape}{hint}")
        if not batched:
            array = array[None]
        target[...] = checked_leaf_values(array, target.dtype, name, plan.leaves[path][1], batched)
    return rows.reshape(batch, -1).view(sample).reshape(batch, dtype.itemsize // sample.itemsize)


def pack_batch(space, samples) -> np.ndarray:
    """Pack a batch of samples (as gymnasium vector envs return them) into `(batch, width)` rows.

    samples: nested like the space (dicts for Dict, tuples for Tuple), each leaf an array with
    a leading batch axis. Returns rows of `sample_dtype(space)`. Values are stored unchanged
    or refused (see `spec.values`): integer leaves take whole numbers inside their dtype's
    range and the space's bounds (Discrete `[start, start + n)`, MultiDiscrete element-wise,
    MultiBinary {0, 1}); float leaves round a wider float. Raises ValueError naming the leaf
    (`samples['pos']`), also when one unbatched sample was passed (use `pack`).
    """
    return _pack(space, samples, "samples", batched=True)


def pack(space, sample) -> np.ndarray:
    """Pack one sample into a flat row of `sample_dtype(space)`, shape `(width,)`.

    Same rules as `pack_batch`; errors name the leaf as `sample['pos']`.
    """
    return _pack(space, sample, "sample", batched=False)[0]


def unpack_batch(space, rows: np.ndarray) -> np.ndarray:
    """Numpy structured view of packed rows (the reference that nativize is tested against)."""
    dtype = structured_dtype(space)
    rows = np.ascontiguousarray(rows)
    raw = rows.view(np.uint8).reshape(rows.shape[0], -1)
    if dtype.fields is None:  # a plain (sub-array) dtype: numpy cannot view rows as it directly
        element, shape = dtype.subdtype if dtype.subdtype is not None else (dtype, ())
        return raw.view(element).reshape(rows.shape[0], *shape)
    return raw.view(dtype)[:, 0]
