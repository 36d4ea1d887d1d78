"""PyTorch implementation of PufferLib's documented `pufferlib.pytorch` API.

`__all__` is the documented API. PufferLib 2.0/3.0's other names (`_nativize_dtype`,
`round_to`, `compilable_cast`, `LSTM`, ...) are attributes too, for code that imports them
through `pufferlib.pytorch` (see `pufferlib_compat` and `pufferlib_modules`).
"""
from .dtypes import numpy_to_torch_dtype_dict
from .layers import layer_init
from .nativize import NativeDType, flattened_tensor_size, nativize_dtype, nativize_tensor
from .pufferlib_compat import (LITTLE_BYTE_ORDER, NativeDTypeValue, _flattened_tensor_size, _nativize_dtype,  # noqa: F401
                               _nativize_tensor, compilable_cast, cycle_selector, deterministic_action,
                               nativize_observation, round_to)
from .pufferlib_modules import LSTM, BatchFirstLSTM, PolicyPool  # noqa: F401
from .sampling import entropy, entropy_probs, log_prob, sample_from_uniforms, sample_logits
from .validation import default_validate_args, set_default_validate_args

__all__ = [
    "layer_init", "sample_logits", "log_prob", "entropy", "entropy_probs",
    "nativize_dtype", "nativize_tensor", "flattened_tensor_size", "NativeDType",
    "sample_from_uniforms", "set_default_validate_args", "default_validate_args",
    "numpy_to_torch_dtype_dict",
]
