"""The interface each backend adapter implements. Tests hold numpy truths; adapters only
translate numpy in and out and smooth over the one real API difference (JAX's explicit key).
Backend-specific behaviour that has no twin stays out of this interface and out of the suite."""
from __future__ import annotations

import contextlib

import numpy as np


class Adapter:
    name: str = ""
    api = None  # the backend module: puffer_backend.torch_impl or puffer_backend.jax_impl
    dtype_dict: dict = {}

    # -- arrays ---------------------------------------------------------------
    def array(self, value: np.ndarray, dtype: str | None = None):
        """Backend array from numpy (bit-exact, same dtype unless `dtype` names another, e.g. 'bfloat16')."""
        raise NotImplementedError

    def numpy(self, value) -> np.ndarray:
        """Numpy copy of a backend array (bfloat16 widened to float32)."""
        raise NotImplementedError

    def dtype_name(self, value) -> str:
        raise NotImplementedError

    def shares_memory(self, a, b) -> bool:
        """True when two backend arrays view the same buffer (None when the backend cannot tell)."""
        raise NotImplementedError

    def foreign_array(self, value: np.ndarray):
        """The same values as the *other* framework's array (a JAX array for torch, a torch
        tensor for JAX); skips the test when that framework is not installed."""
        raise NotImplementedError

    # the exchange function that a foreign array must be converted with, named in the error
    convert_with: str = ""

    def can_hold(self, dtype: np.dtype) -> bool:
        """Whether the backend holds arrays of `dtype` in its current configuration (JAX with x64 off
        does not hold 64-bit dtypes: such input must raise a ValueError naming jax_enable_x64)."""
        raise NotImplementedError

    # -- sampling ---------------------------------------------------------------
    def normal(self, loc, scale):
        """The backend's Normal distribution object from backend arrays."""
        raise NotImplementedError

    def sample_logits(self, logits, action=None, *, seed: int = 0, **kwargs):
        """`api.sample_logits` with randomness from `seed` (a generator in torch, a key in JAX)."""
        raise NotImplementedError

    def sample_from_uniforms(self, logits, uniforms, **kwargs):
        return self.api.sample_from_uniforms(logits, uniforms, **kwargs)

    @contextlib.contextmanager
    def values_unchecked(self):
        """The backend's value checks off (`set_default_validate_args(False)`), then restored."""
        old = self.api.default_validate_args()
        self.api.set_default_validate_args(False)
        try:
            yield
        finally:
            self.api.set_default_validate_args(old)

    # -- autodiff and compilation -------------------------------------------------
    def grad(self, fn, *args) -> list[np.ndarray]:
        """Gradients of `fn(*args).sum()` with respect to every float arg, as numpy."""
        raise NotImplementedError

    def with_grad(self, fn, *args) -> list[np.ndarray]:
        """The outputs of `fn(*args)` (a tuple of float arrays) computed while autodiff records
        every float arg, also inside tuples of heads (torch: leaves that require grad; JAX: the
        primal outputs of `jax.vjp`, outside jit), as numpy."""
        raise NotImplementedError

    def compiled(self, fn):
        """`fn` under the backend's compiler (torch.compile(fullgraph=True) / jax.jit)."""
        raise NotImplementedError

    # -- layers ---------------------------------------------------------------
    def init_linear(self, in_features: int, out_features: int, *, seed: int = 0, bias: bool = True,
                    **kwargs) -> dict[str, np.ndarray]:
        """`layer_init` on a fresh linear layer; returns {'weight': (out, in), 'bias': (out,)} as numpy."""
        raise NotImplementedError
