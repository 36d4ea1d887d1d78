"""nativize_dtype / nativize_tensor bit-exact against numpy structured arrays."""
import gymnasium.spaces as gs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puffer_backend import spec

ELEMENTS = ["float64", "float32", "float16", "uint64", "uint32", "uint16", "uint8",
            "int64", "int32", "int16", "int8"]
WIDE = ["float64", "float32", "uint64", "uint32", "int64", "int32"]  # itemsize >= 4


def _random_rows(dtype: np.dtype, batch: int, sample: np.dtype, seed: int) -> np.ndarray:
    raw = np.random.default_rng(seed).integers(0, 256, size=(batch, dtype.itemsize), dtype=np.uint8)
    return raw.view(sample)


def _truth_fields(rows: np.ndarray, dtype: np.dtype):
    """{path: numpy array} of every leaf, read through a numpy structured view."""
    raw = np.ascontiguousarray(rows).view(np.uint8)
    if dtype.fields is None:  # a plain sub-array dtype: numpy has no structured view of it
        element, shape = dtype.subdtype
        return {(): raw.view(element).reshape(rows.shape[0], *shape)}
    structured = raw.view(dtype)[:, 0]
    out = {}

    def walk(value, dt, path):
        if dt.fields is not None:
            for name in dt.names:
                walk(value[name], dt.fields[name][0], (*path, name))
        else:
            out[path] = value
    walk(structured, dtype, ())
    return out


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _can_hold(backend, dtypes) -> bool:
    """dtypes: numpy dtypes or the backend's own (leaf dtypes), mapped back through the dtype dict."""
    to_numpy = {value: key for key, value in backend.dtype_dict.items()}
    try:
        return all(backend.can_hold(np.dtype(to_numpy.get(d, d))) for d in dtypes)
    except NotImplementedError:  # adapters without the capability hold every dtype
        return True


def _check_bit_exact(backend, dtype: np.dtype, sample: str, batch: int = 5, seed: int = 0):
    """Returns (native, obs, out); out is None when the backend refused 64-bit data it cannot hold."""
    rows = _random_rows(dtype, batch, np.dtype(sample), seed)
    native = backend.api.nativize_dtype({"observation_dtype": np.dtype(sample), "emulated_observation_dtype": dtype})
    obs = backend.array(rows)
    if not _can_hold(backend, [sample, *(leaf.dtype for _, leaf in spec.leaves(native))]):
        # JAX with x64 off: a 64-bit leaf must be an error naming the switch, never a silent narrowing.
        with pytest.raises(ValueError, match="jax_enable_x64"):
            backend.api.nativize_tensor(obs, native)
        return native, obs, None
    out = backend.api.nativize_tensor(obs, native)
    for path, truth in _truth_fields(rows, dtype).items():
        got = backend.numpy(_get(out, path))
        leaf = dict(spec.leaves(native))[path]
        assert got.shape == (batch, *leaf.shape), path
        assert got.dtype == truth.dtype, path
        width = truth.dtype.itemsize * int(np.prod(leaf.shape))
        np.testing.assert_array_equal(np.ascontiguousarray(got).view(np.uint8).reshape(batch, width),
                                      np.ascontiguousarray(truth).view(np.uint8).reshape(batch, width),
                                      err_msg=str(path))
    return native, obs, out


NESTED = np.dtype([("pos", np.float32, (3,)), ("flag", np.uint8),
                   ("inner", np.dtype([("id", np.int64), ("hp", np.int16, (2,))], align=True)),
                   ("grid", np.int8, (2, 3))], align=True)


@pytest.mark.parametrize("align", [True, False], ids=["aligned", "packed"])
def test_nested_bytes(backend, align):
    dtype = np.dtype([("a", np.int8), ("b", np.float32, (2,)), ("c", np.uint16),
                      ("d", np.dtype([("e", np.float64), ("f", np.uint8, (3,))], align=align))], align=align)
    _check_bit_exact(backend, dtype, "uint8")
    _check_bit_exact(backend, NESTED, "uint8")


def test_tail_padded(backend):
    dtype = np.dtype({"names": ["x", "y"], "formats": [np.float32, np.uint8], "offsets": [0, 8], "itemsize": 16})
    native, _, _ = _check_bit_exact(backend, dtype, "uint8")
    assert native["y"][2:] == (8, 1)


@pytest.mark.parametrize("sample", ["float32", "int32"])
def test_wide_sample_dtypes(backend, sample):
    dtype = np.dtype([("a", np.float32, (2,)), ("b", np.int32), ("c", np.dtype([("d", np.float64)]))], align=True)
    native, _, _ = _check_bit_exact(backend, dtype, sample)
    assert native["b"][2:] == (2, 1)  # offsets and deltas count sample elements


