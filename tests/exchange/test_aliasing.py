"""to_jax aliases a torch tensor's memory by default (documented, so pinned here); copy=True
isolates the JAX array from later in-place writes."""
import numpy as np
import pytest

from tests.exchange.cases import torch

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import to_jax  # noqa: E402


def test_default_aliases_so_a_later_in_place_write_shows_in_jax():
    tensor = torch.arange(16, dtype=torch.float32)  # fresh: 64-byte aligned, dense, so aliased
    array = to_jax(tensor)
    tensor[3] = 100.0
    tensor.mul_(2)
    expected = np.arange(16, dtype=np.float32) * 2
    expected[3] = 200.0
    np.testing.assert_array_equal(np.asarray(array), expected)
    assert float(jnp.sum(array)) == float(expected.sum())


@pytest.mark.parametrize("wrap", [lambda t: t, lambda t: {"obs": [t]}], ids=["tensor", "pytree"])
def test_copy_true_keeps_the_values_at_export(wrap):
    tensor = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    exported = to_jax(wrap(tensor), copy=True)
    array = exported if isinstance(exported, jax.Array) else exported["obs"][0]
    tensor.add_(1000)
    tensor[0, 0] = -1
    np.testing.assert_array_equal(np.asarray(array), np.arange(16, dtype=np.float32).reshape(4, 4))


def test_rollout_buffer_pattern():
    # A buffer rewritten every rollout: each exported snapshot must keep its own rollout.
    buffer = torch.zeros(3, 2, dtype=torch.int32)
    snapshots = []
    for rollout in range(3):
        for step in range(3):
            buffer[step] = rollout * 10 + step
        snapshots.append(to_jax(buffer, copy=True))
    for rollout, snapshot in enumerate(snapshots):
        truth = (rollout * 10 + np.arange(3, dtype=np.int32))[:, None].repeat(2, axis=1)
        np.testing.assert_array_equal(np.asarray(snapshot), truth)
    aliased = to_jax(buffer)
    buffer.zero_()
    assert not np.asarray(aliased).any()  # without copy=True the last export follows the buffer


def test_copy_true_of_a_numpy_array_is_isolated_too():
    values = np.arange(8, dtype=np.float32)
    array = to_jax(values, copy=True)
    values[:] = -1
    np.testing.assert_array_equal(np.asarray(array), np.arange(8, dtype=np.float32))


@pytest.mark.parametrize("dtype", ["int64", "uint64", "float64", "complex128"])
def test_numpy_64_bit_with_x64_off_names_the_numpy_dtype(dtype):
    assert not jax.config.jax_enable_x64
    with pytest.raises(ValueError) as info:
        to_jax({"obs": np.zeros(3, dtype)})
    message = str(info.value)
    assert message.startswith("x['obs']: expected") and "jax_enable_x64" in message
    assert f"received a numpy {dtype} array of shape (3,)" in message and "torch" not in message, message
