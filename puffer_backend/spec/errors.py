"""One format for every bad-input message: the argument, what was expected, what came.

Every message is one line. `describe` collapses a received value whose repr spans lines (an
`nn.Sequential`, a flax module) to single spaces and shortens it; text that callers build
themselves is one line already (wrap a foreign exception's text in `one_line`). The
message itself is assembled without string methods, so a check that fails while
torch.compile traces it still raises its own message.

`bad_type` and `bad_value` return a `BadTypeError` / `BadValueError`: a TypeError / ValueError
that also keeps the three parts (`argument`, `expected`, `received`), so a caller tells a bad
argument from a bug by its type, and names the argument its own way (the command names the
flag), without reading the text.
"""
from __future__ import annotations

__all__ = ["BadArgumentError", "BadTypeError", "BadValueError", "one_line", "describe", "bad_type",
           "bad_value"]

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


class BadArgumentError(Exception):
    """`argument: expected <expected>, received <received>`: an argument that was wrong, with
    its three parts kept as one-line texts. Raised as `BadTypeError` or `BadValueError`, made
    by `bad_type`, `bad_value` or `from_parts` (no `__init__` of its own: dynamo cannot trace
    one, and a check that fails under torch.compile must still raise its own message)."""

    argument: str
    expected: str
    received: str

    @classmethod
    def from_parts(cls, argument: str, expected: str, received: str):
        """The error of this type naming `argument`, with `received` a one-line text."""
        error = cls(f"{argument}: expected {expected}, received {received}")
        error.argument, error.expected, error.received = argument, expected, received
        return error

    def renamed(self, argument: str):
        """The same error (type, expected, received) naming `argument` instead: the flag or the
        config file key that set a field, in place of `config.<field>`."""
        return type(self).from_parts(argument, self.expected, self.received)


class BadTypeError(BadArgumentError, TypeError):
    """An argument of the wrong type (`bad_type`)."""


class BadValueError(BadArgumentError, ValueError):
    """An argument of the right type with a wrong value (`bad_value`)."""


def bad_type(argument: str, expected: str, received) -> BadTypeError:
    """`received`: the value, described by `describe`."""
    return BadTypeError.from_parts(argument, expected, describe(received))


def bad_value(argument: str, expected: str, received) -> BadValueError:
    """`received`: a value (described by `describe`) or a one-line text built by the caller."""
    if not isinstance(received, str):
        received = describe(received)
    return BadValueError.from_parts(argument, expected, received)
