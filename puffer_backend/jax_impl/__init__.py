"""JAX implementation of PufferLib's `pufferlib.pytorch` API, PureJaxRL style.

Functional and explicit about randomness: `sample_logits(key, logits, ...)`, `layer_init`
returns new params. Everything works under `jax.jit`, `vmap` and `grad`, and keeps a
batch sharding. Imports only JAX (and numpy).
"""
from ..spec.names import BACKEND_NAMES, JAX_ONLY
from .distributions import Normal
from .dtypes import numpy_to_jax_dtype_dict
from .layers import layer_init, orthogonal
from .nativize import NativeDType, flattened_tensor_size, nativize_dtype, nativize_tensor
from .sampling import entropy, entropy_probs, log_prob, sample_from_uniforms, sample_logits
from .validation import default_validate_args, set_default_validate_args

__all__ = [
    "layer_init", "sample_logits", "log_prob", "entropy", "entropy_probs",
    "nativize_dtype", "nativize_tensor", "flattened_tensor_size", "NativeDType",
    "sample_from_uniforms", "set_default_validate_args", "default_validate_args",
    "numpy_to_jax_dtype_dict", "Normal", "orthogonal",
]
assert tuple(__all__) == (*BACKEND_NAMES, *JAX_ONLY), "jax_impl exports drifted from spec.names"
