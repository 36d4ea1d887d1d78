"""One array across the torch/JAX border through DLPack: zero-copy where the buffer allows it.

`tensor_to_jax` and `array_to_torch` convert a single leaf; `pytrees` maps them over
containers. Every refusal is a TypeError/ValueError naming the argument (`where`).
"""
from __future__ import annotations

import numpy as np

from ..spec.errors import bad_type, bad_value
from ._frameworks import jax, torch

__all__ = ["tensor_to_jax", "array_to_torch", "numpy_to_torch", "jax_x64_enabled"]

# XLA's CPU client aliases a foreign buffer only when it is 64-byte aligned (else it copies).
CPU_ALIGNMENT = 64
_WIDE_TORCH_DTYPES = frozenset({torch.int64, torch.uint64, torch.float64, torch.complex128})
_DL_CPU, _DL_CUDA = 1, 2


def jax_x64_enabled() -> bool:
    """Whether JAX currently keeps 64-bit dtypes (`jax_enable_x64`)."""
    return bool(jax.config.jax_enable_x64)


# ---------------------------------------------------------------------------------- torch -> JAX

def _fast_importer():
    """Return jaxlib's DLPack import entry point if it behaves as measured, else None.

    `jax.dlpack.from_dlpack` spends ~25 us per call in Python (device lookup, then a
    `jnp.asarray` that re-dispatches). The entry point it wraps is private, so it is probed
    once on a tiny tensor and the public function is used whenever the probe fails.
    """
    try:
        from jax._src.lib import _jax as lib
        probe = torch.arange(16, dtype=torch.float32)
        device = jax.devices("cpu")[0]
        out = lib.dlpack_managed_tensor_to_buffer(probe.__dlpack__(), device, None, None, _DL_CPU)
        if (isinstance(out, jax.Array) and out.dtype == np.float32
                and out.unsafe_buffer_pointer() == probe.data_ptr()):
            return lambda capsule, dev, stream, dl_type: lib.dlpack_managed_tensor_to_buffer(
                capsule, dev, stream, None, dl_type)
    except Exception:  # noqa: BLE001 - any surprise means: use the public API
        pass
    return None


_IMPORT = _fast_importer()
_JAX_DEVICES: dict = {}


def _jax_device_for(tensor: "torch.Tensor", where: str):
    """The JAX device that sees the same memory as `tensor` (cached per torch device)."""
    key = (tensor.device.type, tensor.device.index)
    device = _JAX_DEVICES.get(key)
    if device is not None:
        return device
    kind = tensor.device.type
    if kind not in ("cpu", "cuda"):
        raise bad_value(where, "a CPU or CUDA tensor", f"a tensor on {tensor.device}")
    platform = "cpu" if kind == "cpu" else "cuda"
    try:
        import jax.extend.backend
        backend = jax.extend.backend.get_backend(platform)
        device = backend.device_from_local_hardware_id(tensor.device.index or 0)
    except Exception as error:  # noqa: BLE001 - JAX raises RuntimeError/KeyError variants
        raise bad_value(where, f"a tensor on a device JAX can see (JAX devices: {jax.devices()})",
                        f"a tensor on {tensor.device} ({type(error).__name__}: {error})") from None
    _JAX_DEVICES[key] = device
    return device


def _compact_strides(tensor: "torch.Tensor") -> bool:
    """True when the strides are a permutation of a dense row-major layout (what XLA accepts)."""
    if tensor.is_contiguous():
        return True
    dims = sorted((s, n) for s, n in zip(tensor.stride(), tensor.shape) if n != 1)
    expected = 1
    for stride, size in dims:
        if size == 0:
            return True
        if stride != expected:
            return False
        expected *= size
    return True


def _why_not_zero_copy(tensor: "torch.Tensor") -> str | None:
    """Why XLA cannot alias this tensor's buffer, or None when it can."""
    if tensor.is_conj() or tensor.is_neg():
        return "it has a lazy conjugate/negative bit (call .resolve_conj()/.resolve_neg())"
    if not _compact_strides(tensor):
        return (f"its strides {tuple(tensor.stride())} for shape {tuple(tensor.shape)} are not a "
                "dense layout (a slice, narrow or expand); XLA only aliases dense buffers")
    if (tensor.device.type == "cpu" and tensor.numel() > 0
            and tensor.data_ptr() % CPU_ALIGNMENT != 0):
        return (f"its data pointer is not {CPU_ALIGNMENT}-byte aligned (an offset view); "
                "XLA's CPU client only aliases aligned buffers")
    return None


def _check_tensor_for_jax(tensor: "torch.Tensor", where: str) -> None:
    if tensor.requires_grad:
        raise bad_value(where, "a tensor without requires_grad (DLPack cannot carry autograd "
                        "history; call .detach() if you mean to drop it, or wrap the JAX function "
                        "with jax_fn_for_torch to differentiate through it)",
                        f"a tensor with requires_grad=True, shape {tuple(tensor.shape)}")
    if tensor.layout != torch.strided:
        raise bad_value(where, "a dense (strided) tensor", f"a tensor with layout {tensor.layout}")
    if tensor.dtype in _WIDE_TORCH_DTYPES and not jax_x64_enabled():
        raise bad_value(where, "a dtype JAX keeps as it is: with jax_enable_x64 off JAX would "
                        f"silently narrow {tensor.dtype} to 32 bits; enable it with "
                        "jax.config.update('jax_enable_x64', True) or cast the tensor explicitly",
                        f"a {tensor.dtype} tensor of shape {tuple(tensor.shape)}")


