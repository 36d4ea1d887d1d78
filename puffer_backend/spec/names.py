"""Public names every backend exports (besides its own dtype dict and framework extras)."""

__all__ = ["BACKEND_NAMES", "TORCH_ONLY", "JAX_ONLY"]

BACKEND_NAMES: tuple[str, ...] = (
    "layer_init", "sample_logits", "log_prob", "entropy", "entropy_probs",
    "nativize_dtype", "nativize_tensor", "flattened_tensor_size", "NativeDType",
    "sample_from_uniforms", "set_default_validate_args", "default_validate_args",
)
# Backend-only extras, named so the export test can tell them from drift.
TORCH_ONLY: tuple[str, ...] = ("numpy_to_torch_dtype_dict",)
JAX_ONLY: tuple[str, ...] = ("numpy_to_jax_dtype_dict", "Normal", "orthogonal")
