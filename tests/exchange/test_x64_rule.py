"""exchange applies the spec's x64 decision (`spec.dtypes.needs_x64`): with x64 off, to_jax
refuses exactly the dtypes the spec names, for torch tensors and numpy arrays alike, with the
spec's message."""
import numpy as np
import pytest

from tests.exchange.cases import DTYPES, torch, torch_from_truth, truth

import jax  # noqa: E402

from puffer_backend.exchange import to_jax  # noqa: E402
from puffer_backend.spec.dtypes import needs_x64, x64_error  # noqa: E402

pytestmark = pytest.mark.skipif(jax.config.jax_enable_x64, reason="needs x64 off (JAX's default)")


@pytest.mark.parametrize("name", sorted(DTYPES))
def test_torch_tensors_refused_exactly_when_the_spec_says(name):
    torch_dtype, numpy_dtype = DTYPES[name]
    source = torch_from_truth(truth(name, (3,)), torch_dtype)
    if not needs_x64(numpy_dtype.name):
        assert np.asarray(to_jax(source)).dtype == numpy_dtype
        return
    with pytest.raises(ValueError) as info:
        to_jax(source)
    assert str(info.value) == str(x64_error("x", str(torch_dtype), f"a {torch_dtype} tensor of shape (3,)"))


# numpy's own dtypes (ml_dtypes' bfloat16 has no torch view, so to_jax refuses it whatever x64 says)
NUMPY_NAMES = [*sorted(name for name in DTYPES if name != "bfloat16"), "complex64", "complex128"]


@pytest.mark.parametrize("name", NUMPY_NAMES)
def test_numpy_arrays_refused_exactly_when_the_spec_says(name):
    array = np.zeros(3, name)
    if not needs_x64(array.dtype.name):
        assert np.asarray(to_jax(array)).dtype == array.dtype
        return
    with pytest.raises(ValueError) as info:
        to_jax(array)
    assert str(info.value) == str(x64_error("x", array.dtype.name, f"a numpy {array.dtype} array of shape (3,)"))


def test_complex128_tensor_is_refused():
    with pytest.raises(ValueError, match="jax_enable_x64"):
        to_jax(torch.zeros(3, dtype=torch.complex128))
