"""numpy -> torch dtype table, derived from the spec's one list of supported dtypes."""
from __future__ import annotations

import numpy as np
import torch

from ..spec import check_element_dtype, derive_dtype_dict

__all__ = ["numpy_to_torch_dtype_dict", "to_torch_dtype"]

# Keyed by np.dtype; `[np.float32]` and `["float32"]` work too (spec.dtypes.DtypeDict).
numpy_to_torch_dtype_dict: dict[np.dtype, torch.dtype] = derive_dtype_dict(lambda name: getattr(torch, name))

_TORCH_DTYPES = frozenset(numpy_to_torch_dtype_dict.values())


def to_torch_dtype(dtype, argument: str = "dtype") -> torch.dtype:
    """A supported torch dtype from a torch dtype or anything numpy reads as a dtype.

    Raises TypeError/ValueError naming `argument` for unknown or big-endian dtypes.
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in _TORCH_DTYPES:
            from ..spec import SUPPORTED_DTYPE_NAMES, bad_value
            raise bad_value(argument, f"one of torch.{', torch.'.join(SUPPORTED_DTYPE_NAMES)}", f"dtype {dtype}")
        return dtype
    return numpy_to_torch_dtype_dict[check_element_dtype(dtype, argument)]
