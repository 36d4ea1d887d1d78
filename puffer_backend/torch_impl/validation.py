"""Input checks for the sampling functions. They read only shapes and dtypes (static under
torch.compile), except the action range check, which reads values and therefore runs only
on CPU tensors outside compilation, or on any device when `CHECK_DEVICE_ACTIONS` is set."""
from __future__ import annotations

import torch

from ..spec import bad_type, bad_value
from ..spec.checks import check_any_logits_shape, check_heads_batch, check_logits_shape, check_mask_shape

__all__ = ["CHECK_DEVICE_ACTIONS", "compute_dtype", "check_logits", "check_heads", "check_mask",
           "check_integer_action", "check_action_range", "check_is_continuous", "values_checked"]

# Range-checking actions on CUDA costs a device->host sync per call; off by default.
CHECK_DEVICE_ACTIONS = False

_HALF = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types (log-probs and entropies are never computed in 16 bits)."""
    return torch.float32 if dtype in _HALF else dtype


def check_logits(logits, argument: str = "logits", *, leading_axes: bool = False) -> None:
    """A float tensor `(batch, n)`; `(..., n)` with `leading_axes` (log_prob, entropy)."""
    if not isinstance(logits, torch.Tensor):
        raise bad_type(argument, "a torch.Tensor", logits)
    if not logits.is_floating_point():
        raise bad_type(argument, "a floating-point tensor", logits)
    (check_any_logits_shape if leading_axes else check_logits_shape)(logits.shape, argument)


def check_heads(heads, argument: str = "logits") -> int:
    """A non-empty tuple/list of 2-D float tensors with one batch size; returns the batch."""
    if len(heads) == 0:
        raise bad_value(argument, "a non-empty tuple or list of logits tensors", "an empty sequence")
    for i, head in enumerate(heads):
        check_logits(head, f"{argument}[{i}]")
    return check_heads_batch([h.shape for h in heads], argument)


def check_mask(mask, logits_shape, argument: str = "mask") -> None:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise bad_type(argument, "a boolean torch.Tensor (True = allowed)", mask)
    check_mask_shape(mask.shape, logits_shape, argument)


def check_integer_action(action, argument: str = "action") -> None:
    if not isinstance(action, torch.Tensor):
        raise bad_type(argument, "a torch.Tensor of integer actions", action)
    if action.is_floating_point() or action.is_complex() or action.dtype == torch.bool:
        raise bad_type(argument, "an integer tensor", action)


def values_checked(tensor: torch.Tensor) -> bool:
    """Whether `check_action_range` reads this tensor's values (eager, and CPU or the switch on)."""
    if torch.compiler.is_compiling():
        return False  # .item() would break the graph
    return tensor.device.type == "cpu" or CHECK_DEVICE_ACTIONS


def check_action_range(action: torch.Tensor, sizes, argument: str = "action") -> None:
    """`action[..., i]` in [0, sizes[i]) (sizes: one int for every column, or one per column)."""
    if action.numel() == 0 or not values_checked(action):
        return
    if isinstance(sizes, int):
        low, high = torch.aminmax(action)
        bad = bool(low < 0) or bool(high >= sizes)
        expected = f"actions in [0, {sizes})"
    else:
        limits = torch.tensor(sizes, dtype=action.dtype, device=action.device)
        bad = bool(((action < 0) | (action >= limits)).any())
        expected = f"actions in [0, n) for head sizes {tuple(sizes)}"
    if bad:
        low, high = int(action.min()), int(action.max())
        raise bad_value(argument, expected, f"values from {low} to {high}")


def check_is_continuous(is_continuous, continuous_input: bool) -> None:
    if is_continuous is None:
        return
    if not isinstance(is_continuous, bool):
        raise bad_type("is_continuous", "None or a bool", is_continuous)
    if is_continuous != continuous_input:
        got = "a torch.distributions.Normal" if continuous_input else "discrete logits"
        want = "a torch.distributions.Normal" if is_continuous else "logits (a tensor or a tuple of tensors)"
        raise bad_value("is_continuous", f"{is_continuous} to come with {want}", f"{got}")
