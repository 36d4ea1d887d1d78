"""Edge cases RL users hit, pinned on every backend: rows with nothing allowed, masks on top of
-inf logits, huge logits, one-action heads, strided logits, integer widths, leading axes,
entropy_probs with zero probabilities, Normal shapes and the default action dtype."""
import numpy as np
import pytest

from . import _truth


def _x(seed, batch=6, n=4, scale=2.0):
    return (np.random.default_rng(seed).normal(size=(batch, n)) * scale).astype(np.float32)


def test_default_action_dtype(backend):
    # torch_impl: int64 (the spec's); jax_impl: JAX's default int (int64 only with x64 on)
    expected = "int64" if backend.can_hold(np.dtype(np.int64)) else "int32"
    x = backend.array(_x(0))
    assert backend.dtype_name(backend.sample_logits(x, seed=0)[0]) == expected
    assert backend.dtype_name(backend.sample_logits(x, deterministic=True)[0]) == expected
    heads = (x, backend.array(_x(1, n=2)))
    assert backend.dtype_name(backend.sample_logits(heads, seed=0)[0]) == expected


def test_given_int32_action_comes_back_as_given(backend):
    a = np.array([3, 0, 1, 2, 2, 1], np.int32)
    action = backend.sample_logits(backend.array(_x(2)), backend.array(a))[0]
    assert backend.dtype_name(action) == "int32"
    np.testing.assert_array_equal(backend.numpy(action), a)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_any_integer_width_is_scored(backend, dtype):
    x = _x(3)
    a = np.array([3, 0, 1, 2, 2, 1], dtype)
    _, lp, _ = backend.sample_logits(backend.array(x), backend.array(a))
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a.astype(np.int64)), atol=1e-5)
    lp = backend.api.log_prob(backend.array(x), backend.array(a))
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a.astype(np.int64)), atol=1e-5)


@pytest.mark.parametrize("n", [4, 40, 200])  # every CDF path (tests/conformance/test_sample_logits.py)
def test_row_with_nothing_allowed_is_refused_or_gives_action_0_and_nan(backend, n):
    # no distribution: refused eagerly (naming the mask); with the value checks off or under
    # the compiler the action is 0 (never an out-of-range index), logprob and entropy NaN
    x = _x(4, batch=3, n=n)
    mask = np.ones((3, n), bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"^mask: expected at least one allowed action per row with a finite "
                                         r"logit, received none in row 1$"):
        backend.sample_logits(backend.array(x), mask=backend.array(mask))
    with backend.values_unchecked():
        for kwargs in ({"seed": 1}, {"deterministic": True}):
            action, lp, ent = backend.sample_logits(backend.array(x), mask=backend.array(mask), **kwargs)
            a, lp, ent = backend.numpy(action), backend.numpy(lp), backend.numpy(ent)
            assert a[1] == 0 and np.isnan(lp[1]) and np.isnan(ent[1])
            assert np.isfinite(lp[[0, 2]]).all() and np.isfinite(ent[[0, 2]]).all()
        heads = (backend.array(_x(5, batch=3, n=2)), backend.array(x))
        masks = (backend.array(np.ones((3, 2), bool)), backend.array(mask))
        action, lp, _ = backend.sample_logits(heads, mask=masks, seed=2)
        a = backend.numpy(action)
        assert a[1, 1] == 0 and (a[:, 0] < 2).all() and np.isnan(backend.numpy(lp)[1])
    compiled = backend.compiled(lambda logits, m, u: backend.api.sample_from_uniforms(logits, u, mask=m))
    drawn = backend.numpy(compiled(backend.array(x), backend.array(mask), backend.array(np.full(3, 0.5, np.float32))))
    assert drawn[1] == 0 and (drawn[[0, 2]] < n).all()


def test_mask_on_top_of_minus_inf_logits(backend):
    x = _x(6)
    x[:, 0] = -np.inf
    mask = np.ones_like(x, bool)
    mask[:, 3] = False
    a = np.array([1, 2, 1, 2, 1, 2], np.int32)
    masked = np.where(mask, x, -np.inf)
    action, lp, ent = backend.sample_logits(backend.array(x), backend.array(a), mask=backend.array(mask))
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(masked, a), atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(masked), atol=1e-5)
    drawn = backend.numpy(backend.sample_logits(backend.array(x), mask=backend.array(mask), seed=3)[0])
    assert np.isin(drawn, [1, 2]).all()
    m = backend.array(mask)
    g_lp, g_ent = (backend.grad(lambda l, v: backend.sample_logits(l, v, mask=m)[i], backend.array(x), backend.array(a))[0]
                   for i in (1, 2))
    p = _truth.softmax(masked)
    np.testing.assert_allclose(g_lp, np.eye(4)[a] - p, atol=1e-5)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(p > 0, -p * (np.log(p) + _truth.categorical_entropy(masked)[:, None]), 0.0)
    np.testing.assert_allclose(g_ent, expected, atol=1e-5)


