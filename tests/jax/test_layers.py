"""layer_init and orthogonal: orthogonality (W W^T = std^2 I), layouts, flax, bias, errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from puffer_backend import jax_impl as J


def _semi_orthogonal(matrix, std):
    m = np.asarray(matrix, np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, std ** 2 * np.eye(gram.shape[0]), atol=1e-5)


@pytest.mark.parametrize("out_in", [(3, 8), (8, 3), (5, 5)])
def test_torch_layout_linear(out_in):
    params = {"weight": jnp.zeros(out_in), "bias": jnp.ones(out_in[0])}
    new = J.layer_init(params, jax.random.key(0), std=0.5, bias_const=0.25)
    assert set(new) == {"weight", "bias"} and new["weight"].shape == out_in
    _semi_orthogonal(new["weight"], 0.5)
    np.testing.assert_array_equal(new["bias"], np.full(out_in[0], 0.25, np.float32))
    np.testing.assert_array_equal(params["bias"], np.ones(out_in[0]))  # input left untouched


def test_flax_layout_kernel_and_conv_kernels():
    new = J.layer_init({"kernel": jnp.zeros((8, 3))}, jax.random.key(1))
    _semi_orthogonal(new["kernel"], math.sqrt(2))
    # conv: torch (out, in, kh, kw) is orthogonal over `out` against (in*kh*kw)
    torch_conv = J.layer_init({"weight": jnp.zeros((4, 2, 3, 3)), "bias": jnp.zeros(4)}, jax.random.key(2), std=1.0)
    _semi_orthogonal(np.asarray(torch_conv["weight"]).reshape(4, -1), 1.0)
    flax_conv = J.layer_init({"kernel": jnp.zeros((3, 3, 2, 4))}, jax.random.key(3), std=1.0)
    _semi_orthogonal(np.asarray(flax_conv["kernel"]).reshape(-1, 4), 1.0)


def test_orthogonal_from_flax_dense():
    flax = pytest.importorskip("flax.linen")
    layer = flax.Dense(6, kernel_init=J.orthogonal(0.01))
    params = layer.init(jax.random.key(0), jnp.zeros((1, 10)))["params"]
    _semi_orthogonal(params["kernel"], 0.01)
    _semi_orthogonal(J.orthogonal(2.0, column_axis=0)(jax.random.key(1), (6, 10)), 2.0)


def test_orthogonal_and_layer_init_on_equinox_linear():
    eqx = pytest.importorskip("equinox")
    linear = eqx.nn.Linear(10, 6, key=jax.random.key(0))  # weight (out, in), torch's layout
    weight = J.orthogonal(0.5, column_axis=0)(jax.random.key(1), linear.weight.shape, linear.weight.dtype)
    linear = eqx.tree_at(lambda layer: layer.weight, linear, weight)
    _semi_orthogonal(linear.weight, 0.5)
    fresh = J.layer_init({"weight": linear.weight, "bias": linear.bias}, jax.random.key(2), std=2.0, bias_const=0.1)
    linear = eqx.tree_at(lambda layer: (layer.weight, layer.bias), linear, (fresh["weight"], fresh["bias"]))
    _semi_orthogonal(linear.weight, 2.0)
    np.testing.assert_array_equal(np.asarray(linear.bias), np.full(6, 0.1, np.float32))
    assert linear(jnp.ones(10)).shape == (6,)


def test_layer_init_errors():
    with pytest.raises(ValueError, match="layer"):
        J.layer_init({"bias": jnp.zeros(3)}, jax.random.key(0))
    with pytest.raises(TypeError, match="layer"):
        J.layer_init(jnp.zeros((3, 3)), jax.random.key(0))
    with pytest.raises(ValueError, match="shape"):
        J.orthogonal(1.0)(jax.random.key(0), (5,))


def test_orthogonal_takes_jnp_scalars_eager_and_traced():
    _semi_orthogonal(J.orthogonal(jnp.sqrt(2))(jax.random.key(0), (4, 6)), math.sqrt(2))
    traced = jax.jit(lambda k: J.orthogonal(jnp.sqrt(2.0))(k, (4, 6)))(jax.random.key(0))  # std is a tracer there
    _semi_orthogonal(traced, math.sqrt(2))
    fresh = jax.jit(lambda k, s, b: J.layer_init({"weight": jnp.zeros((3, 5)), "bias": jnp.zeros(3)}, k, std=s,
                                                 bias_const=b))(jax.random.key(1), jnp.float32(0.5), jnp.float32(0.1))
    _semi_orthogonal(fresh["weight"], 0.5)
    np.testing.assert_allclose(fresh["bias"], np.full(3, 0.1, np.float32))
    with pytest.raises(TypeError, match="std: expected a real number"):
        jax.jit(lambda k, s: J.orthogonal(s)(k, (4, 6)))(jax.random.key(0), jnp.ones(2))


def test_orthogonal_from_flax_under_a_jitted_init():
    flax = pytest.importorskip("flax.linen")

    class Model(flax.Module):
        @flax.compact
        def __call__(self, x):
            return flax.Dense(6, kernel_init=J.orthogonal(jnp.sqrt(2)))(x)

    params = jax.jit(Model().init)(jax.random.key(0), jnp.zeros((1, 10)))["params"]
    _semi_orthogonal(params["Dense_0"]["kernel"], math.sqrt(2))


@pytest.mark.parametrize("key", [0, None, "key", np.zeros(2, np.float32), jnp.zeros((2,)), np.zeros((), np.uint32)],
                         ids=["int", "None", "str", "numpy float", "jax float", "0-d uint32"])
def test_layer_init_refuses_what_is_not_a_key(key):
    with pytest.raises((TypeError, ValueError), match=r"^key: expected a (jax PRNG key|single PRNG key).*received"):
        J.layer_init({"weight": jnp.zeros((3, 3))}, key)


def test_layer_init_batch_of_keys_and_torch_inputs():
    with pytest.raises(ValueError, match=r"key: expected a single PRNG key.*use jax.vmap"):
        J.layer_init({"weight": jnp.zeros((3, 3))}, jax.random.split(jax.random.key(0), 2))
    stacked = jax.vmap(lambda k: J.layer_init({"weight": jnp.zeros((3, 3))}, k)["weight"])(
        jax.random.split(jax.random.key(0), 2))
    assert stacked.shape == (2, 3, 3)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"key: expected .*exchange.to_jax"):
        J.layer_init({"weight": jnp.zeros((3, 3))}, torch.zeros(2, dtype=torch.int32))
    with pytest.raises(TypeError, match=r"layer: expected a params mapping \(for a torch module, use "
                                        r"puffer_backend.torch_impl.layer_init\)"):
        J.layer_init(torch.nn.Linear(3, 3), jax.random.key(0))
    with pytest.raises(TypeError, match=r"layer\['weight'\]: expected .*exchange.to_jax"):
        J.layer_init(torch.nn.Linear(3, 3).state_dict(), jax.random.key(0))
    with pytest.raises(TypeError, match=r"layer\['bias'\]: expected .*exchange.to_jax"):
        J.layer_init({"weight": jnp.zeros((3, 3)), "bias": torch.zeros(3)}, jax.random.key(0))
