"""Every bad-input message is one line: `argument: expected ..., received ...`."""
import numpy as np
import pytest

from puffer_backend.spec import bad_type, bad_value
from puffer_backend.spec.errors import describe, one_line


class MultiLine:
    def __repr__(self):
        return "Module(\n  (0): Linear(in=4, out=8)\n\t(1): ReLU()\n)" + "\n  " * 50


class BrokenRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


def test_describe_collapses_a_multi_line_repr_and_truncates_it():
    text = describe(MultiLine())
    assert text == "MultiLine Module( (0): Linear(in=4, out=8) (1): ReLU() )"
    long = describe(list(range(100)))
    assert "\n" not in long and long.startswith("list [0, 1, 2") and long.endswith("...")
    assert len(long) == len("list ") + 80


def test_describe_arrays_by_dtype_and_shape():
    assert describe(np.zeros((2, 3), np.int16)) == "ndarray(dtype=int16, shape=(2, 3))"


def test_describe_survives_a_failing_repr():
    assert describe(BrokenRepr()) == "BrokenRepr <BrokenRepr with a failing repr>"


@pytest.mark.parametrize("make", [bad_type, bad_value])
def test_messages_are_one_line(make):
    error = make("layer", "a module with a weight", MultiLine())
    assert str(error) == ("layer: expected a module with a weight, "
                          "received MultiLine Module( (0): Linear(in=4, out=8) (1): ReLU() )")


def test_one_line_collapses_foreign_text():
    assert one_line("XlaRuntimeError:\n  INVALID_ARGUMENT:  bad\tbuffer\n") == "XlaRuntimeError: INVALID_ARGUMENT: bad buffer"
