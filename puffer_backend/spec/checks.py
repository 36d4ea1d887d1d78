"""Shape and dtype checks shared by both backends. They read only static metadata (shape,
dtype), so they run at trace time under jit/compile and never force a device sync."""
from __future__ import annotations

from .errors import bad_type, bad_value
from .layout import row_width


def check_logits_shape(shape, argument: str = "logits") -> None:
    if len(shape) != 2 or shape[1] < 1:
        raise bad_value(argument, "shape (batch, num_actions) with num_actions >= 1", f"shape {tuple(shape)}")


def check_any_logits_shape(shape, argument: str = "logits") -> None:
    """log_prob/entropy take any leading axes: `(..., num_actions)`."""
    if len(shape) < 1 or shape[-1] < 1:
        raise bad_value(argument, "shape (..., num_actions) with num_actions >= 1", f"shape {tuple(shape)}")


def check_head_masks_container(mask, num_heads: int, argument: str = "mask") -> None:
    """Heads take one mask per head, in a tuple or list (each then checked by the backend)."""
    if not isinstance(mask, (tuple, list)) or len(mask) != num_heads:
        raise bad_type(argument, f"a tuple of {num_heads} boolean masks, one per head", mask)


def check_heads_batch(shapes, argument: str = "logits") -> int:
    """All heads 2-D with one batch size; returns it."""
    for i, shape in enumerate(shapes):
        check_logits_shape(shape, f"{argument}[{i}]")
    batches = {shape[0] for shape in shapes}
    if len(batches) != 1:
        raise bad_value(argument, "heads with one batch size", f"shapes {[tuple(s) for s in shapes]}")
    return batches.pop()


def check_action_shape(shape, expected, argument: str = "action") -> None:
    """`expected` is a tuple; a flat `(batch * heads,)` action is accepted like PufferLib's view."""
    shape, expected = tuple(shape), tuple(expected)
    flat = 1
    for size in expected:
        flat *= size
    if shape != expected and shape != (flat,):
        raise bad_value(argument, f"shape {expected}", f"shape {shape}")


def check_mask_shape(shape, logits_shape, argument: str = "mask") -> None:
    if tuple(shape) != tuple(logits_shape):
        raise bad_value(argument, f"a boolean mask of the logits' shape {tuple(logits_shape)}", f"shape {tuple(shape)}")


def guess_sample_dtype(dtype_name: str, leaf_dtype_names) -> str | None:
    """The sample dtype to expect when the layout recorded none (hand-built PufferLib tuples).

    A float observation for leaves that are all integers is the `torch.Tensor(data)` cast
    (the rows were raw bytes or integers): expect the leaves' dtype, or bytes when they
    differ, so that `check_observation` refuses it with its hint instead of reinterpreting
    float bits. Anything else: None (no expectation).
    """
    if dtype_name.startswith(("float", "bfloat")):
        names = set(leaf_dtype_names)
        if names and not any(n.startswith(("float", "bfloat")) for n in names):
            return "uint8" if len(names) > 1 else names.pop()
    return None


def check_observation(shape, dtype_name: str, native_dtype, sample_dtype_name: str | None,
                      argument: str = "observation") -> None:
    """Observation must be `(batch, width)` of the sample dtype: exactly the recorded row width
    for a layout from `nativize_dtype`, wide enough for every leaf for hand-built tuples.

    `sample_dtype_name` is the expected element dtype when known (None: any of the table).
    A float observation where an integer sample dtype is expected is the classic
    `torch.Tensor(data)` mistake, and is named as such.
    """
    if len(shape) != 2:
        raise bad_value(argument, "shape (batch, elements)", f"shape {tuple(shape)}")
    if sample_dtype_name is not None and dtype_name != sample_dtype_name:
        hint = ""
        if dtype_name.startswith(("float", "bfloat")) and not sample_dtype_name.startswith("float"):
            hint = " (was the observation cast to float, e.g. torch.Tensor(data) instead of torch.from_numpy(data)?)"
        raise bad_value(argument, f"dtype {sample_dtype_name}", f"dtype {dtype_name}{hint}")
    recorded = getattr(native_dtype, "row_width", None)  # known for layouts from nativize_dtype
    if recorded is not None and shape[1] != recorded:
        raise bad_value(argument, f"{recorded} elements per row, the row width of native_dtype's layout",
                        f"{shape[1]} elements per row, shape {tuple(shape)}")
    width = row_width(native_dtype)
    if shape[1] < width:
        raise bad_value(argument, f"at least {width} elements per row for this native_dtype", f"shape {tuple(shape)}")
