"""Every bad-input message is one line: `argument: expected ..., received ...`."""
import pickle

import numpy as np
import pytest

from puffer_backend.spec import BadArgumentError, BadTypeError, BadValueError, bad_type, bad_value
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


@pytest.mark.parametrize("make, base", [(bad_type, TypeError), (bad_value, ValueError)])
def test_errors_keep_their_parts_and_stay_the_builtin_types(make, base):
    error = make("config.gamma", "a number in [0, 1]", 2.0)
    assert isinstance(error, BadArgumentError) and isinstance(error, base)
    assert (error.argument, error.expected, error.received) == ("config.gamma", "a number in [0, 1]", "float 2.0")
    assert str(error) == "config.gamma: expected a number in [0, 1], received float 2.0"
    with pytest.raises(base, match=r"^config\.gamma: expected a number in \[0, 1\], received float 2\.0$"):
        raise error


def test_bad_value_keeps_a_received_text_as_given():
    error = bad_value("env_id", "a gymnax id", "'CartPol-v1' (did you mean CartPole-v1?)")
    assert type(error) is BadValueError and error.received == "'CartPol-v1' (did you mean CartPole-v1?)"
    assert str(error) == "env_id: expected a gymnax id, received 'CartPol-v1' (did you mean CartPole-v1?)"


def test_renamed_names_another_argument_with_the_same_type_and_parts():
    error = bad_type("config.seed", "an int", "7")
    renamed = error.renamed("--seed")
    assert type(renamed) is BadTypeError and str(renamed) == "--seed: expected an int, received str '7'"
    assert (renamed.expected, renamed.received) == (error.expected, error.received)
    assert error.argument == "config.seed"  # the original is unchanged


def test_from_parts_and_pickling_keep_the_parts():
    error = BadValueError.from_parts("step", "an integer", "1.5")
    assert str(error) == "step: expected an integer, received 1.5"
    copy = pickle.loads(pickle.dumps(error))  # errors cross processes (async envs, torchrun)
    assert type(copy) is BadValueError and str(copy) == str(error)
    assert (copy.argument, copy.expected, copy.received) == ("step", "an integer", "1.5")
