"""One array across the torch/JAX border through DLPack: zero-copy where the buffer allows it.

`tensor_to_jax` and `array_to_torch` convert a single leaf; `pytrees` maps them over
containers. Every refusal is a TypeError/ValueError naming the argument (`where`).
"""
from __future__ import annotations

import numpy as np

from ..spec.dtypes import X64_DTYPE_NAMES, needs_x64, x64_error
from ..spec.errors import bad_type, bad_value, one_line
from ._frameworks import jax, torch

__all__ = ["tensor_to_jax", "array_to_torch", "numpy_to_torch", "numpy_to_jax", "jax_x64_enabled", "narrowed_tensor",
           "narrowed_numpy", "INT32_RANGE"]

# XLA's CPU client aliases a foreign buffer only when it is 64-byte aligned (else it copies).
CPU_ALIGNMENT = 64
# The spec decides which dtypes JAX narrows with x64 off; here they are torch dtypes.
_WIDE_TORCH_DTYPES = frozenset(getattr(torch, name) for name in X64_DTYPE_NAMES)
_DL_CPU = 1  # DLPack device type of host memory
INT32_RANGE = (-2**31, 2**31 - 1)


def jax_x64_enabled() -> bool:
    """Whether JAX currently keeps 64-bit dtypes (`jax_enable_x64`)."""
    return bool(jax.config.jax_enable_x64)


# ------------------------------------------------------------------------------ fast entry points
# The public entry points (`jax.dlpack.from_dlpack`, `Array.__dlpack__`, `Tensor.__dlpack__`,
# `torch.from_dlpack`) spend 2-25 us per array in Python: device lookups, stream queries, a
# re-dispatching `jnp.asarray`, a throwaway `addressable_data` Array. On CPU, where no stream
# is involved, the C entry points underneath do the same work in about 1 us. They are
# private, so each is probed once (aliasing and values checked) and the public one is used
# whenever a probe fails.

def _probe_cpu_import(device):
    try:
        from jax._src.lib import _jax as lib

        def importer(tensor):
            return lib.dlpack_managed_tensor_to_buffer(
                torch.utils.dlpack.to_dlpack(tensor), device, None, None, _DL_CPU)

        probe = torch.arange(16, dtype=torch.float32)
        out = importer(probe)
        if (isinstance(out, jax.Array) and out.dtype == np.float32 and out.shape == (16,)
                and out.unsafe_buffer_pointer() == probe.data_ptr()
                and np.asarray(out)[15] == 15.0):
            return importer
    except Exception:  # noqa: BLE001 - any surprise means: use the public API
        pass
    return lambda tensor: jax.dlpack.from_dlpack(tensor, copy=False)


def _probe_cpu_export():
    try:
        from jax._src.lib import _jax as lib
        to_tensor = getattr(torch._C, "_from_dlpack", torch.utils.dlpack.from_dlpack)

        def exporter(array):
            return to_tensor(lib.buffer_to_dlpack_managed_tensor(array, stream=None))

        probe = jax.device_put(np.arange(16, dtype=np.float32))
        out = exporter(probe)
        if (isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (16,)
                and out.data_ptr() == probe.unsafe_buffer_pointer() and float(out[15]) == 15.0):
            return exporter
    except Exception:  # noqa: BLE001 - any surprise means: use the public API
        pass
    return lambda array: torch.utils.dlpack.from_dlpack(array.__dlpack__())


# Chosen on first use, not at import: probing starts JAX's backend, and a library import must
# not do that (XLA_FLAGS, jax.distributed.initialize and platform choices come first). Each
# stub replaces itself with the probed function, so later calls pay no extra layer.

def _cpu_import(tensor: "torch.Tensor"):
    global _cpu_import
    _cpu_import = _probe_cpu_import(jax.devices("cpu")[0])
    return _cpu_import(tensor)


def _cpu_export(array) -> "torch.Tensor":
    global _cpu_export
    _cpu_export = _probe_cpu_export()
    return _cpu_export(array)


