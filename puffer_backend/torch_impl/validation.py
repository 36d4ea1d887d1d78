"""Input checks of torch_impl's sampling functions, name for name those of jax_impl/validation.py.

`spec.sampling_inputs` decides what is checked, in which order and with which shape
messages; these functions answer what only torch can tell (a tensor? floating? a
torch.distributions.Normal? values in range?). They read only shapes and dtypes (static
under torch.compile), except the value checks (logits with a distribution, action ranges, a
Normal's loc and scale), which read values and therefore run only outside compilation while
`set_default_validate_args(True)`, on CPU tensors, or on any device when
`CHECK_DEVICE_ACTIONS` is set (`values_checked`). torch-only checks come last: the
`generator` and PufferLib 2's `is_continuous` flag.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..spec import bad_type, bad_value
from ..spec import checks
from ..spec.checks import bad_array_type
from ..spec.dtypes import compute_dtype_name

__all__ = ["CHECK_DEVICE_ACTIONS", "set_default_validate_args", "default_validate_args", "check_logit_values",
           "check_normal_loc", "compute_dtype", "check_float", "check_logits", "check_sample_logits", "check_heads",
           "check_mask", "check_head_masks", "check_integer_action", "values_checked", "check_action_range",
           "check_action", "check_normal_action", "check_uniforms", "is_normal", "check_normal_parts",
           "check_normal_scale", "check_deterministic", "check_generator", "check_is_continuous"]

# Range-checking actions (and a Normal's scale) on CUDA costs a device->host sync per call; off by default.
CHECK_DEVICE_ACTIONS = False
_VALIDATE_ARGS = [True]  # the value checks' switch (set_default_validate_args)


def set_default_validate_args(value: bool) -> None:
    """Turn the checks that read values on (the default) or off: logits without a distribution
    (NaN, +inf, no finite allowed entry), action ranges, a Normal's loc and scale. Off, such
    input gives what it gives under torch.compile (docs/backends.md, "Non-finite logits"):
    for hot paths that cannot afford a reduction per call. Shapes and dtypes are always checked."""
    if not isinstance(value, bool):
        raise bad_type("value", "a bool", value)
    _VALIDATE_ARGS[0] = value


def default_validate_args() -> bool:
    """Whether the value checks are on (`set_default_validate_args`)."""
    return _VALIDATE_ARGS[0]


def _compute_dtype_of(dtype: torch.dtype) -> torch.dtype:
    return getattr(torch, compute_dtype_name(str(dtype).removeprefix("torch.")))


# The table's floats, looked up without string work (and traced as constants by torch.compile).
_COMPUTE_DTYPES = {dtype: _compute_dtype_of(dtype) for dtype in (torch.float16, torch.bfloat16, torch.float32,
                                                                 torch.float64)}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype log-probabilities and entropies are computed and returned in, for float logits
    of `dtype`: the spec's rule (`spec.dtypes.compute_dtype_name`): float32 for half types,
    float64 stays float64."""
    known = _COMPUTE_DTYPES.get(dtype)
    return known if known is not None else _compute_dtype_of(dtype)


def check_float(value, argument: str) -> None:
    """A torch.Tensor of a floating dtype (a JAX array is pointed to `exchange.to_torch`)."""
    if not isinstance(value, torch.Tensor):
        raise bad_array_type(argument, "a torch.Tensor", value)
    if not value.is_floating_point():
        raise bad_type(argument, "a floating-point tensor", value)


def check_logits(logits, argument: str = "logits") -> None:
    """A float tensor `(..., n)`, any leading axes (log_prob, entropy, entropy_probs)."""
    check_float(logits, argument)
    checks.check_any_logits_shape(logits.shape, argument)


def check_sample_logits(logits, argument: str = "logits") -> bool:
    """A float tensor `(batch, n)`, or unbatched `(n,)` (returns True for that); what is neither
    a tensor, heads nor a Normal is named with the three (a jax_impl.Normal with the way to
    convert it)."""
    if not isinstance(logits, torch.Tensor):
        expected = "a tensor, a tuple/list of tensors or a torch.distributions.Normal"
        if type(logits).__module__ == "puffer_backend.jax_impl.distributions":  # recognized without importing JAX
            expected += " (convert a jax_impl.Normal's loc and scale with puffer_backend.exchange.to_torch)"
        raise bad_array_type(argument, expected, logits)
    check_float(logits, argument)
    return checks.is_unbatched_logits(logits.shape, argument)


