"""Shared cases for the exchange tests: dtypes, numpy truths and torch layouts."""
import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jax")

# name -> (torch dtype, numpy dtype of the truth)
DTYPES = {
    "bool": (torch.bool, np.dtype(np.bool_)),
    "bfloat16": (torch.bfloat16, np.dtype(ml_dtypes.bfloat16)),
    "float16": (torch.float16, np.dtype(np.float16)),
    "float32": (torch.float32, np.dtype(np.float32)),
    "float64": (torch.float64, np.dtype(np.float64)),
    "uint8": (torch.uint8, np.dtype(np.uint8)),
    "uint16": (torch.uint16, np.dtype(np.uint16)),
    "uint32": (torch.uint32, np.dtype(np.uint32)),
    "uint64": (torch.uint64, np.dtype(np.uint64)),
    "int8": (torch.int8, np.dtype(np.int8)),
    "int16": (torch.int16, np.dtype(np.int16)),
    "int32": (torch.int32, np.dtype(np.int32)),
    "int64": (torch.int64, np.dtype(np.int64)),
}
WIDE = ("float64", "uint64", "int64")
NARROW = tuple(name for name in DTYPES if name not in WIDE)

SHAPE = (6, 40)


def truth(name: str, shape=SHAPE, seed: int = 0) -> np.ndarray:
    """Random numpy values that use the dtype's range (extremes included)."""
    dtype = DTYPES[name][1]
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if dtype == np.bool_:
        values = rng.integers(0, 2, size).astype(bool)
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        values[:2] = (info.min, info.max)[:size]
    else:
        values = (rng.standard_normal(size) * 1000).astype(dtype)
    return values.reshape(shape)


def torch_from_truth(values: np.ndarray, torch_dtype) -> "torch.Tensor":
    """A torch tensor with the same bits, built through bytes (numpy has no bf16 for torch).

    The clone puts it in torch's own (64-byte aligned) storage, as a real tensor would be.
    """
    raw = torch.from_numpy(np.ascontiguousarray(values).view(np.uint8).copy())
    return raw.view(torch_dtype).reshape(values.shape).clone()


def torch_to_numpy(tensor, numpy_dtype) -> np.ndarray:
    """The tensor's values as numpy, through bytes, without trusting torch's numpy bridge."""
    dense = tensor.contiguous()
    if dense.numel() == 0:
        return np.zeros(tuple(dense.shape), numpy_dtype)
    raw = dense.reshape(-1).view(torch.uint8).numpy().copy()
    return raw.view(numpy_dtype).reshape(tuple(dense.shape))


# name -> (torch view of a (6, 40) tensor, the same view in numpy, can XLA alias it?)
LAYOUTS = {
    "contiguous": (lambda t: t, lambda a: a, True),
    "transpose": (lambda t: t.T, lambda a: a.T, True),
    "permute_3d": (lambda t: t.reshape(6, 8, 5).permute(2, 0, 1),
                   lambda a: a.reshape(6, 8, 5).transpose(2, 0, 1), True),
    "row_slice_unaligned": (lambda t: t.reshape(-1)[1:97], lambda a: a.reshape(-1)[1:97], False),
    "narrow": (lambda t: t.narrow(1, 3, 10), lambda a: a[:, 3:13], False),
    "step_slice": (lambda t: t[:, ::3], lambda a: a[:, ::3], False),
    "expand": (lambda t: t[:1].expand(4, 40), lambda a: np.broadcast_to(a[:1], (4, 40)), False),
    "zero_d": (lambda t: t[0, 0], lambda a: a[0, 0], True),
    "zero_d_offset": (lambda t: t[2, 5], lambda a: a[2, 5], False),
    "empty": (lambda t: t[:0], lambda a: a[:0], True),
    "empty_2d_cols": (lambda t: t[:, :0], lambda a: a[:, :0], True),
}