# ---------------------------------------------------------------------------------- torch -> JAX

_JAX_DEVICES: dict = {}


def _jax_device_for(tensor: "torch.Tensor", where: str):
    """The JAX device that sees the same memory as a non-CPU `tensor` (cached per device)."""
    key = (tensor.device.type, tensor.device.index)
    device = _JAX_DEVICES.get(key)
    if device is not None:
        return device
    if tensor.device.type != "cuda":
        raise bad_value(where, "a CPU or CUDA tensor", f"a tensor on {tensor.device}")
    try:
        import jax.extend.backend
        backend = jax.extend.backend.get_backend("cuda")
        device = backend.device_from_local_hardware_id(tensor.device.index or 0)
    except Exception as error:  # noqa: BLE001 - JAX raises RuntimeError/KeyError variants
        raise bad_value(where, f"a tensor on a device JAX can see (JAX devices: {jax.devices()})",
                        f"a tensor on {tensor.device} ({type(error).__name__}: {one_line(str(error))})") from None
    _JAX_DEVICES[key] = device
    return device


def _compact_strides(tensor: "torch.Tensor") -> bool:
    """True when the strides are a permutation of a dense row-major layout (what XLA accepts)."""
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
    if not (tensor.is_contiguous() or _compact_strides(tensor)):
        return (f"its strides {tuple(tensor.stride())} for shape {tuple(tensor.shape)} are not a "
                "dense layout (a slice, narrow or expand); XLA only aliases dense buffers")
    if tensor.is_cpu and tensor.data_ptr() % CPU_ALIGNMENT != 0 and tensor.numel() > 0:
        return (f"its data pointer is not {CPU_ALIGNMENT}-byte aligned (an offset view); "
                "XLA's CPU client only aliases aligned buffers")
    return None


def _refuse(tensor: "torch.Tensor", where: str) -> None:
    """Raise for what JAX must not receive: autograd history, sparse layouts, narrowed 64 bits."""
    if tensor.requires_grad:
        raise bad_value(where, "a tensor without requires_grad (DLPack cannot carry autograd "
                        "history; call .detach() if you mean to drop it, or wrap the JAX function "
                        "with jax_fn_for_torch to differentiate through it)",
                        f"a tensor with requires_grad=True, shape {tuple(tensor.shape)}")
    if tensor.layout != torch.strided:
        raise bad_value(where, "a dense (strided) tensor", f"a tensor with layout {tensor.layout}")
    if tensor.dtype in _WIDE_TORCH_DTYPES and not jax_x64_enabled():
        raise x64_error(where, str(tensor.dtype), f"a {tensor.dtype} tensor of shape {tuple(tensor.shape)}")


def _fresh_dense(tensor: "torch.Tensor") -> "torch.Tensor":
    # torch's CPU allocator aligns every new buffer to 64 bytes, so the clone aliases cleanly.
    return tensor.resolve_conj().resolve_neg().clone(memory_format=torch.contiguous_format)


