"""PufferLib 3.0's observation emulation, rewritten from its rules for tests (numpy only).

The rules, as `pufferlib/emulation.py` of the PufferLib 3.0.0 release applies them:
- the structured dtype mirrors the space, `align=True` at every level: Dict fields in the
  space's key order, Tuple fields named `f0, f1, ...`; a Discrete leaf is `int32` (a scalar),
  a MultiDiscrete leaf `int32` with `len(nvec)` elements, any other leaf `(space.dtype, space.shape)`;
- the flat rows' dtype is the gymnasium leaves' common `space.dtype`, else uint8. It is read
  from the spaces, not from the structured dtype: Discrete's gymnasium dtype is int64, so a
  Box float32 + Discrete space has uint8 rows, and an int32 Box + Discrete one has uint8 rows too;
- a row has `structured.itemsize // rows_dtype.itemsize` elements; the env writes each agent's
  sample into `rows.view(structured)[agent]`, field by field;
- `env.emulated` is `dict(observation_dtype=..., emulated_observation_dtype=...)` (PufferLib 2
  used an attribute object with the same names).
"""
from __future__ import annotations

import types

import gymnasium as gym
import numpy as np

S = gym.spaces


def structured_dtype(space) -> np.dtype:
    """The structured dtype that holds one sample of a Dict/Tuple `space`."""
    if isinstance(space, S.Dict):
        return np.dtype([(key, structured_dtype(sub)) for key, sub in space.spaces.items()], align=True)
    if isinstance(space, S.Tuple):
        return np.dtype([(f"f{i}", structured_dtype(sub)) for i, sub in enumerate(space.spaces)], align=True)
    if isinstance(space, S.Discrete):
        return np.dtype(np.int32)
    if isinstance(space, S.MultiDiscrete):
        return np.dtype((np.int32, (len(space.nvec),)))
    return np.dtype((space.dtype, space.shape))


def leaf_spaces(space) -> list:
    """The leaf spaces in field order."""
    if isinstance(space, S.Dict):
        return [leaf for sub in space.spaces.values() for leaf in leaf_spaces(sub)]
    if isinstance(space, S.Tuple):
        return [leaf for sub in space.spaces for leaf in leaf_spaces(sub)]
    return [space]


def rows_dtype(space) -> np.dtype:
    """The flat rows' element dtype: the leaves' common gymnasium dtype, else uint8."""
    dtypes = {np.dtype(leaf.dtype) for leaf in leaf_spaces(space)}
    return dtypes.pop() if len(dtypes) == 1 else np.dtype(np.uint8)


def row_width(space) -> int:
    return structured_dtype(space).itemsize // rows_dtype(space).itemsize


def emulated(space, as_attributes: bool = False):
    """`env.emulated` for `space`: PufferLib 3's dict, or PufferLib 2's attribute object."""
    fields = dict(observation_dtype=rows_dtype(space), emulated_observation_dtype=structured_dtype(space))
    return types.SimpleNamespace(**fields) if as_attributes else fields


def observation_space(space) -> gym.spaces.Box:
    """The flat Box the emulated env exposes as `single_observation_space`."""
    dtype = rows_dtype(space)
    if np.issubdtype(dtype, np.integer):
        low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
    else:
        low, high = np.finfo(np.float32).min, np.finfo(np.float32).max
    return gym.spaces.Box(low=low, high=high, shape=(row_width(space),), dtype=dtype)


def write_sample(struct, sample) -> None:
    """Store one sample into its structured slot (dicts by key, tuples by `f{i}`)."""
    if isinstance(sample, dict):
        for key, value in sample.items():
            write_sample(struct[key], value)
    elif isinstance(sample, tuple):
        for i, value in enumerate(sample):
            write_sample(struct[f"f{i}"], value)
    else:
        struct[()] = sample


def pack_rows(space, samples) -> np.ndarray:
    """`(len(samples), row_width)` rows of `rows_dtype(space)`, one sample per agent."""
    rows = np.zeros((len(samples), row_width(space)), dtype=rows_dtype(space))
    struct = rows.view(structured_dtype(space))  # (agents, 1)
    for agent, sample in enumerate(samples):
        write_sample(struct[agent], sample)
    return rows
