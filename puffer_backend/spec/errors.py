"""One format for every bad-input message: the argument, what was expected, what came."""
from __future__ import annotations


def describe(value) -> str:
    """Short description of a received value: type plus dtype/shape when it has them."""
    kind = type(value).__name__
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is not None and shape is not None:
        return f"{kind}(dtype={dtype}, shape={tuple(shape)})"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{kind} {text}"


def bad_type(argument: str, expected: str, received) -> TypeError:
    return TypeError(f"{argument}: expected {expected}, received {describe(received)}")


def bad_value(argument: str, expected: str, received) -> ValueError:
    if not isinstance(received, str):
        received = describe(received)
    return ValueError(f"{argument}: expected {expected}, received {received}")