def check_heads(heads, argument: str = "logits") -> int | None:
    """A non-empty tuple/list of float tensors, all `(batch, n_i)` with one batch size (returns
    it) or all unbatched `(n_i,)` (returns None)."""
    for i, head in enumerate(heads):
        check_float(head, f"{argument}[{i}]")
    return checks.check_heads([h.shape for h in heads], argument)


def check_mask(mask, logits_shape, argument: str = "mask") -> None:
    if not isinstance(mask, torch.Tensor):
        raise bad_array_type(argument, "a boolean torch.Tensor (True = allowed)", mask)
    if mask.dtype != torch.bool:
        raise bad_type(argument, "a boolean torch.Tensor (True = allowed)", mask)
    checks.check_mask_shape(mask.shape, logits_shape, argument)


def check_head_masks(mask, heads, argument: str = "mask") -> None:
    """One boolean mask per head, in a tuple or list, each of its head's shape."""
    checks.check_head_masks_container(mask, len(heads), argument)
    for i, (m, h) in enumerate(zip(mask, heads)):
        check_mask(m, h.shape, f"{argument}[{i}]")


def check_integer_action(action, argument: str = "action") -> None:
    if not isinstance(action, torch.Tensor):
        raise bad_array_type(argument, "a torch.Tensor of integer actions", action)
    if action.is_floating_point() or action.is_complex() or action.dtype == torch.bool:
        raise bad_type(argument, "an integer tensor", action)


def values_checked(tensor: torch.Tensor) -> bool:
    """Whether the value checks read this tensor's values: eager, the checks on
    (`set_default_validate_args`), and on CPU or with CHECK_DEVICE_ACTIONS."""
    if torch.compiler.is_compiling():
        return False  # .item() would break the graph
    return _VALIDATE_ARGS[0] and (tensor.device.type == "cpu" or CHECK_DEVICE_ACTIONS)


def check_logit_values(logits: torch.Tensor, mask=None, argument: str = "logits", mask_argument: str = "mask") -> None:
    """Every row `(..., n)` has a distribution (spec.checks.check_logit_rows), where values are read."""
    if logits.numel() == 0 or not values_checked(logits):
        return
    # One reduction decides the common case: a finite sum means every allowed logit is finite
    # (and, with a mask, `any` that every row allows one); the rows are read only when it
    # fails (-inf logits, overflow, or a row to name). .item() and math: torch.isfinite is
    # several ops.
    values = logits.detach()
    if mask is None:
        if math.isfinite(values.sum().item()):
            return
    elif math.isfinite(torch.where(mask, values, 0.0).sum().item()) and bool(mask.any(-1).all()):
        return
    with torch.no_grad():
        rows = values.reshape(-1, values.shape[-1])
        top = rows.amax(-1)  # NaN where a row holds one
        allowed = top if mask is None else torch.where(mask.reshape(rows.shape), rows, float("-inf")).amax(-1)
    checks.check_logit_rows(allowed.double().numpy(), None if mask is None else top.double().numpy(), argument,
                            mask_argument)


def check_action_range(action: torch.Tensor, sizes, argument: str = "action") -> None:
    """`action[..., i]` in [0, sizes[i]) (sizes: one int, or `(n,)`, for every column, or one per
    column)."""
    if action.numel() == 0 or not values_checked(action):
        return
    if isinstance(sizes, int) or len(sizes) == 1:
        low, high = torch.aminmax(action)
        limit = sizes if isinstance(sizes, int) else sizes[0]
        bad = bool(low < 0) or bool(high >= limit)
    else:
        limits = torch.tensor(sizes, dtype=action.dtype, device=action.device)
        bad = bool(((action < 0) | (action >= limits)).any())
    if bad:
        raise checks.action_range_error(argument, sizes, int(action.min()), int(action.max()))


