"""Dtype decisions the spec makes for both backends, checked against numpy's own rules."""
import numpy as np
import pytest

from puffer_backend import spec


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_compute_dtype_is_float32_or_wider_as_numpy_promotes(name):
    # numpy's promotion with float32 is the independent truth for the dtypes numpy has
    assert spec.compute_dtype_name(name) == np.promote_types(name, np.float32).name


@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"])
def test_compute_dtype_of_narrow_floats_is_float32(name):
    assert spec.compute_dtype_name(name) == "float32"


@pytest.mark.parametrize("name", ["int32", "uint8", "bool", "complex64", "float128", "floaty"])
def test_compute_dtype_refuses_what_is_not_a_float_up_to_64_bits(name):
    with pytest.raises(ValueError, match=rf"^dtype: expected a floating dtype.*received dtype {name}$"):
        spec.compute_dtype_name(name)
