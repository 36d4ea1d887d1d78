"""PyTorch implementation of PufferLib's documented `pufferlib.pytorch` API."""
from .dtypes import numpy_to_torch_dtype_dict
from .layers import layer_init
from .nativize import NativeDType, flattened_tensor_size, nativize_dtype, nativize_tensor
from .sampling import entropy, entropy_probs, log_prob, sample_from_uniforms, sample_logits
from .validation import default_validate_args, set_default_validate_args

__all__ = [
    "layer_init", "sample_logits", "log_prob", "entropy", "entropy_probs",
    "nativize_dtype", "nativize_tensor", "flattened_tensor_size", "NativeDType",
    "sample_from_uniforms", "set_default_validate_args", "default_validate_args",
    "numpy_to_torch_dtype_dict",
]
