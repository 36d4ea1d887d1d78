"""The producer side: gymnasium spaces to structured dtypes, and samples packed into flat rows.

This is what PufferLib's emulation does for its users; here it serves users without
PufferLib. Layouts follow PufferLib: `align=True`, Tuple fields named `f0, f1, ...`,
Discrete and MultiDiscrete stored as int32. gymnasium is imported only when a space is used.
"""
from __future__ import annotations

import sys

import numpy as np

from .dtypes import check_element_dtype
from .errors import bad_type, bad_value


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


def _leaf_dtypes(dtype: np.dtype):
    if dtype.fields is not None:
        for sub, *_ in dtype.fields.values():
            yield from _leaf_dtypes(sub)
    else:
        yield dtype.subdtype[0] if dtype.subdtype is not None else dtype


def _sample_of(structured: np.dtype) -> np.dtype:
    found = set(_leaf_dtypes(structured))
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


def _fill(target: np.ndarray, space, value, argument: str) -> None:
    spaces = _gym_spaces()
    if isinstance(space, spaces.Dict):
        if not isinstance(value, dict) or set(value) != set(space.spaces):
            raise bad_value(argument, f"a dict with keys {sorted(space.spaces)}", value)
        for key, sub in space.spaces.items():
            _fill(target[key], sub, value[key], f"{argument}[{key!r}]")
    elif isinstance(space, spaces.Tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(space.spaces):
            raise bad_value(argument, f"a tuple of {len(space.spaces)} items", value)
        for i, (sub, item) in enumerate(zip(space.spaces, value)):
            _fill(target[f"f{i}"], sub, item, f"{argument}[{i}]")
    else:
        array = np.asarray(value)
        if array.shape != target.shape:
            raise bad_value(argument, f"shape {target.shape}", f"shape {array.shape}")
        target[...] = array


def pack_batch(space, samples) -> np.ndarray:
    """Pack a batch of samples (as gymnasium vector envs return them) into `(batch, width)` rows."""
    sample, dtype = emulated_dtypes_of_space(space)  # built once: a space's dtype costs ~10 us
    batch = _batch_size(space, samples)
    rows = np.zeros(batch, dtype=dtype)  # zeros: padding bytes are deterministic
    _fill(rows, space, samples, "samples")  # a plain sub-array dtype gives rows (batch, *shape)
    return rows.reshape(batch, -1).view(sample).reshape(batch, dtype.itemsize // sample.itemsize)


def pack(space, sample) -> np.ndarray:
    """Pack one sample into a flat row of `sample_dtype(space)`, shape `(width,)`."""
    return pack_batch(space, _add_batch_axis(space, sample))[0]


def unpack_batch(space, rows: np.ndarray) -> np.ndarray:
    """Numpy structured view of packed rows (the reference that nativize is tested against)."""
    dtype = structured_dtype(space)
    rows = np.ascontiguousarray(rows)
    raw = rows.view(np.uint8).reshape(rows.shape[0], -1)
    if dtype.fields is None:  # a plain (sub-array) dtype: numpy cannot view rows as it directly
        element, shape = dtype.subdtype if dtype.subdtype is not None else (dtype, ())
        return raw.view(element).reshape(rows.shape[0], *shape)
    return raw.view(dtype)[:, 0]


def _add_batch_axis(space, sample):
    spaces = _gym_spaces()
    if isinstance(space, spaces.Dict):
        return {k: _add_batch_axis(sub, sample[k]) for k, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(_add_batch_axis(sub, item) for sub, item in zip(space.spaces, sample))
    return np.asarray(sample)[None]


def _batch_size(space, samples) -> int:
    spaces = _gym_spaces()
    if isinstance(space, spaces.Dict):
        if not isinstance(samples, dict) or set(samples) != set(space.spaces):
            raise bad_value("samples", f"a dict with keys {sorted(space.spaces)}", samples)
        return _batch_size(next(iter(space.spaces.values())), samples[next(iter(space.spaces))])
    if isinstance(space, spaces.Tuple):
        if not isinstance(samples, (tuple, list)) or len(samples) != len(space.spaces):
            raise bad_value("samples", f"a tuple of {len(space.spaces)} items", samples)
        return _batch_size(space.spaces[0], samples[0])
    array = np.asarray(samples)
    if array.ndim == 0:
        raise bad_value("samples", "a batch with a leading batch axis", array)
    return array.shape[0]
