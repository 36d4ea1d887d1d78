"""Bad input: TypeError/ValueError whose message names the argument, expected and received."""
import numpy as np
import pytest

from . import _truth

LAYOUT = np.dtype([("a", np.float32, (2,)), ("b", np.int16)], align=True)  # 12 bytes


def _native(backend, sample=np.uint8, dtype=LAYOUT):
    return backend.api.nativize_dtype({"observation_dtype": sample, "emulated_observation_dtype": dtype})


def _raises(kind, argument, fn, *args, **kwargs):
    with pytest.raises(kind) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert argument in message and "expected" in message and "received" in message, message
    return message


def test_observation_wrong_dtype(backend):
    obs = backend.array(np.zeros((2, 3), np.int32))  # 12 bytes per row, but int32 elements
    _raises(ValueError, "observation", backend.api.nativize_tensor, obs, _native(backend))


def test_observation_cast_to_float(backend):
    obs = backend.array(np.zeros((2, 12), np.float32))
    message = _raises(ValueError, "observation", backend.api.nativize_tensor, obs, _native(backend))
    assert "float" in message and "cast" in message


def _hand_built(backend, layout):
    """PufferLib-style tuples `(dtype, shape, offset, delta)` with no recorded sample dtype."""
    return {name: (backend.dtype_dict[np.dtype(dtype)], shape, offset, delta)
            for name, (dtype, shape, offset, delta) in layout.items()}


def test_hand_built_layout_cast_to_float(backend):
    # Without a recorded sample dtype, a float observation for integer leaves is the cast,
    # also when its itemsize matches theirs (float bits must not be read as int32).
    mixed = _hand_built(backend, {"a": (np.uint8, (4,), 0, 4), "b": (np.int16, (2,), 4, 4)})
    int32s = _hand_built(backend, {"a": (np.int32, (2,), 0, 2)})
    for obs, native in ((np.zeros((2, 8), np.float32), mixed), (np.zeros((2, 2), np.float32), int32s)):
        message = _raises(ValueError, "observation", backend.api.nativize_tensor, backend.array(obs), native)
        assert "float" in message and "cast" in message
    _raises(ValueError, "observation", backend.api.nativize_tensor, backend.array(np.zeros((2, 4), np.int16)), mixed)
    raw = np.arange(16, dtype=np.uint8).reshape(2, 8)
    out = backend.api.nativize_tensor(backend.array(raw), mixed)
    np.testing.assert_array_equal(backend.numpy(out["b"]), raw[:, 4:8].copy().view(np.int16))


def test_observation_too_narrow_or_wrong_rank(backend):
    _raises(ValueError, "observation", backend.api.nativize_tensor,
            backend.array(np.zeros((2, 8), np.uint8)), _native(backend))
    _raises(ValueError, "observation", backend.api.nativize_tensor,
            backend.array(np.zeros(12, np.uint8)), _native(backend))


def test_observation_not_an_array(backend):
    _raises(TypeError, "observation", backend.api.nativize_tensor, [[0] * 12], _native(backend))


@pytest.mark.parametrize("field", [np.complex64, np.bool_, ">f4"], ids=["complex", "bool", "big-endian"])
def test_unsupported_field_dtypes(backend, field):
    dtype = np.dtype([("x", field), ("y", np.uint8)])
    with pytest.raises((TypeError, ValueError)) as info:
        _native(backend, dtype=dtype)
    assert "emulated" in str(info.value)


def test_big_endian_sample_dtype(backend):
    with pytest.raises(ValueError, match="emulated.observation_dtype"):
        _native(backend, sample=np.dtype(">f4"), dtype=np.dtype((np.float32, (2,))))


def test_emulated_not_a_mapping(backend):
    _raises(TypeError, "emulated", backend.api.nativize_dtype, 42)
    _raises(ValueError, "emulated", backend.api.nativize_dtype, {"observation_dtype": np.uint8})


def test_native_dtype_wrong_type(backend):
    _raises(TypeError, "native_dtype", backend.api.nativize_tensor, backend.array(np.zeros((2, 12), np.uint8)), 3)


def _logits(backend, batch=4, n=3):
    return backend.array(np.zeros((batch, n), np.float32))


