"""Exported names, the dtype table and layer_init, on every backend."""
import numpy as np
import pytest

from puffer_backend import spec
from puffer_backend.spec import names


def _only(adapter):
    return names.TORCH_ONLY if adapter.name == "torch" else names.JAX_ONLY


def test_exports_are_the_spec_names(backend):
    assert sorted(backend.api.__all__) == sorted(names.BACKEND_NAMES + _only(backend))
    for name in backend.api.__all__:
        assert hasattr(backend.api, name), name


def _backend_dtype_name(backend, dtype) -> str:
    return backend.dtype_name(type("Holder", (), {"dtype": dtype})())


def test_dtype_dict_follows_the_spec_table(backend):
    table = backend.dtype_dict
    assert list(table) == list(spec.SUPPORTED_DTYPES)
    for key, value in table.items():
        assert isinstance(key, np.dtype)
        assert _backend_dtype_name(backend, value) == key.name


@pytest.mark.parametrize("name", spec.SUPPORTED_DTYPE_NAMES)
def test_dtype_dict_answers_every_spelling_of_a_dtype(backend, name):
    # PufferLib users index with np.dtype(...), the scalar type (np.float32) or the name
    table = backend.dtype_dict
    for key in (np.dtype(name), getattr(np, name), name, np.dtype(name).str):
        assert key in table, key
        assert _backend_dtype_name(backend, table[key]) == name, key
        assert _backend_dtype_name(backend, table.get(key)) == name, key


@pytest.mark.parametrize("key", [np.bool_, "complex64", np.dtype(">f4"), "not-a-dtype", None,
                                 np.dtype([("a", np.uint8)])])
def test_dtype_dict_refuses_dtypes_outside_the_table(backend, key):
    table = backend.dtype_dict
    assert key not in table and table.get(key) is None
    with pytest.raises(KeyError):
        table[key]


@pytest.mark.parametrize("std", [np.sqrt(2), 1.0, 0.01])
@pytest.mark.parametrize("shape", [(16, 64), (64, 64)])  # (out, in), out <= in: rows orthonormal
def test_layer_init_orthogonal_rows(backend, std, shape):
    out_features, in_features = shape
    params = backend.init_linear(in_features, out_features, std=std, bias_const=0.25, seed=3)
    w = params["weight"].astype(np.float64)
    assert w.shape == (out_features, in_features)
    np.testing.assert_allclose(w @ w.T, std ** 2 * np.eye(out_features), atol=1e-5 * max(1.0, std ** 2))
    np.testing.assert_array_equal(params["bias"], np.full(out_features, 0.25, np.float32))


def test_layer_init_orthogonal_columns_when_tall(backend):
    params = backend.init_linear(8, 32, std=2.0, seed=1)
    w = params["weight"].astype(np.float64)
    np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(params["bias"], np.zeros(32, np.float32))


def test_layer_init_without_bias(backend):
    params = backend.init_linear(12, 6, bias=False, std=1.0, seed=0)
    assert set(params) == {"weight"}
    w = params["weight"].astype(np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)


def test_layer_init_seeds_differ(backend):
    a = backend.init_linear(8, 8, seed=0)["weight"]
    b = backend.init_linear(8, 8, seed=1)["weight"]
    assert not np.allclose(a, b)


def _jax_scalar(value, dtype):
    jnp = pytest.importorskip("jax.numpy")
    return jnp.asarray(value, dtype)


def _torch_scalar(value, dtype):
    torch = pytest.importorskip("torch")
    return torch.tensor(value, dtype=getattr(torch, dtype))


# every kind of real scalar a user may hold: (builder of a scalar of value v)
REAL_SCALARS = {
    "python int": lambda v: int(v),
    "python float": lambda v: float(v),
    "numpy float32": lambda v: np.float32(v),
    "numpy int64": lambda v: np.int64(v),
    "numpy 0-d float64": lambda v: np.array(v, np.float64),
    "numpy 0-d int16": lambda v: np.array(v, np.int16),
    "jax 0-d float32": lambda v: _jax_scalar(v, "float32"),
    "jax 0-d int32": lambda v: _jax_scalar(v, "int32"),
    "torch 0-d float32": lambda v: _torch_scalar(v, "float32"),
    "torch 0-d int64": lambda v: _torch_scalar(v, "int64"),
}


@pytest.mark.parametrize("kind", list(REAL_SCALARS))
def test_layer_init_takes_any_real_scalar(backend, kind):
    make = REAL_SCALARS[kind]
    std, bias = (2.0, 3.0) if "int" in kind else (np.float32(np.sqrt(2)), 0.25)
    params = backend.init_linear(32, 16, std=make(std), bias_const=make(bias), seed=2)
    w = params["weight"].astype(np.float64)
    np.testing.assert_allclose(w @ w.T, float(std) ** 2 * np.eye(16), atol=1e-5 * float(std) ** 2)
    np.testing.assert_array_equal(params["bias"], np.full(16, bias, np.float32))


NOT_REAL_SCALARS = {
    "bool": lambda: True,
    "numpy bool": lambda: np.bool_(True),
    "complex": lambda: 1 + 2j,
    "numpy complex": lambda: np.complex64(1),
    "string": lambda: "1.0",
    "numpy array with axes": lambda: np.array([1.0, 2.0]),
    "numpy (1,) array": lambda: np.array([1.0]),
    "jax array with axes": lambda: _jax_scalar([1.0, 2.0], "float32"),
    "jax 0-d bool": lambda: _jax_scalar(True, "bool"),
    "torch tensor with axes": lambda: _torch_scalar([1.0, 2.0], "float32"),
    "torch 0-d bool": lambda: _torch_scalar(True, "bool"),
    "torch 0-d complex": lambda: _torch_scalar(1 + 1j, "complex64"),
}


@pytest.mark.parametrize("kind", list(NOT_REAL_SCALARS))
@pytest.mark.parametrize("argument", ["std", "bias_const"])
def test_layer_init_refuses_what_is_not_a_real_scalar(backend, kind, argument):
    value = NOT_REAL_SCALARS[kind]()
    with pytest.raises(TypeError) as info:
        backend.init_linear(8, 4, **{argument: value})
    message = str(info.value)
    assert message.startswith(f"{argument}: expected a real number") and "received" in message, message