def test_huge_logits(backend):
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4 - 1.0]], np.float32)
    a = np.array([1, 2], np.int32)
    action, lp, ent = backend.sample_logits(backend.array(x), backend.array(a))
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)
    drawn = backend.numpy(backend.sample_logits(backend.array(np.tile(x, (500, 1))), seed=4)[0])
    assert (drawn[::2] == 0).all() and np.isin(drawn[1::2], [1, 2]).all()
    (g,) = backend.grad(lambda l: backend.api.entropy(l), backend.array(x))
    assert np.isfinite(g).all()


def test_one_action_heads(backend):
    action, lp, ent = backend.sample_logits(backend.array(np.zeros((3, 1), np.float32)), seed=0)
    np.testing.assert_array_equal(backend.numpy(action), [0, 0, 0])
    np.testing.assert_array_equal(backend.numpy(lp), [0, 0, 0])
    np.testing.assert_array_equal(backend.numpy(ent), [0, 0, 0])
    heads = (backend.array(np.zeros((3, 1), np.float32)), backend.array(np.zeros((3, 2), np.float32)))
    action, lp, ent = backend.sample_logits(heads, seed=0)
    a = backend.numpy(action)
    assert (a[:, 0] == 0).all() and np.isin(a[:, 1], [0, 1]).all()
    np.testing.assert_allclose(backend.numpy(lp), np.full(3, -np.log(2)), rtol=1e-6)
    np.testing.assert_allclose(backend.numpy(ent), np.full(3, np.log(2)), rtol=1e-6)


def test_transposed_logits(backend):
    # a (batch, n) view of an (n, batch) buffer: same results as the contiguous copy
    x = _x(7, batch=5, n=6)
    strided = backend.array(np.ascontiguousarray(x.T)).T
    a = np.array([0, 5, 2, 3, 1], np.int32)
    for logits in (strided, backend.array(x)):
        _, lp, ent = backend.sample_logits(logits, backend.array(a))
        np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a), atol=1e-5)
        np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(x), atol=1e-5)
        np.testing.assert_allclose(backend.numpy(backend.api.log_prob(logits, backend.array(a))),
                                   _truth.categorical_log_prob(x, a), atol=1e-5)
    np.testing.assert_array_equal(backend.numpy(backend.sample_logits(strided, seed=5)[0]),
                                  backend.numpy(backend.sample_logits(backend.array(x), seed=5)[0]))


def test_log_prob_and_entropy_on_leading_axes(backend):
    x = np.random.default_rng(8).normal(size=(2, 3, 5)).astype(np.float32)
    a = np.random.default_rng(9).integers(0, 5, size=(2, 3)).astype(np.int32)
    lp = backend.numpy(backend.api.log_prob(backend.array(x), backend.array(a)))
    ent = backend.numpy(backend.api.entropy(backend.array(x)))
    assert lp.shape == ent.shape == (2, 3)
    np.testing.assert_allclose(lp, _truth.categorical_log_prob(x, a), atol=1e-5)
    np.testing.assert_allclose(ent, _truth.categorical_entropy(x), atol=1e-5)


def test_log_prob_pufferlib_usage(backend):
    # PufferLib calls log_prob(normalized_logits, value) with value (batch,) from the sampler
    x = _x(10)
    normalized = _truth.log_softmax(x).astype(np.float32)
    action = backend.sample_logits(backend.array(x), seed=6)[0]
    a = backend.numpy(action)
    lp = backend.numpy(backend.api.log_prob(backend.array(normalized), action))
    np.testing.assert_allclose(lp, _truth.categorical_log_prob(x, a), atol=1e-5)


