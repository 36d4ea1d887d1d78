"""CleanRL's layer initialization: orthogonal weights, constant bias, in place."""
from __future__ import annotations

import numbers

import numpy as np
import torch

from ..spec import bad_type

__all__ = ["layer_init"]


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    """Orthogonal weights scaled by `std` and a constant bias, in place; returns `layer` itself.

    Works for any module with a `weight` of at least 2 dims (Linear, Conv1d/2d/3d, ...);
    conv kernels are orthogonal over their flattened `(out, in * kernel)` view. A layer
    without a bias (`bias=False`) only gets its weight initialized.
    Raises TypeError when `layer` has no such weight or `std`/`bias_const` are not real numbers.
    """
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        raise bad_type("layer", "a torch module with a weight of 2 or more dims (Linear, Conv...)", layer)
    for name, value in (("std", std), ("bias_const", bias_const)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise bad_type(name, "a real number", value)
    torch.nn.init.orthogonal_(weight, float(std))
    bias = getattr(layer, "bias", None)
    if isinstance(bias, torch.Tensor):
        torch.nn.init.constant_(bias, float(bias_const))
    return layer
