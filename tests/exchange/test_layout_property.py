"""Random views: values always right, and `copy=False` succeeds exactly when XLA can alias."""
import numpy as np
from hypothesis import given, settings, strategies as st

from tests.exchange.cases import torch

import jax  # noqa: E402

from puffer_backend.exchange import to_jax  # noqa: E402


@st.composite
def views(draw):
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4))
    base = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    tensor = torch.from_numpy(base.copy()).clone()  # torch-owned, 64-byte aligned storage
    index = tuple(slice(draw(st.integers(0, 2)), None, draw(st.integers(1, 2))) for _ in shape)
    order = draw(st.permutations(range(len(shape))))
    view, truth = tensor[index].permute(*order), base[index].transpose(order)
    if draw(st.booleans()) and view.dim() > 0 and view.shape[0] == 1:
        view = view.expand(3, *view.shape[1:])
        truth = np.broadcast_to(truth, (3, *truth.shape[1:]))
    return view, truth


def jax_itself_aliases(view) -> bool:
    try:
        return jax.dlpack.from_dlpack(view, copy=False).unsafe_buffer_pointer() == view.data_ptr()
    except Exception:  # noqa: BLE001 - JAX refuses with several error types
        return False


@settings(max_examples=150, deadline=None)
@given(views())
def test_random_views(case):
    view, truth = case
    np.testing.assert_array_equal(np.asarray(to_jax(view)), truth)
    if view.numel() == 0:
        return
    try:
        strict = to_jax(view, copy=False)
    except ValueError:
        aliased = False
    else:
        aliased = strict.unsafe_buffer_pointer() == view.data_ptr()
        assert aliased, "copy=False returned a copy"
        np.testing.assert_array_equal(np.asarray(strict), truth)
    assert aliased == jax_itself_aliases(view), (tuple(view.shape), view.stride())
