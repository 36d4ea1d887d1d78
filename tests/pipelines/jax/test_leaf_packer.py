"""LeafPacker: a pytree as one flat array per dtype and back, exactly, under jit too."""
import jax
import jax.numpy as jnp
import numpy as np

from puffer_backend.pipelines.jax.trees import LeafPacker


def example_tree():
    rng = np.random.default_rng(0)
    return {"pos": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
            "vel": (jnp.asarray(rng.normal(size=(4,)), jnp.float32), jnp.arange(8, dtype=jnp.int32).reshape(4, 2)),
            "done": jnp.asarray([True, False, True, True]),
            "scalar": jnp.float32(2.5),
            "key": jax.random.key(3)}  # a typed key: cannot be concatenated, kept apart


def test_round_trip_is_exact_and_packs_one_array_per_dtype():
    tree = example_tree()
    packer = LeafPacker(tree)
    flat, apart = packer.pack(tree)
    assert sorted(str(a.dtype) for a in flat) == ["bool", "float32", "int32"]
    assert len(apart) == 1
    back = packer.unpack((flat, apart))
    assert jax.tree.structure(back) == jax.tree.structure(tree)
    for got, want in zip(jax.tree.leaves(back), jax.tree.leaves(tree)):
        assert got.dtype == want.dtype and got.shape == want.shape
        if jax.dtypes.issubdtype(want.dtype, jax.dtypes.extended):
            np.testing.assert_array_equal(jax.random.key_data(got), jax.random.key_data(want))
        else:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_a_jitted_step_over_the_packed_tree_equals_the_step_over_the_tree():
    tree = example_tree()
    packer = LeafPacker(tree)

    def step(t):
        return {**t, "pos": t["pos"] * 2 + t["vel"][0][:, None], "done": ~t["done"]}

    packed_step = jax.jit(lambda p: packer.pack(step(packer.unpack(p))))
    got = packer.unpack(packed_step(packer.pack(tree)))
    want = step(tree)
    np.testing.assert_array_equal(np.asarray(got["pos"]), np.asarray(want["pos"]))
    np.testing.assert_array_equal(np.asarray(got["done"]), np.asarray(want["done"]))
    np.testing.assert_array_equal(np.asarray(got["vel"][1]), np.asarray(want["vel"][1]))
