"""Input checks of jax_impl's functions, name for name those of torch_impl/validation.py.

`spec.sampling_inputs` decides what the sampling functions check, in which order and with
which shape messages; these functions answer what only JAX can tell (a jax or numpy float
array? a `jax_impl.Normal`? values in range?). They read only shapes and dtypes (static
under jit: they raise at trace time), except the value checks (logits with a distribution,
action ranges, a Normal's loc and scale), which read values and therefore run only on
concrete host arrays while `set_default_validate_args(True)` (`values_checked`): they
never sync an accelerator. The checks return nothing (or what torch_impl's return); the
caller converts numpy input with `jnp.asarray`. JAX-only checks come last: PRNG keys, real
scalars that may be traced, and torch objects passed by mistake (recognized by their type's
module, so torch is never imported here).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import checks
from ..spec.checks import bad_array_type, real_scalar
from ..spec.dtypes import compute_dtype_name
from ..spec.errors import bad_type, bad_value
from .distributions import Normal
from .dtypes import require_dtype

__all__ = ["set_default_validate_args", "default_validate_args", "check_logit_values", "check_normal_loc",
           "compute_dtype", "check_float", "check_logits", "check_sample_logits", "check_heads", "check_mask",
           "check_head_masks", "check_integer_action", "values_checked", "check_action_range", "check_action",
           "check_normal_action", "check_uniforms", "is_normal", "check_normal_parts", "check_normal_scale",
           "check_deterministic", "check_key", "is_torch_object", "refuse_torch_tensor", "real_scalar_or_traced"]

_A_FLOAT_ARRAY = "a jax or numpy float array"
_VALIDATE_ARGS = [True]  # the value checks' switch (set_default_validate_args)


def set_default_validate_args(value: bool) -> None:
    """Turn the checks that read values on (the default) or off: logits without a distribution
    (NaN, +inf, no finite allowed entry), action ranges, a Normal's loc and scale. Off, such
    input gives what it gives under jit (docs/backends.md, "Non-finite logits"): for hot
    paths outside jit. Shapes and dtypes are always checked."""
    if not isinstance(value, bool):
        raise bad_type("value", "a bool", value)
    _VALIDATE_ARGS[0] = value


def default_validate_args() -> bool:
    """Whether the value checks are on (`set_default_validate_args`)."""
    return _VALIDATE_ARGS[0]
_A_KEY = "a jax PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed))"


_COMPUTE_DTYPES: dict = {}  # filled on first use, one entry per dtype seen


def compute_dtype(dtype) -> np.dtype:
    """The dtype log-probabilities and entropies are computed and returned in, for float logits
    of `dtype`: the spec's rule (`spec.dtypes.compute_dtype_name`): float32 for bf16/fp16/fp32,
    float64 stays float64 (x64)."""
    known = _COMPUTE_DTYPES.get(dtype)
    if known is None:
        known = _COMPUTE_DTYPES[dtype] = np.dtype(compute_dtype_name(np.dtype(dtype).name))
    return known


def check_float(value, argument: str) -> None:
    """A jax or numpy array of a floating dtype (a torch tensor is pointed to `exchange.to_jax`)."""
    refuse_torch_tensor(value, argument, _A_FLOAT_ARRAY)
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise bad_type(argument, _A_FLOAT_ARRAY, value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise bad_type(argument, "a floating-point array", value)
    require_dtype(value.dtype, argument)  # float64 numpy input with x64 off: refused, not narrowed


def check_logits(logits, argument: str = "logits") -> None:
    """A float array `(..., n)`, any leading axes (log_prob, entropy, entropy_probs)."""
    check_float(logits, argument)
    checks.check_any_logits_shape(logits.shape, argument)


def check_sample_logits(logits, argument: str = "logits") -> bool:
    """A float array `(batch, n)`, or unbatched `(n,)` (returns True for that); a
    torch.distributions.Normal is pointed to `jax_impl.Normal`."""
    if is_torch_object(logits) and not hasattr(logits, "shape"):
        raise bad_type(argument, "logits arrays or a jax_impl.Normal (convert a torch distribution's "
                                 "parameters with puffer_backend.exchange.to_jax)", logits)
    check_float(logits, argument)
    return checks.is_unbatched_logits(logits.shape, argument)


def check_heads(heads, argument: str = "logits") -> int | None:
    """A non-empty tuple/list of float arrays, all `(batch, n_i)` with one batch size (returns
    it) or all unbatched `(n_i,)` (returns None)."""
    for i, head in enumerate(heads):
        check_float(head, f"{argument}[{i}]")
    return checks.check_heads([h.shape for h in heads], argument)


def check_mask(mask, logits_shape, argument: str = "mask") -> None:
    refuse_torch_tensor(mask, argument, "a boolean array (True = allowed)")
    if not hasattr(mask, "shape") or not hasattr(mask, "dtype") or mask.dtype != jnp.bool_:
        raise bad_type(argument, "a boolean array (True = allowed)", mask)
    checks.check_mask_shape(mask.shape, logits_shape, argument)


def check_head_masks(mask, heads, argument: str = "mask") -> None:
    """One boolean mask per head, in a tuple or list, each of its head's shape."""
    checks.check_head_masks_container(mask, len(heads), argument)
    for i, (m, h) in enumerate(zip(mask, heads)):
        check_mask(m, h.shape, f"{argument}[{i}]")