def tensor_to_jax(tensor: "torch.Tensor", copy: bool | None = None, where: str = "x"):
    """One torch tensor as a `jax.Array` on the same device, same dtype, same shape.

    `copy=None` aliases the buffer when XLA can (dense strides, 64-byte aligned on CPU) and
    otherwise makes one copy; `copy=False` aliases or raises ValueError saying why;
    `copy=True` always returns an independent buffer. The JAX array keeps the tensor's
    storage alive; an aliased one also sees every later in-place write to the tensor. Raises ValueError for `requires_grad` tensors, for 64-bit dtypes while
    `jax_enable_x64` is off and for devices JAX cannot see.
    """
    if (tensor.requires_grad or tensor.dtype in _WIDE_TORCH_DTYPES
            or tensor.layout != torch.strided):
        _refuse(tensor, where)  # returns only for 64-bit data with x64 on
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
        if tensor.is_cpu:
            array = _cpu_import(tensor)
        else:
            _jax_device_for(tensor, where)
            # CUDA: JAX names the stream it will read on and torch orders its pending work
            # before it (the DLPack `stream=` protocol), inside jax.dlpack.from_dlpack.
            array = jax.dlpack.from_dlpack(tensor, copy=False)
    except (TypeError, ValueError, RuntimeError, BufferError) as error:
        raise bad_value(where, "a tensor JAX can import through DLPack",
                        f"a {tensor.dtype} tensor on {tensor.device} "
                        f"({type(error).__name__}: {one_line(str(error))})") from None
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
        raise bad_value(where, "a live jax.Array", f"an array that fails ({one_line(str(error))})") from None
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
    immutable: pass `copy=True` for a tensor you will modify in place). Waits until a
    pending computation has produced the array.
    """
    device = _check_array_for_torch(array, where)
    try:
        if device.platform == "cpu":
            tensor = _cpu_export(array)
        else:
            tensor = torch.from_dlpack(array)  # passes torch's current stream to JAX
    except Exception as error:  # noqa: BLE001 - jaxlib raises its own JaxRuntimeError
        raise bad_value(where, "a jax.Array torch can import through DLPack",
                        f"{array.dtype} array on {device} ({type(error).__name__}: {one_line(str(error))})") from None
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


def numpy_to_jax(array: np.ndarray, copy: bool | None, where: str):
    """A numpy array as a `jax.Array`, through torch's zero-copy view of it.

    64-bit data with `jax_enable_x64` off is refused naming the numpy dtype (the torch view
    in between is an implementation detail the message must not mention).
    """
    if array.dtype.itemsize >= 8 and needs_x64(array.dtype.name) and not jax_x64_enabled():
        raise x64_error(where, array.dtype.name, f"a numpy {array.dtype} array of shape {array.shape}")
    # copy=True: numpy's fresh copy is the independent buffer; numpy aligns it only to
    # 16 bytes, so JAX may still need to copy it once more (copy=None, never False).
    return tensor_to_jax(numpy_to_torch(array, copy, where), None if copy else copy, where)


# ---------------------------------------------------------------------------------- narrowing
# Opt-in (`to_jax(..., narrow_ints=True)`): torch samples int64 actions and numpy counts in
# int64, while JAX with x64 off holds 32-bit integers. Narrowing checks every value first,
# so it never wraps one (JAX's own narrowing would turn 2**40 + 5 into 5).

def _out_of_int32(low: int, high: int, kind: str, shape, where: str) -> ValueError:
    return bad_value(where, f"int64 values that fit in int32, in [{INT32_RANGE[0]}, {INT32_RANGE[1]}], to narrow "
                     "them (narrow_ints=True); enable jax_enable_x64 to keep them whole",
                     f"{kind} of shape {tuple(shape)} with values in [{low}, {high}]")


def narrowed_tensor(tensor: "torch.Tensor", where: str = "x") -> "torch.Tensor":
    """An int64 `tensor` as a new int32 tensor when JAX would refuse it (x64 off) and every
    value fits in int32; any other tensor unchanged. ValueError naming `where` (with the
    values' range) when one does not fit. Reads the values: on CUDA, a sync."""
    if tensor.dtype != torch.int64 or jax_x64_enabled():
        return tensor
    if tensor.numel():
        low, high = (int(v) for v in torch.aminmax(tensor))
        if low < INT32_RANGE[0] or high > INT32_RANGE[1]:
            raise _out_of_int32(low, high, "a torch.int64 tensor", tensor.shape, where)
    return tensor.to(torch.int32)


def narrowed_numpy(array: np.ndarray, where: str = "x") -> np.ndarray:
    """`narrowed_tensor` for a numpy array: int64 as a new int32 array when x64 is off and
    every value fits; ValueError naming `where` otherwise."""
    if array.dtype != np.int64 or jax_x64_enabled():
        return array
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < INT32_RANGE[0] or high > INT32_RANGE[1]:
            raise _out_of_int32(low, high, "a numpy int64 array", array.shape, where)
    return array.astype(np.int32)
