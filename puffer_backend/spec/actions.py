"""Action specs: what a policy head must output and what the sampled action looks like."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import bad_type, bad_value

__all__ = ["Discrete", "MultiDiscrete", "Continuous", "ActionSpec", "action_spec"]


@dataclass(frozen=True)
class Discrete:
    """One categorical head of `n` actions: logits `(batch, n)`, action `(batch,)` int64."""
    n: int

    def __post_init__(self):
        if not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise bad_value("n", "a positive int", repr(self.n))

    @property
    def head_sizes(self) -> tuple[int, ...]:
        return (int(self.n),)

    @property
    def logits_width(self) -> int:
        return int(self.n)

    @property
    def action_shape(self) -> tuple[int, ...]:
        return ()

    action_dtype = np.dtype(np.int64)


@dataclass(frozen=True)
class MultiDiscrete:
    """Independent categorical heads: a tuple of logits `(batch, n_i)`, action `(batch, heads)` int64."""
    nvec: tuple[int, ...]

    def __post_init__(self):
        nvec = tuple(int(n) for n in np.asarray(self.nvec).reshape(-1))
        if not nvec or min(nvec) < 1:
            raise bad_value("nvec", "a non-empty sequence of positive ints", repr(self.nvec))
        object.__setattr__(self, "nvec", nvec)

    @property
    def head_sizes(self) -> tuple[int, ...]:
        return self.nvec

    @property
    def logits_width(self) -> int:
        return sum(self.nvec)

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (len(self.nvec),)

    action_dtype = np.dtype(np.int64)

    def split_points(self) -> list[int]:
        """Where to split one flat `(batch, logits_width)` output into the heads."""
        return list(np.cumsum(self.nvec)[:-1])


@dataclass(frozen=True)
class Continuous:
    """A diagonal Normal over `shape`: action `(batch, prod(shape))` float32."""
    shape: tuple[int, ...]

    def __post_init__(self):
        shape = tuple(int(s) for s in np.atleast_1d(np.asarray(self.shape, dtype=np.int64)))
        if any(s < 1 for s in shape):
            raise bad_value("shape", "positive dimensions", repr(self.shape))
        object.__setattr__(self, "shape", shape)

    @property
    def logits_width(self) -> int:
        """Width of the mean head (the log-std is a separate parameter, as in CleanRL)."""
        return int(np.prod(self.shape))

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.logits_width,)

    action_dtype = np.dtype(np.float32)


ActionSpec = Discrete | MultiDiscrete | Continuous


def action_spec(space) -> ActionSpec:
    """The action spec of a gymnasium action space (Discrete, MultiDiscrete, MultiBinary, Box)."""
    import gymnasium.spaces as spaces
    if isinstance(space, spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        return MultiDiscrete(tuple(space.nvec.reshape(-1)))
    if isinstance(space, spaces.MultiBinary):
        return MultiDiscrete((2,) * int(np.prod(space.shape)))
    if isinstance(space, spaces.Box):
        return Continuous(space.shape)
    raise bad_type("space", "a gymnasium Discrete, MultiDiscrete, MultiBinary or Box action space", space)