def check_integer_action(action, argument: str = "action") -> None:
    refuse_torch_tensor(action, argument, "an integer array")
    if not hasattr(action, "shape") or not hasattr(action, "dtype"):
        raise bad_type(argument, "an integer array", action)
    if not jnp.issubdtype(action.dtype, jnp.integer):
        raise bad_type(argument, "an integer array of action indices", action)


def values_checked(value) -> bool:
    """Whether the value checks read this array: the checks on (`set_default_validate_args`),
    and numpy, or a JAX array on a CPU device outside `jit`/`vmap` (reading it costs no
    accelerator sync)."""
    if not _VALIDATE_ARGS[0]:
        return False
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, jax.core.Tracer) or not isinstance(value, jax.Array):
        return False
    try:
        return all(d.platform == "cpu" for d in value.devices())
    except Exception:  # deleted or otherwise unreadable buffers: skip the optional check
        return False


def check_logit_values(logits, mask=None, argument: str = "logits", mask_argument: str = "mask") -> None:
    """Every row `(..., n)` has a distribution (spec.checks.check_logit_rows), where values are read."""
    if not np.size(logits) or not values_checked(logits) or (mask is not None and not values_checked(mask)):
        return
    values = np.asarray(logits)
    # One reduction decides the common case, as in torch_impl: a finite sum means every allowed
    # logit is finite (with a mask, `any` that every row allows one).
    if mask is None:
        if np.isfinite(values.sum(dtype=np.float64)):
            return
    else:
        allowed = np.asarray(mask)
        if np.isfinite(np.where(allowed, values, 0).sum(dtype=np.float64)) and allowed.any(-1).all():
            return
    rows = values.astype(np.float64).reshape(-1, logits.shape[-1])
    top = rows.max(-1)  # NaN where a row holds one
    allowed = top if mask is None else np.where(np.asarray(mask).reshape(rows.shape), rows, -np.inf).max(-1)
    checks.check_logit_rows(allowed, None if mask is None else top, argument, mask_argument)


def check_action_range(action, sizes, argument: str = "action") -> None:
    """`action[..., i]` in [0, sizes[i]) (one size per column of a 2-D action, else `sizes[0]`),
    where `values_checked(action)`."""
    if not values_checked(action) or not np.size(action):
        return
    values = np.asarray(action)
    high = np.asarray(sizes).reshape((1,) * (values.ndim - 1) + (-1,)) if values.ndim > 1 else sizes[0]
    if values.min() < 0 or np.any(values >= high):
        raise checks.action_range_error(argument, sizes, values.min(), values.max())


def check_action(action, shape, sizes, argument: str = "action", *, unbatched: bool = False):
    """A given integer action, returned as a jax array of `shape` `(batch,)` or `(batch, heads)`.

    Batched: any shape of as many elements (PufferLib's `view(batch, -1)`); unbatched (a batch
    of one): exactly `shape[1:]`. Range-checked where `values_checked`."""
    check_integer_action(action, argument)
    checks.check_action_shape(action.shape, shape[1:] if unbatched else shape, argument, batched=not unbatched)
    if values_checked(action):
        check_action_range(np.asarray(action).reshape(shape), sizes, argument)
    return jnp.asarray(action).reshape(shape)