def _fresh_dense(tensor: "torch.Tensor") -> "torch.Tensor":
    # torch's CPU allocator aligns every new buffer to 64 bytes, so the clone aliases cleanly.
    return tensor.resolve_conj().resolve_neg().clone(memory_format=torch.contiguous_format)


def tensor_to_jax(tensor: "torch.Tensor", copy: bool | None = None, where: str = "x"):
    """One torch tensor as a `jax.Array` on the same device, same dtype, same shape.

    `copy=None` aliases the buffer when XLA can (dense strides, 64-byte aligned on CPU) and
    otherwise makes one copy; `copy=False` aliases or raises ValueError saying why;
    `copy=True` always returns an independent buffer. The JAX array keeps the tensor's
    storage alive. Raises ValueError for `requires_grad` tensors and for 64-bit dtypes while
    `jax_enable_x64` is off.
    """
    _check_tensor_for_jax(tensor, where)
    device = _jax_device_for(tensor, where)
    if copy is True:
        tensor = _fresh_dense(tensor)
    else:
        reason = _why_not_zero_copy(tensor)
        if reason is not None:
            if copy is False:
                raise bad_value(where, "a tensor JAX can alias without a copy (copy=False)",
                                f"a {tensor.dtype} tensor that needs a copy because {reason}")
            tensor = _fresh_dense(tensor)
    try:
        if tensor.device.type == "cpu" and _IMPORT is not None:
            array = _IMPORT(tensor.__dlpack__(), device, None, _DL_CPU)
        else:
            # CUDA: JAX names the stream it will read on and torch orders its pending work
            # before it (the DLPack `stream=` protocol).
            array = jax.dlpack.from_dlpack(tensor, copy=False)
    except (TypeError, ValueError, RuntimeError, BufferError) as error:
        raise bad_value(where, "a tensor JAX can import through DLPack",
                        f"a {tensor.dtype} tensor on {tensor.device} "
                        f"({type(error).__name__}: {error})") from None
    if copy is False and tensor.numel() > 0 and array.unsafe_buffer_pointer() != tensor.data_ptr():
        # Guard against an XLA rule this module does not know about (it would copy silently).
        raise bad_value(where, "a tensor JAX can alias without a copy (copy=False)",
                        f"a {tensor.dtype} tensor that XLA copied on import")
    return array


# ---------------------------------------------------------------------------------- JAX -> torch

def _check_array_for_torch(array, where: str):
    if isinstance(array, jax.core.Tracer):
        raise bad_type(where, "a concrete jax.Array (to_torch cannot run inside jax.jit or other "
                       "transformations; call it outside, or use torch_fn_for_jax)", array)
    try:
        devices = array.sharding.device_set
    except Exception as error:  # noqa: BLE001 - deleted or otherwise unusable arrays
        raise bad_value(where, "a live jax.Array", f"an array that fails ({error})") from None
    if len(devices) != 1:
        raise bad_value(where, "a jax.Array on one device (DLPack describes one buffer)",
                        f"an array sharded over {len(devices)} devices")
    if array.is_deleted():
        raise bad_value(where, "a live jax.Array", "an array that was deleted or donated")
    (device,) = devices
    if device.platform not in ("cpu", "gpu", "cuda"):
        raise bad_value(where, "a jax.Array on a CPU or CUDA device", f"one on {device}")
    if device.platform != "cpu" and not torch.cuda.is_available():
        raise bad_value(where, "an array on a device torch can see (torch has no CUDA here)",
                        f"an array on {device}")
    return device


def array_to_torch(array, copy: bool | None = None, where: str = "x") -> "torch.Tensor":
    """One `jax.Array` as a torch tensor on the same device, same dtype, same shape.

    JAX buffers are always dense and aligned, so `copy=None`/`False` always alias; the
    tensor keeps the JAX buffer alive and must not be written to (JAX assumes its arrays are
    immutable: pass `copy=True` for a tensor you will modify in place).
    """
    device = _check_array_for_torch(array, where)
    try:
        if device.platform == "cpu":
            tensor = torch.utils.dlpack.from_dlpack(array.__dlpack__())
        else:
            tensor = torch.from_dlpack(array)  # passes torch's current stream to JAX
    except (TypeError, ValueError, RuntimeError, BufferError) as error:
        raise bad_value(where, "a jax.Array torch can import through DLPack",
                        f"{array.dtype} array on {device} ({type(error).__name__}: {error})") from None
    if copy is True:
        tensor = tensor.clone()
    return tensor


# ---------------------------------------------------------------------------------- numpy leaves

def numpy_to_torch(array: np.ndarray, copy: bool | None, where: str) -> "torch.Tensor":
    """A numpy array as a torch tensor sharing its memory (or a copy when it cannot)."""
    if array.dtype.byteorder == ">":
        raise bad_value(where, "a little-endian array", f"dtype {array.dtype.str}")
    shareable = array.flags.writeable and all(s >= 0 for s in array.strides)
    if copy is True or not shareable:
        if copy is False:
            raise bad_value(where, "a writable numpy array with non-negative strides (copy=False)",
                            array)
        array = np.array(array, copy=True, order="C")
    try:
        return torch.from_numpy(array)
    except TypeError as error:
        raise bad_type(where, "a numpy array of a dtype torch supports", array) from error