@pytest.mark.parametrize("dtype", [None, "bfloat16", "float16"])
def test_entropy_probs_zero_probability_entries(backend, dtype):
    logp = np.array([[0.0, -np.inf, -np.inf], [np.log(0.25), np.log(0.75), -np.inf]], np.float32)
    p = np.exp(logp)
    out = backend.api.entropy_probs(backend.array(logp, dtype), backend.array(p, dtype))
    assert backend.dtype_name(out) == "float32"
    rounded_lp = backend.numpy(backend.array(logp, dtype)).astype(np.float64)
    rounded_p = backend.numpy(backend.array(p, dtype)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        expected = -np.where(rounded_p > 0, rounded_lp * rounded_p, 0.0).sum(-1)
    np.testing.assert_allclose(backend.numpy(out), expected, rtol=1e-6)
    assert backend.numpy(out)[0] == 0


def test_normal_event_dims_and_broadcast_scale(backend):
    rng = np.random.default_rng(11)
    loc = rng.normal(size=(4, 2, 3)).astype(np.float32)
    scale = np.exp(rng.normal(size=(4, 2, 3)) * 0.2).astype(np.float32)
    action, lp, ent = backend.sample_logits(backend.normal(backend.array(loc), backend.array(scale)), seed=1)
    a = backend.numpy(action)
    assert a.shape == (4, 6) and backend.numpy(lp).shape == backend.numpy(ent).shape == (4,)
    np.testing.assert_allclose(backend.numpy(lp), _truth.normal_log_prob(loc.reshape(4, 6), scale.reshape(4, 6), a),
                               rtol=1e-5, atol=1e-4)
    # CleanRL's exp(logstd) of shape (1, dim)
    loc2, scale2 = loc.reshape(4, 6), np.full((1, 6), 0.5, np.float32)
    dist = backend.normal(backend.array(loc2), backend.array(scale2))
    given = rng.normal(size=(4, 6)).astype(np.float32)
    _, lp, ent = backend.sample_logits(dist, backend.array(given))
    np.testing.assert_allclose(backend.numpy(lp), _truth.normal_log_prob(loc2, np.broadcast_to(scale2, (4, 6)), given),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(backend.numpy(ent), _truth.normal_entropy(np.broadcast_to(scale2, (4, 6))), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_normal_keeps_action_dtype_scores_float32(backend, dtype):
    loc = np.random.default_rng(12).normal(size=(8, 2)).astype(np.float32)
    dist = backend.normal(backend.array(loc, dtype), backend.array(np.ones((8, 2), np.float32), dtype))
    action, lp, ent = backend.sample_logits(dist, seed=3)
    assert backend.dtype_name(action) == dtype
    assert backend.dtype_name(lp) == backend.dtype_name(ent) == "float32"
    rounded = backend.numpy(backend.array(loc, dtype))
    np.testing.assert_allclose(backend.numpy(lp), _truth.normal_log_prob(rounded, np.ones((8, 2)), backend.numpy(action)),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(backend.numpy(backend.sample_logits(dist, deterministic=True)[0]), rounded)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_masked_gradients_finite(backend, dtype):
    x = _x(13)
    x[:, 1] = -np.inf
    a = np.array([0, 2, 3, 0, 2, 3], np.int32)
    lx = backend.array(x, dtype)
    p = _truth.softmax(backend.numpy(lx))
    (g,) = backend.grad(lambda l, v: backend.api.log_prob(l, v), lx, backend.array(a))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, np.eye(4)[a] - p, atol=1e-2)


def test_float64_logits(backend):
    # float64 stays float64 where the backend holds it (torch; JAX with x64); JAX with x64 off
    # would narrow it silently, so it is refused there, naming jax_enable_x64
    x = _x(14).astype(np.float64) * 10
    x[:, 2] = np.finfo(np.float64).min
    a = np.array([0, 1, 3, 0, 1, 3], np.int64)
    if not backend.can_hold(np.dtype(np.float64)):
        for call in (lambda: backend.sample_logits(backend.array(x), backend.array(a)),
                     lambda: backend.sample_logits(backend.array(x)),
                     lambda: backend.api.log_prob(backend.array(x), backend.array(a)),
                     lambda: backend.api.entropy(backend.array(x))):
            with pytest.raises(ValueError, match="logits: .*jax_enable_x64"):
                call()
        return
    _, lp, ent = backend.sample_logits(backend.array(x), backend.array(a))
    assert backend.dtype_name(lp) == backend.dtype_name(ent) == "float64"
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(x), rtol=1e-10, atol=1e-10)
    drawn = backend.numpy(backend.sample_logits(backend.array(x), seed=7)[0])
    assert (drawn != 2).all()


def test_out_of_range_action_under_the_compiler_is_nan(backend):
    # values are not checked under jit/compile (that would sync); the score is NaN, never
    # another action's log-probability and never an index error
    x = _x(15, batch=4, n=3)
    a = np.array([0, 3, -1, 2], np.int32)
    scores = backend.compiled(lambda l, v: backend.sample_logits(l, v)[1])
    lp = backend.numpy(scores(backend.array(x), backend.array(a)))
    assert np.isnan(lp[[1, 2]]).all()
    np.testing.assert_allclose(lp[[0, 3]], _truth.categorical_log_prob(x[[0, 3]], a[[0, 3]]), atol=1e-5)
    lp = backend.numpy(backend.compiled(backend.api.log_prob)(backend.array(x), backend.array(a)))
    assert np.isnan(lp[[1, 2]]).all() and np.isfinite(lp[[0, 3]]).all()
