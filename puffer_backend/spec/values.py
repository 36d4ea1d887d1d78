"""Refuse values that storing into a leaf would change, instead of letting numpy cast them.

numpy's assignment casts silently: 300 into a uint8 leaf becomes 44, 2.5 into an int32 leaf
becomes 2, NaN becomes -2147483648. `checked_leaf_values` runs on each leaf before packing,
with whole-array reductions (a min and a max per leaf, per element of the sample for
MultiDiscrete), so packing a batch stays cheap.

The rules, by the leaf's dtype:
- integer leaf: values must be whole numbers (bool, integers, or floats with no fraction),
  finite, inside the dtype's range and inside the space's own bounds when it has them
  (Discrete, MultiDiscrete, MultiBinary).
- float leaf: any bool, integer or float. Narrowing rounds to the nearest representable
  value (float64 -> float32, or int64 -> float32 above 2**24), the cast users expect; a
  finite value that would overflow to infinity is refused. NaN and infinities are kept.
Box bounds (`low`/`high`) are not enforced: the stored value is the value given.
"""
from __future__ import annotations

import numpy as np

from .errors import bad_type, bad_value

__all__ = ["Bounds", "checked_leaf_values"]

_NUMBER_KINDS = "biuf"  # bool, signed, unsigned, float


class Bounds:
    """Inclusive integer bounds of a space's values (scalars, or arrays of the sample's shape).

    `describe()` builds the text for an error message, only when one is raised.
    """

    def __init__(self, low, high, describe):
        self.low, self.high, self.describe = low, high, describe
        self.per_element = np.ndim(low) > 0
        # Python ints: a batch inside [low_max, high_min] is inside every element's bounds.
        self.low_min, self.low_max = int(np.min(low)), int(np.max(low))
        self.high_min, self.high_max = int(np.min(high)), int(np.max(high))

    def within(self, info) -> bool:
        """Whether every value inside the bounds also fits the integer dtype `info` describes."""
        return info.min <= self.low_min and self.high_max <= info.max

    def outside(self, array: np.ndarray, low, high) -> bool:
        """Whether some value of `array` (batch first; `low`/`high` its extremes) is out of bounds."""
        if low >= self.low_max and high <= self.high_min:
            return False
        if not self.per_element:
            return True
        return bool(np.any(array.min(axis=0) < self.low) or np.any(array.max(axis=0) > self.high))


def _first(mask: np.ndarray, array: np.ndarray, batched: bool) -> str:
    """'VALUE at index I' for the first True of `mask` (I without the batch axis for one sample)."""
    found = np.argwhere(mask)
    if len(found) == 0:  # float extremes that a float comparison rounds into range: name the extremes
        return f"values from {array.min().item()!r} to {array.max().item()!r}"
    index = tuple(int(i) for i in found[0])
    value = array[index].item()
    shown = index if batched else index[1:]
    return f"{value!r} at index {shown}" if shown else repr(value)


def _check_integers(array: np.ndarray, dtype: np.dtype, argument: str, bounds: Bounds | None,
                    batched: bool) -> None:
    is_float = array.dtype.kind == "f"
    fits_dtype = np.can_cast(array.dtype, dtype, "safe")  # e.g. uint8 into uint8: no reduction needed
    if bounds is None and fits_dtype and not is_float:
        return
    low, high = array.min(), array.max()
    if is_float:
        if not (np.isfinite(low) and np.isfinite(high)):  # NaN propagates through min and max
            raise bad_value(argument, f"finite whole numbers for a {dtype} leaf",
                            _first(~np.isfinite(array), array, batched))
        fraction = array != np.trunc(array)
        if fraction.any():
            raise bad_value(argument, f"whole numbers for a {dtype} leaf (storing would drop the fraction)",
                            _first(fraction, array, batched))
    info = np.iinfo(dtype)
    if bounds is not None:
        if bounds.outside(array, low, high):
            mask = (array < bounds.low) | (array > bounds.high)
            raise bad_value(argument, f"values in {bounds.describe()}", _first(mask, array, batched))
        fits_dtype = fits_dtype or bounds.within(info)
    if not fits_dtype and (low.item() < info.min or high.item() > info.max):  # Python numbers: exact
        mask = (array < info.min) | (array > info.max)
        raise bad_value(argument, f"integers in [{info.min}, {info.max}], the range of a {dtype} leaf",
                        _first(mask, array, batched))


def _check_float_range(array: np.ndarray, dtype: np.dtype, argument: str, batched: bool) -> None:
    """A narrower float leaf rounds; a finite value that would round to infinity is refused."""
    info = np.finfo(dtype)
    # Round-to-nearest overflows from max + half an ulp of max on (ties go to infinity).
    limit = float(info.max) + float(info.max - np.nextafter(info.max, dtype.type(0))) / 2
    low, high = array.min().item(), array.max().item()
    if -limit < low and high < limit:  # finite and in range (NaN compares False: slow path)
        return
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(array) & (np.abs(array) >= limit)
    if mask.any():
        raise bad_value(argument, f"values within +-{float(info.max):.4g}, the range of a {dtype} leaf",
                        _first(mask, array, batched))


def checked_leaf_values(array: np.ndarray, dtype: np.dtype, argument: str, bounds: Bounds | None = None,
                        batched: bool = True) -> np.ndarray:
    """`array` (a leaf's values, batch axis first) ready to be stored as `dtype` unchanged.

    Returns the array to assign (numpy's assignment then casts it, exactly). Raises
    TypeError for non-numeric values and ValueError naming `argument`, the expected range
    and the first offending value with its index. Empty arrays pass.
    """
    if array.dtype.kind not in _NUMBER_KINDS:
        raise bad_type(argument, "bool, integer or float values", array)
    if array.size == 0:
        return array
    if dtype.kind in "iu":
        _check_integers(array, dtype, argument, bounds, batched)
    elif array.dtype.kind == "f" and array.dtype.itemsize > dtype.itemsize:
        _check_float_range(array, dtype, argument, batched)
    return array