def test_action_out_of_range(backend):
    for bad in ([0, 1, 3, 0], [0, -1, 0, 0]):
        _raises(ValueError, "action", backend.sample_logits, _logits(backend), backend.array(np.array(bad, np.int32)))
    heads = (_logits(backend, 4, 2), _logits(backend, 4, 5))
    bad = np.array([[0, 4], [1, 0], [2, 0], [0, 0]], np.int32)  # 2 is out of range for the first head
    _raises(ValueError, "action", backend.sample_logits, heads, backend.array(bad))


def test_action_wrong_shape(backend):
    _raises(ValueError, "action", backend.sample_logits, _logits(backend), backend.array(np.zeros(5, np.int32)))
    heads = (_logits(backend, 4, 2), _logits(backend, 4, 5))
    _raises(ValueError, "action", backend.sample_logits, heads, backend.array(np.zeros((4, 3), np.int32)))


def test_action_float_dtype(backend):
    _raises(TypeError, "action", backend.sample_logits, _logits(backend), backend.array(np.zeros(4, np.float32)))


def test_log_prob_bad_values(backend):
    _raises(ValueError, "value", backend.api.log_prob, _logits(backend), backend.array(np.array([0, 1, 2, 3], np.int32)))
    _raises(ValueError, "value", backend.api.log_prob, _logits(backend), backend.array(np.zeros(3, np.int32)))


def test_mask_mismatch(backend):
    _raises(ValueError, "mask", backend.sample_logits, _logits(backend), mask=backend.array(np.ones((4, 4), bool)))
    _raises(TypeError, "mask", backend.sample_logits, _logits(backend), mask=backend.array(np.ones((4, 3), np.int32)))
    heads = (_logits(backend, 4, 2), _logits(backend, 4, 5))
    masks = (backend.array(np.ones((4, 2), bool)), backend.array(np.ones((4, 4), bool)))
    _raises(ValueError, "mask[1]", backend.sample_logits, heads, mask=masks)


def test_logits_bad(backend):
    for shape in ((), (2, 4, 3), (4, 0), (0,)):  # (n,) is one unbatched row; these are not logits
        _raises(ValueError, "logits", backend.sample_logits, backend.array(np.zeros(shape, np.float32)))
    _raises(TypeError, "logits", backend.sample_logits, backend.array(np.zeros((4, 3), np.int32)))
    _raises(TypeError, "logits", backend.sample_logits, "logits")
    heads = (_logits(backend, 4, 2), _logits(backend, 3, 5))
    _raises(ValueError, "logits", backend.sample_logits, heads)


def test_uniforms_wrong_shape(backend):
    _raises(ValueError, "uniforms", backend.sample_from_uniforms, _logits(backend),
            backend.array(np.zeros(3, np.float32)))


def test_deterministic_not_a_bool(backend):
    _raises(TypeError, "deterministic", backend.sample_logits, _logits(backend), deterministic=1)


def test_normal_bad_actions_and_mask(backend):
    dist = backend.normal(_logits(backend, 4, 2), backend.array(np.ones((4, 2), np.float32)))
    _raises(TypeError, "action", backend.sample_logits, dist, backend.array(np.zeros((4, 2), np.int32)))
    _raises(ValueError, "action", backend.sample_logits, dist, backend.array(np.zeros((4, 3), np.float32)))
    _raises(ValueError, "mask", backend.sample_logits, dist, mask=backend.array(np.ones((4, 2), bool)))


def test_head_masks_bad(backend):
    heads = (_logits(backend, 4, 2), _logits(backend, 4, 5))
    _raises(TypeError, "mask", backend.sample_logits, heads, mask=backend.array(np.ones((4, 2), bool)))
    masks = (backend.array(np.ones((4, 2), bool)), backend.array(np.ones((4, 5), np.uint8)))
    _raises(TypeError, "mask[1]", backend.sample_logits, heads, mask=masks)
    _raises(ValueError, "logits", backend.sample_logits, ())


def test_uniforms_not_float(backend):
    _raises(TypeError, "uniforms", backend.sample_from_uniforms, _logits(backend),
            backend.array(np.zeros(4, np.int32)))


