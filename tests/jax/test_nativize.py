"""nativize_tensor against numpy's structured view: bit-exact, jit, vmap, grad-free, errors, x64."""
import os
import subprocess
import sys
import textwrap

import gymnasium.spaces as S
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from puffer_backend import jax_impl as J
from puffer_backend import spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _random_rows(dtype, batch, seed=0):
    raw = np.random.default_rng(seed).integers(0, 256, size=(batch, dtype.itemsize), dtype=np.uint8)
    return raw


def _check_bit_exact(sample, structured, batch=5, jit=True):
    """Random bytes viewed as rows of `sample`; every leaf equals numpy's field, bit for bit."""
    structured = np.dtype(structured)
    raw = _random_rows(structured, batch)
    rows = raw.view(sample)
    native = J.nativize_dtype({"observation_dtype": sample, "emulated_observation_dtype": structured})
    fn = jax.jit(lambda o: J.nativize_tensor(o, native)) if jit else (lambda o: J.nativize_tensor(o, native))
    out = fn(jnp.asarray(rows))
    reference = raw.view(structured)[:, 0]

    def walk(out, ref, dt):
        if dt.fields is None:
            got = np.asarray(out)
            want = np.asarray(ref).reshape(got.shape)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.view(np.uint8), np.ascontiguousarray(want).view(np.uint8))
            return
        for name in dt.names:
            walk(out[name], ref[name], dt.fields[name][0])

    walk(out, reference, structured)


LAYOUTS = [
    np.dtype([("a", np.float32, (3,)), ("b", np.int16), ("c", np.uint8, (2, 2))], align=True),
    np.dtype([("a", np.float32, (3,)), ("b", np.int16), ("c", np.uint8, (3,))], align=False),
    np.dtype([("x", np.dtype([("p", np.int8), ("q", np.float16, (2,))], align=True)), ("y", np.uint32)],
             align=True),
    np.dtype({"names": ["a", "b"], "formats": [np.float16, np.int8], "offsets": [0, 4], "itemsize": 8}),
]


@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_bytes_rows_bit_exact_under_jit(layout):
    _check_bit_exact(np.uint8, LAYOUTS[layout])


@pytest.mark.parametrize("sample", [np.int16, np.uint16, np.float16])
def test_wider_sample_dtypes_bit_exact(sample):
    structured = np.dtype([("a", np.float32, (2,)), ("b", np.int16, (2,)), ("c", np.uint16)], align=False)
    _check_bit_exact(sample, structured, jit=False)
    _check_bit_exact(sample, structured, jit=True)


def test_plain_box_and_gymnasium_space():
    space = S.Dict({"img": S.Box(0, 255, (4, 4), np.uint8), "pos": S.Box(-1, 1, (2,), np.float32),
                    "id": S.Discrete(3), "tup": S.Tuple((S.MultiDiscrete([2, 3]), S.MultiBinary(3)))})
    samples = [space.sample() for _ in range(6)]
    batch = {"img": np.stack([s["img"] for s in samples]), "pos": np.stack([s["pos"] for s in samples]),
             "id": np.stack([s["id"] for s in samples]),
             "tup": (np.stack([s["tup"][0] for s in samples]), np.stack([s["tup"][1] for s in samples]))}
    rows = spec.pack_batch(space, batch)
    out = jax.jit(lambda o: J.nativize_tensor(o, J.nativize_dtype(space)))(rows)
    np.testing.assert_array_equal(out["img"], batch["img"])
    np.testing.assert_array_equal(out["pos"], batch["pos"])
    np.testing.assert_array_equal(np.asarray(out["id"])[:, 0], batch["id"])
    np.testing.assert_array_equal(out["tup"]["f0"], batch["tup"][0])
    np.testing.assert_array_equal(out["tup"]["f1"], batch["tup"][1])
    assert J.flattened_tensor_size(J.nativize_dtype(space)) == 16 + 2 + 1 + 2 + 3


