"""The shared observation checks: the float-cast guess for layouts without a sample dtype."""
import pytest

from puffer_backend.spec import checks


@pytest.mark.parametrize("observation, leaves, expected", [
    ("float32", ["int32"], "int32"),            # same itemsize: still a cast
    ("float32", ["uint8", "int16"], "uint8"),   # mixed integer leaves were raw bytes
    ("bfloat16", ["uint8"], "uint8"),
    ("float32", ["float32", "int16"], None),    # a float leaf: float rows may be genuine
    ("float32", ["bfloat16"], None),
    ("uint8", ["int32"], None),                 # not a float: nothing to guess
    ("float32", [], None),
])
def test_guess_sample_dtype(observation, leaves, expected):
    assert checks.guess_sample_dtype(observation, leaves) == expected


def test_a_guess_refused_by_check_observation_names_the_cast():
    layout = ("int32", (2,), 0, 2)
    with pytest.raises(ValueError, match=r"observation: expected dtype int32.*cast to float"):
        checks.check_observation((3, 2), "float32", layout, checks.guess_sample_dtype("float32", ["int32"]))