def test_unstructured_leaf(backend):
    dtype = np.dtype((np.uint8, (4, 5)))
    native, obs, out = _check_bit_exact(backend, dtype, "uint8")
    assert tuple(native)[1:] == ((4, 5), 0, 20)
    assert backend.numpy(out).shape == (5, 4, 5)


@st.composite
def structured_dtypes(draw, elements, depth=2):
    n = draw(st.integers(1, 4))
    fields = []
    for i in range(n):
        if depth > 0 and draw(st.booleans()):
            fields.append((f"s{i}", draw(structured_dtypes(elements, depth - 1))))
        else:
            shape = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
            fields.append((f"f{i}", np.dtype(draw(st.sampled_from(elements))), shape))
    return np.dtype(fields, align=draw(st.booleans()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=structured_dtypes(ELEMENTS), batch=st.integers(0, 4), seed=st.integers(0, 2 ** 16))
def test_random_nested_layouts_bytes(backend, dtype, batch, seed):
    _check_bit_exact(backend, dtype, "uint8", batch, seed)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=structured_dtypes(WIDE), sample=st.sampled_from(["float32", "int32"]), seed=st.integers(0, 2 ** 16))
def test_random_nested_layouts_wide_samples(backend, dtype, sample, seed):
    _check_bit_exact(backend, dtype, sample, 3, seed)


def _stack(space, samples):
    if isinstance(space, gs.Dict):
        return {k: _stack(sub, [s[k] for s in samples]) for k, sub in space.spaces.items()}
    if isinstance(space, gs.Tuple):
        return tuple(_stack(sub, [s[i] for s in samples]) for i, sub in enumerate(space.spaces))
    return np.stack([np.asarray(s) for s in samples])


def test_gymnasium_spaces_through_pack_batch(backend):
    space = gs.Dict({
        "image": gs.Box(0, 255, (3, 4), np.uint8),
        "action_mask": gs.MultiBinary(5),
        "state": gs.Tuple((gs.Box(-1, 1, (2,), np.float32), gs.Discrete(7), gs.MultiDiscrete([3, 4]))),
    })
    space.seed(0)
    samples = [space.sample() for _ in range(6)]
    rows = spec.pack_batch(space, _stack(space, samples))
    native = backend.api.nativize_dtype(space)
    out = backend.api.nativize_tensor(backend.array(rows), native)
    truth = spec.unpack_batch(space, rows)
    np.testing.assert_array_equal(backend.numpy(out["image"]), truth["image"])
    np.testing.assert_array_equal(backend.numpy(out["action_mask"]), truth["action_mask"])
    np.testing.assert_array_equal(backend.numpy(out["state"]["f0"]), truth["state"]["f0"])
    np.testing.assert_array_equal(backend.numpy(out["state"]["f1"])[:, 0], [s["state"][1] for s in samples])
    np.testing.assert_array_equal(backend.numpy(out["state"]["f2"]), truth["state"]["f2"])


def test_gymnasium_box_float32(backend):
    space = gs.Box(-1, 1, (4, 2), np.float32)
    space.seed(1)
    samples = np.stack([space.sample() for _ in range(3)])
    rows = spec.pack_batch(space, samples)
    out = backend.api.nativize_tensor(backend.array(rows), backend.api.nativize_dtype(space))
    np.testing.assert_array_equal(backend.numpy(out), samples)


def test_zero_copy_where_aligned(backend):
    native, obs, out = _check_bit_exact(backend, NESTED, "uint8", batch=4)
    if out is None:
        pytest.skip(f"{backend.name} cannot hold NESTED's 64-bit leaf in this configuration")
    for path, _ in spec.leaves(native):
        shared = backend.shares_memory(_get(out, path), obs)
        if shared is None:
            pytest.skip(f"{backend.name} cannot tell whether buffers are shared")
        assert shared, path


def test_flattened_tensor_size(backend):
    native = backend.api.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": NESTED})
    size = backend.api.flattened_tensor_size(native)
    assert type(size) is int and size == 3 + 1 + 1 + 2 + 6
    leaf = backend.api.nativize_dtype({"observation_dtype": np.float32,
                                       "emulated_observation_dtype": np.dtype((np.float32, (4, 5)))})
    assert backend.api.flattened_tensor_size(leaf) == 20


def test_attribute_emulated(backend):
    class Emulated:
        observation_dtype = np.dtype(np.uint8)
        emulated_observation_dtype = NESTED
    assert backend.api.nativize_dtype(Emulated()) == backend.api.nativize_dtype(
        {"observation_dtype": np.uint8, "emulated_observation_dtype": NESTED})


def test_empty_batch_nativize(backend):
    _check_bit_exact(backend, NESTED, "uint8", batch=0)
