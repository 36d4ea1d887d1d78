"""The receiving array keeps the producer's buffer alive after the source is gone."""
import gc

import numpy as np

from tests.exchange.cases import torch

import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import to_jax, to_torch  # noqa: E402


def churn():
    """Allocate and fill garbage so that freed buffers would be reused and overwritten."""
    junk = [torch.full((4096,), -7.0) for _ in range(64)]
    junk += [jnp.full((4096,), -9.0) for _ in range(64)]
    del junk
    gc.collect()


def test_jax_array_outlives_torch_source():
    expected = np.arange(4096, dtype=np.float32)
    source = torch.from_numpy(expected.copy()).clone()
    imported = to_jax(source)
    del source
    gc.collect()
    churn()
    np.testing.assert_array_equal(np.asarray(imported), expected)
    np.testing.assert_array_equal(np.asarray(imported + 1), expected + 1)


def test_torch_tensor_outlives_jax_source():
    expected = np.arange(4096, dtype=np.float32) * 3
    source = jnp.asarray(expected)
    exported = to_torch(source)
    del source
    gc.collect()
    churn()
    np.testing.assert_array_equal(exported.numpy(), expected)


def test_view_of_a_dropped_base_stays_valid():
    expected = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
    base = torch.from_numpy(expected.copy()).clone()
    view = base.T
    imported = to_jax(view)
    del base, view
    gc.collect()
    churn()
    np.testing.assert_array_equal(np.asarray(imported), expected.T)


def test_round_trip_outlives_both_intermediates():
    expected = np.linspace(-1, 1, 1000, dtype=np.float32)
    source = torch.from_numpy(expected.copy()).clone()
    middle = to_jax(source)
    back = to_torch(middle)
    del source, middle
    gc.collect()
    churn()
    np.testing.assert_array_equal(back.numpy(), expected)
