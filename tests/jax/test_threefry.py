"""`jax_impl.threefry.random_bits` is `jax.random.bits` bit for bit, and defers to it otherwise."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from puffer_backend.jax_impl.threefry import random_bits


@pytest.mark.parametrize("shape", [(1,), (7,), (4096, 1), (5, 3), (2, 3, 4)])
@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey], ids=["typed", "legacy"])
def test_equals_jax_random_bits(shape, make_key):
    for seed in (0, 1, 2**31 + 5):
        key = make_key(seed)
        expected = np.asarray(jax.random.bits(key, shape, jnp.uint32))
        np.testing.assert_array_equal(np.asarray(random_bits(key, shape)), expected)
        np.testing.assert_array_equal(np.asarray(jax.jit(random_bits, static_argnums=1)(key, shape)), expected)


def test_vmap_over_keys_equals_jax_random_bits():
    keys = jax.random.split(jax.random.key(9), 6)
    ours = jax.vmap(lambda k: random_bits(k, (5,)))(keys)
    theirs = jax.vmap(lambda k: jax.random.bits(k, (5,), jnp.uint32))(keys)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_other_key_implementations_use_jax_random_bits():
    key = jax.random.key(4, impl="rbg")
    np.testing.assert_array_equal(np.asarray(random_bits(key, (33,))),
                                  np.asarray(jax.random.bits(key, (33,), jnp.uint32)))


def test_unrolled_so_xla_can_fuse_it():
    # JAX's own CPU lowering of threefry is a rolled while loop; ours must not be one.
    hlo = jax.jit(lambda k: random_bits(k, (64,))).lower(jax.random.key(0)).as_text()
    assert "while" not in hlo


@pytest.mark.parametrize("keys", [jax.random.split(jax.random.key(1), 3), jnp.zeros((3, 2), jnp.uint32)],
                         ids=["typed", "raw"])
def test_a_batch_of_keys_is_refused_as_jax_random_bits_refuses_it(keys):
    with pytest.raises((TypeError, ValueError)):
        jax.random.bits(keys, (4,), jnp.uint32)
    with pytest.raises((TypeError, ValueError)):
        random_bits(keys, (4,))