def check_action(action, shape, sizes, argument: str = "action", *, unbatched: bool = False) -> torch.Tensor:
    """A given integer action, returned reshaped to `shape` `(batch,)` (sizes: `(n,)` or one
    int) or `(batch, heads)` (sizes: one per head).

    Batched: any shape of as many elements (PufferLib's `view(batch, -1)`); unbatched (a batch
    of one): exactly `shape[1:]`. Range-checked where `values_checked`."""
    check_integer_action(action, argument)
    checks.check_action_shape(action.shape, shape[1:] if unbatched else shape, argument, batched=not unbatched)
    action = action.reshape(shape)
    check_action_range(action, sizes, argument)
    return action


def check_normal_action(action, shape, *, unbatched: bool = False) -> torch.Tensor:
    """A given continuous action with `prod(shape)` elements (exactly `shape[1:]` unbatched),
    returned reshaped to `shape` `(batch, action_dim)`."""
    check_float(action, "action")
    checks.check_action_shape(action.shape, shape[1:] if unbatched else shape, "action", batched=not unbatched)
    return action.reshape(shape)


def check_uniforms(uniforms, shape, *, unbatched: bool = False) -> torch.Tensor:
    """`sample_from_uniforms`' uniforms: a float tensor with `prod(shape)` elements (exactly
    `shape[1:]` unbatched), returned reshaped to `shape`."""
    check_float(uniforms, "uniforms")
    checks.check_action_shape(uniforms.shape, shape[1:] if unbatched else shape, "uniforms", batched=not unbatched)
    return uniforms.reshape(shape)


def is_normal(logits) -> bool:
    """Whether `logits` is a continuous distribution: a `torch.distributions.Normal`."""
    return isinstance(logits, torch.distributions.Normal)


def check_normal_parts(dist) -> tuple[torch.Tensor, torch.Tensor]:
    """A Normal's `(loc, scale)`, each a float tensor (torch.distributions has broadcast them
    to one shape)."""
    check_float(dist.loc, "logits.loc")
    check_float(dist.scale, "logits.scale")
    return dist.loc, dist.scale


def check_normal_loc(loc: torch.Tensor, argument: str = "logits.loc") -> None:
    """A Normal's loc must be finite; checked where values are read (see `values_checked`)."""
    if loc.numel() == 0 or not values_checked(loc):
        return
    with torch.no_grad():
        finite = bool(torch.isfinite(loc).all())
    if not finite:
        checks.check_finite_values(loc.detach().double().numpy(), argument)


def check_normal_scale(scale: torch.Tensor, argument: str = "logits.scale") -> None:
    """A Normal's scale must be positive and finite; checked where values are read (see
    `values_checked`), whether or not torch.distributions validated its arguments (it lets
    +inf through, and nothing at all with `validate_args=False`, every Normal's default once
    torch.compile has run: https://github.com/pytorch/pytorch/pull/185438). Elsewhere a bad
    scale gives NaN (or infinite) log-probabilities and entropies."""
    if scale.numel() == 0 or not values_checked(scale):
        return
    with torch.no_grad():
        low, high = torch.aminmax(scale)  # a NaN anywhere makes both NaN
    low, high = float(low), float(high)
    if not (low > 0 and high < math.inf):
        raise bad_value(argument, "positive, finite values (a standard deviation)", f"values from {low} to {high}")


def check_deterministic(deterministic) -> bool:
    """A Python (or numpy) bool, returned as a bool."""
    if not isinstance(deterministic, (bool, np.bool_)):
        raise bad_type("deterministic", "a bool", deterministic)
    return bool(deterministic)


# -- torch only -------------------------------------------------------------------------------

def check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise bad_type("generator", "None or a torch.Generator", generator)


def check_is_continuous(is_continuous, continuous_input: bool) -> None:
    if is_continuous is None:
        return
    if not isinstance(is_continuous, bool):
        raise bad_type("is_continuous", "None or a bool", is_continuous)
    if is_continuous != continuous_input:
        got = "a torch.distributions.Normal" if continuous_input else "discrete logits"
        want = "a torch.distributions.Normal" if is_continuous else "logits (a tensor or a tuple of tensors)"
        raise bad_value("is_continuous", f"{is_continuous} to come with {want}", f"{got}")