def check_normal_action(action, shape, *, unbatched: bool = False):
    """A given continuous action with `prod(shape)` elements (exactly `shape[1:]` unbatched),
    returned as a jax array of `shape` `(batch, action_dim)`."""
    check_float(action, "action")
    checks.check_action_shape(action.shape, shape[1:] if unbatched else shape, "action", batched=not unbatched)
    return jnp.asarray(action).reshape(shape)


def check_uniforms(uniforms, shape, *, unbatched: bool = False):
    """`sample_from_uniforms`' uniforms: a float array with `prod(shape)` elements (exactly
    `shape[1:]` unbatched), returned as a jax array of `shape`."""
    check_float(uniforms, "uniforms")
    checks.check_action_shape(uniforms.shape, shape[1:] if unbatched else shape, "uniforms", batched=not unbatched)
    return jnp.asarray(uniforms).reshape(shape)


def is_normal(logits) -> bool:
    """Whether `logits` is a continuous distribution: a `jax_impl.Normal`."""
    return isinstance(logits, Normal)


def check_normal_parts(dist):
    """A Normal's `(loc, scale)` as jax arrays, each of a float dtype; a Python number as the
    scale becomes an array of loc's dtype (`Normal(loc, 1.0)`)."""
    check_float(dist.loc, "logits.loc")
    scale = dist.scale
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        scale = jnp.asarray(scale, dist.loc.dtype)
    check_float(scale, "logits.scale")
    return jnp.asarray(dist.loc), jnp.asarray(scale)


def check_normal_loc(loc, argument: str = "logits.loc") -> None:
    """A Normal's loc must be finite; checked where values are read (see `values_checked`)."""
    if values_checked(loc) and np.size(loc):
        checks.check_finite_values(np.asarray(loc).astype(np.float64), argument)


def check_normal_scale(scale, argument: str = "logits.scale") -> None:
    """A Normal's scale must be positive and finite; checked where values are read (see
    `values_checked`). Elsewhere a bad scale gives NaN (or infinite) log-probabilities and
    entropies."""
    if not values_checked(scale) or not np.size(scale):
        return
    values = np.asarray(scale).astype(np.float64)
    if not np.all((values > 0) & (values < np.inf)):
        raise bad_value(argument, "positive, finite values (a standard deviation)",
                        f"values from {np.min(values)} to {np.max(values)}")


def check_deterministic(deterministic) -> bool:
    """A Python (or numpy) bool, returned as a bool; under `jit` it must be static."""
    if not isinstance(deterministic, (bool, np.bool_)):
        raise bad_type("deterministic", "a Python bool (under jax.jit mark it static: "
                                        "static_argnames=('deterministic',))", deterministic)
    return bool(deterministic)


# -- JAX only ---------------------------------------------------------------------------------

def check_key(key, argument: str = "key"):
    """One PRNG key: a typed key of shape `()` or a legacy uint32 key of shape `(2,)` (any 1-D
    raw key of another implementation). A batch of keys is refused with the vmap hint."""
    refuse_torch_tensor(key, argument, _A_KEY)
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise bad_type(argument, _A_KEY, key)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not typed and key.dtype != jnp.uint32:
        raise bad_type(argument, _A_KEY, key)
    if len(key.shape) != (0 if typed else 1):
        kind = "typed keys" if typed else "uint32 key data"
        raise bad_value(argument, "a single PRNG key, shape () from jax.random.key or (2,) from jax.random.PRNGKey "
                                  "(for a batch of keys, use jax.vmap)", f"{kind} of shape {tuple(key.shape)}")
    return key


def is_torch_object(value) -> bool:
    """Whether `value` is a torch object (tensor, module, distribution)."""
    return type(value).__module__.partition(".")[0] == "torch"


def refuse_torch_tensor(value, argument: str, expected: str) -> None:
    """A TypeError that says to convert with `exchange.to_jax` when `value` is a torch tensor."""
    if is_torch_object(value) and hasattr(value, "shape"):
        raise bad_array_type(argument, expected, value, backend="jax")


def real_scalar_or_traced(value, argument: str):
    """`spec.checks.real_scalar` (a float), except that a traced 0-d JAX number (inside `jit`,
    e.g. `jnp.sqrt(2)` there) is returned as is: its value is not known yet."""
    if isinstance(value, jax.core.Tracer):
        real = jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)
        if value.shape != () or not real:
            raise bad_type(argument, "a real number (a 0-d integer or float array)", value)
        return value
    return real_scalar(value, argument)