def test_log_prob_entropy_bad_types(backend):
    _raises(TypeError, "value", backend.api.log_prob, _logits(backend), [0, 1, 2, 0])
    _raises(TypeError, "value", backend.api.log_prob, _logits(backend), backend.array(np.zeros(4, np.float32)))
    _raises(TypeError, "logits", backend.api.entropy, backend.array(np.zeros((4, 3), np.int32)))
    _raises(ValueError, "logits", backend.api.entropy, backend.array(np.zeros((), np.float32)))
    _raises(ValueError, "probs", backend.api.entropy_probs, _logits(backend), _logits(backend, 4, 4))
    _raises(TypeError, "probs", backend.api.entropy_probs, _logits(backend), backend.array(np.zeros((4, 3), np.int32)))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_normal_scale_not_positive_and_finite(backend, bad):
    loc = backend.array(np.zeros((4, 2), np.float32))
    scale = np.ones((4, 2), np.float32)
    scale[2, 1] = bad
    dist = backend.normal(loc, backend.array(scale))
    message = _raises(ValueError, "logits.scale", backend.sample_logits, dist, seed=0)
    assert "positive, finite" in message
    _raises(ValueError, "logits.scale", backend.sample_logits, dist, backend.array(np.zeros((4, 2), np.float32)))
    half = backend.array(np.full((4, 2), 0.5, np.float32))
    _raises(ValueError, "logits.scale", backend.sample_from_uniforms, dist, half)
    unbatched = backend.normal(backend.array(np.zeros(2, np.float32)), backend.array(scale[2]))
    _raises(ValueError, "logits.scale", backend.sample_logits, unbatched, seed=0)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_normal_bad_scale_under_the_compiler_is_not_finite(backend, bad):
    # values are not read under jit/compile (no sync): the documented outcome is a NaN or
    # infinite score for the rows with a bad scale, the others exact
    loc = np.zeros((3, 2), np.float32)
    scale = np.ones((3, 2), np.float32)
    scale[1, 0] = bad
    given = np.full((3, 2), 0.5, np.float32)
    scores = backend.compiled(lambda l, s, a: backend.sample_logits(backend.normal(l, s), a)[1:])
    lp, ent = (backend.numpy(r) for r in scores(backend.array(loc), backend.array(scale), backend.array(given)))
    assert not np.isfinite(lp[1]) and not np.isfinite(ent[1])
    keep = [0, 2]
    np.testing.assert_allclose(lp[keep], _truth.normal_log_prob(loc[keep], scale[keep], given[keep]), rtol=1e-5)


def test_foreign_arrays_name_the_exchange_function(backend):
    # the other framework's array: a TypeError saying how to convert it, never a crash inside
    x = np.zeros((4, 3), np.float32)
    ours, foreign = backend.array(x), backend.foreign_array(x)
    action = np.zeros(4, np.int32)
    calls = {
        "logits": [lambda: backend.sample_logits(foreign), lambda: backend.api.log_prob(foreign, backend.array(action)),
                   lambda: backend.api.entropy(foreign), lambda: backend.api.entropy_probs(foreign, ours),
                   lambda: backend.sample_logits((ours, foreign))],
        "action": [lambda: backend.sample_logits(ours, backend.foreign_array(action))],
        "value": [lambda: backend.api.log_prob(ours, backend.foreign_array(action))],
        "mask": [lambda: backend.sample_logits(ours, mask=backend.foreign_array(np.ones((4, 3), bool)))],
        "probs": [lambda: backend.api.entropy_probs(ours, foreign)],
        "uniforms": [lambda: backend.sample_from_uniforms(ours, backend.foreign_array(np.zeros(4, np.float32)))],
    }
    for argument, fns in calls.items():
        for fn in fns:
            message = _raises(TypeError, argument, fn)
            assert backend.convert_with in message, message


def test_own_arrays_of_the_wrong_dtype_name_no_exchange_function(backend):
    # an array of the backend's own framework needs a cast, not the other framework's converter
    ours = backend.array(np.zeros((4, 3), np.float32))
    calls = {
        "mask": lambda: backend.sample_logits(ours, mask=backend.array(np.ones((4, 3), np.float32))),
        "probs": lambda: backend.api.entropy_probs(ours, backend.array(np.zeros((4, 3), np.int32))),
        "uniforms": lambda: backend.sample_from_uniforms(ours, backend.array(np.zeros(4, np.int32))),
    }
    for argument, fn in calls.items():
        message = _raises(TypeError, argument, fn)
        assert "exchange" not in message, message
