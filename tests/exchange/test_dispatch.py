"""Imported arrays take jit's C++ fast path, like JAX's own arrays (load-independent check)."""
import sys

import numpy as np

from tests.exchange.cases import torch

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import to_jax, to_torch  # noqa: E402


def python_calls(fn, *args) -> int:
    """Python-level function calls made while running fn(*args)."""
    count = 0

    def profiler(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profiler)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return count


def test_imported_arrays_hit_the_jit_fast_path():
    step = jax.jit(lambda obs, action: (obs * 2.0 + action[:, None], action.sum()))
    obs, action = torch.ones(64, 4), torch.zeros(64, dtype=torch.int32)
    native = (jnp.ones((64, 4)), jnp.zeros(64, jnp.int32))
    step(*native)[0].block_until_ready()  # compile with JAX's own arrays
    step(to_jax(obs), to_jax(action))[0].block_until_ready()
    imported = (to_jax(obs), to_jax(action))
    # A cache miss or a slow-path dispatch runs hundreds of Python calls; the fast path none.
    assert python_calls(step, *imported) == python_calls(step, *native)
    fresh = [(to_jax(obs), to_jax(action)) for _ in range(5)]
    assert all(python_calls(step, *args) == python_calls(step, *native) for args in fresh)


def test_exchange_makes_few_python_calls_per_array():
    tensor, array = torch.ones(64, 4), jnp.ones((64, 4))
    to_jax(tensor), to_torch(array)
    # Only this package's own functions run: no jnp.asarray re-dispatch, no device lookup.
    assert python_calls(to_jax, tensor) <= 6
    assert python_calls(to_torch, array) <= 6


def test_donating_an_imported_array_leaves_the_tensor_intact():
    donate = jax.jit(lambda s: s * 0.5 + 1.0, donate_argnums=0)
    source = torch.ones(64, 4)
    out = donate(to_jax(source))
    np.testing.assert_array_equal(source.numpy(), np.ones((64, 4)))
    np.testing.assert_array_equal(np.asarray(out), np.full((64, 4), 1.5))


def test_donating_an_exported_array_leaves_the_tensor_intact():
    donate = jax.jit(lambda a: a * 0 - 7.0, donate_argnums=0)
    array = jnp.arange(1024.0) + 1
    view = to_torch(array)
    out = donate(array)  # XLA must not reuse a buffer torch still reads
    np.testing.assert_array_equal(view.numpy(), np.arange(1024.0) + 1)
    np.testing.assert_array_equal(np.asarray(out), np.full(1024, -7.0))
