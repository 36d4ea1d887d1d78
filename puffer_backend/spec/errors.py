"""One format for every bad-input message: the argument, what was expected, what came.

Every message is one line. `describe` collapses a received value whose repr spans lines (an
`nn.Sequential`, a flax module) to single spaces and shortens it; text that callers build
themselves is one line already (wrap a foreign exception's text in `one_line`). The
message itself is assembled without string methods, so a check that fails while
torch.compile traces it still raises its own message.
"""
from __future__ import annotations

__all__ = ["one_line", "describe", "bad_type", "bad_value"]

_MAX_REPR = 80


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())


def describe(value) -> str:
    """Short one-line description of a received value: type plus dtype/shape when it has them."""
    kind = type(value).__name__
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is not None and shape is not None:
        try:
            return f"{kind}(dtype={dtype}, shape={tuple(shape)})"
        except TypeError:  # a `shape` that is not a sequence (an unknown object's attribute)
            pass
    try:
        text = one_line(repr(value))
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{kind} with a failing repr>"
    if len(text) > _MAX_REPR:
        text = text[:_MAX_REPR - 3] + "..."
    return f"{kind} {text}"


def bad_type(argument: str, expected: str, received) -> TypeError:
    return TypeError(f"{argument}: expected {expected}, received {describe(received)}")


def bad_value(argument: str, expected: str, received) -> ValueError:
    """`received`: a value (described by `describe`) or a one-line text built by the caller."""
    if not isinstance(received, str):
        received = describe(received)
    return ValueError(f"{argument}: expected {expected}, received {received}")
