"""CleanRL's layer initialization: orthogonal weights, constant bias, in place."""
from __future__ import annotations

import numpy as np
import torch

from ..spec import bad_type
from ..spec.checks import real_scalar

__all__ = ["layer_init"]


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    """Orthogonal weights scaled by `std` and a constant bias, in place; returns `layer` itself.

    Works for any module with a `weight` of at least 2 dims (Linear, Conv1d/2d/3d, ...);
    conv kernels are orthogonal over their flattened `(out, in * kernel)` view. A layer
    without a bias (`bias=False`) only gets its weight initialized.
    `std` and `bias_const` are real scalars: Python or numpy numbers, or 0-d integer/float
    arrays (numpy, torch, JAX). Raises TypeError when `layer` has no such weight or
    `std`/`bias_const` are not real scalars (bools, complex numbers, arrays with axes).
    """
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        raise bad_type("layer", "a torch module with a weight of 2 or more dims (Linear, Conv...)", layer)
    std, bias_const = real_scalar(std, "std"), real_scalar(bias_const, "bias_const")
    torch.nn.init.orthogonal_(weight, std)
    bias = getattr(layer, "bias", None)
    if isinstance(bias, torch.Tensor):
        torch.nn.init.constant_(bias, bias_const)
    return layer
