"""The spec's x64 decision (`spec.dtypes.needs_x64`) is what JAX does, and jax_impl applies it.

Runs with x64 off (JAX's default); the 64-bit paths with x64 on are tested in subprocesses
(test_x64.py, test_nativize.py).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from puffer_backend import jax_impl as J
from puffer_backend import spec
from puffer_backend.spec.dtypes import needs_x64, x64_error

NAMES = (*spec.SUPPORTED_DTYPE_NAMES, "bool", "complex64", "complex128")

pytestmark = pytest.mark.skipif(jax.config.jax_enable_x64, reason="needs x64 off (JAX's default)")


@pytest.mark.parametrize("name", NAMES)
def test_needs_x64_is_exactly_what_jax_narrows(name):
    # the independent truth: the dtype JAX gives an array of this dtype with x64 off
    narrowed = jnp.asarray(np.zeros(2, name)).dtype.name != name
    assert needs_x64(name) == narrowed


@pytest.mark.parametrize("name", spec.SUPPORTED_DTYPE_NAMES)
def test_nativize_refuses_exactly_those_dtypes_with_the_spec_message(name):
    dtype = np.dtype(name)
    native = J.nativize_dtype({"observation_dtype": dtype, "emulated_observation_dtype": np.dtype((dtype, (3,)))})
    rows = np.zeros((2, 3), dtype)
    if not needs_x64(name):
        np.testing.assert_array_equal(np.asarray(J.nativize_tensor(rows, native)), rows)
        return
    with pytest.raises(ValueError) as info:
        J.nativize_tensor(rows, native)
    assert str(info.value) == str(x64_error("observation", name, f"dtype {name}"))