def test_vmap_and_empty_batch():
    structured = LAYOUTS[0]
    native = J.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": structured})
    raw = np.random.default_rng(1).integers(0, 256, size=(3, 4, structured.itemsize), dtype=np.uint8)
    out = jax.vmap(lambda o: J.nativize_tensor(o, native))(jnp.asarray(raw))
    for i in range(3):
        single = J.nativize_tensor(jnp.asarray(raw[i]), native)
        np.testing.assert_array_equal(out["a"][i], single["a"])
    empty = jax.jit(lambda o: J.nativize_tensor(o, native))(jnp.zeros((0, structured.itemsize), jnp.uint8))
    assert empty["c"].shape == (0, 2, 2) and empty["a"].dtype == jnp.float32


def test_errors_at_trace_time():
    native = J.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUTS[0]})
    width = LAYOUTS[0].itemsize
    fn = jax.jit(lambda o: J.nativize_tensor(o, native))
    with pytest.raises(ValueError, match="cast to float"):
        fn(jnp.zeros((2, width), jnp.float32))
    for wrong_width in (width - 1, width + 4):  # the layout records its row width: exactly that
        with pytest.raises(ValueError, match=f"expected {width} elements per row.*received {wrong_width} elements"):
            fn(jnp.zeros((2, wrong_width), jnp.uint8))
    hand_built = dict(native)  # plain tuples record no width: only narrower than the leaves is refused
    with pytest.raises(ValueError, match="at least"):
        J.nativize_tensor(jnp.zeros((2, spec.row_width(native) - 1), jnp.uint8), hand_built)
    with pytest.raises(ValueError, match="observation"):
        fn(jnp.zeros((width,), jnp.uint8))
    with pytest.raises(TypeError, match="observation"):
        J.nativize_tensor([[1, 2]], native)


def test_64_bit_refused_with_x64_off():
    if jax.config.jax_enable_x64:
        pytest.skip("x64 is on in this process")
    structured = np.dtype([("a", np.float64), ("b", np.int32, (2,))])
    native = J.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": structured})
    with pytest.raises(ValueError, match="jax_enable_x64"):
        J.nativize_tensor(jnp.zeros((2, 16), jnp.uint8), native)
    plain = J.nativize_dtype({"observation_dtype": np.int64, "emulated_observation_dtype": np.dtype((np.int64, (3,)))})
    with pytest.raises(ValueError, match="jax_enable_x64"):
        J.nativize_tensor(np.zeros((2, 3), np.int64), plain)


X64_SCRIPT = textwrap.dedent("""
    import jax, numpy as np, jax.numpy as jnp
    assert jax.config.jax_enable_x64
    from puffer_backend import jax_impl as J
    structured = np.dtype([("a", np.float64), ("b", np.int32, (2,)), ("c", np.uint64)], align=True)
    raw = np.random.default_rng(0).integers(0, 256, size=(4, structured.itemsize), dtype=np.uint8)
    native = J.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": structured})
    out = jax.jit(lambda o: J.nativize_tensor(o, native))(jnp.asarray(raw))
    ref = raw.view(structured)[:, 0]
    assert out["a"].dtype == jnp.float64 and out["c"].dtype == jnp.uint64
    for k in ("a", "b", "c"):
        got = np.asarray(out[k]); want = np.ascontiguousarray(ref[k]).reshape(got.shape)
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), k
    action, logp, ent = J.sample_logits(jax.random.key(0), jnp.zeros((3, 4), jnp.float64))
    assert action.dtype == jnp.int64 and logp.dtype == jnp.float64, (action.dtype, logp.dtype)
    print("ok")
""")


def test_x64_on_in_subprocess_keeps_64_bit_leaves():
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", X64_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_grad_and_vmap_through_float_leaves():
    # float32 rows with float32 leaves: nativize is pure slicing, so gradients flow to the rows
    structured = np.dtype([("a", np.float32, (2,)), ("b", np.float32, (3,))])
    native = J.nativize_dtype({"observation_dtype": np.float32, "emulated_observation_dtype": structured})
    rows = jnp.asarray(np.random.default_rng(2).normal(size=(4, 5)), jnp.float32)

    def loss(o):
        out = J.nativize_tensor(o, native)
        return (2.0 * out["a"]).sum() + (out["b"] ** 2).sum()

    grad = np.asarray(jax.jit(jax.grad(loss))(rows))
    np.testing.assert_allclose(grad[:, :2], 2.0)
    np.testing.assert_allclose(grad[:, 2:], 2.0 * np.asarray(rows)[:, 2:], rtol=1e-6)
