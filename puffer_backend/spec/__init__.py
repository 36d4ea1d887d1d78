"""Backend-agnostic spec layer (numpy only): dtypes, layouts, action specs, the sampling rule."""
from .actions import ActionSpec, Continuous, Discrete, MultiDiscrete, action_spec
from .dtypes import (SUPPORTED_DTYPE_NAMES, SUPPORTED_DTYPES, DtypeDict, check_element_dtype, compute_dtype_name,
                     derive_dtype_dict)
from .errors import BadArgumentError, BadTypeError, BadValueError, bad_type, bad_value
from .layout import (Leaf, NativeDType, emulated_sample_dtype, flattened_tensor_size, leaves, nativize_dtype,
                     row_width)
from .names import BACKEND_NAMES
from .sampling import categorical_from_uniform, normal_from_uniform
from .spaces import pack, pack_batch, row_elements, sample_dtype, structured_dtype, unpack_batch

__all__ = [
    "ActionSpec", "Continuous", "Discrete", "MultiDiscrete", "action_spec",
    "SUPPORTED_DTYPE_NAMES", "SUPPORTED_DTYPES", "DtypeDict", "check_element_dtype", "compute_dtype_name",
    "derive_dtype_dict",
    "BadArgumentError", "BadTypeError", "BadValueError", "bad_type", "bad_value",
    "Leaf", "NativeDType", "emulated_sample_dtype", "flattened_tensor_size", "leaves", "nativize_dtype", "row_width",
    "BACKEND_NAMES",
    "categorical_from_uniform", "normal_from_uniform",
    "pack", "pack_batch", "row_elements", "sample_dtype", "structured_dtype", "unpack_batch",
]
