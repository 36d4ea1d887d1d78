"""sample_logits and sample_from_uniforms: shapes, dtypes, the spec rule, masks, statistics."""
import numpy as np
import pytest
from scipy import stats

from puffer_backend import spec

from . import _truth

HEADS = (3, 7, 4, 5, 9)


def _int_kind(backend, value):
    return backend.dtype_name(value) in ("int64", "int32")


def _heads(seed, batch, sizes=HEADS):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(batch, n)) * 2 + 5).astype(np.float32) for n in sizes]


def test_discrete_shapes_and_values(backend):
    x = np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32) * 3
    action, lp, ent = backend.sample_logits(backend.array(x), seed=1)
    a = backend.numpy(action)
    assert a.shape == (32,) and _int_kind(backend, action)
    assert ((a >= 0) & (a < 6)).all()
    assert backend.dtype_name(lp) == "float32" and backend.numpy(lp).shape == (32,)
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)


def test_discrete_given_action_scores_it(backend):
    x = np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
    a = np.array([0, 1, 2, 3, 3, 2, 1, 0], np.int32)
    action, lp, ent = backend.sample_logits(backend.array(x), backend.array(a))
    np.testing.assert_array_equal(backend.numpy(action), a)
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)


def test_multidiscrete_shapes_and_values(backend):
    heads = _heads(2, 16)
    action, lp, ent = backend.sample_logits(tuple(backend.array(h) for h in heads), seed=3)
    a = backend.numpy(action)
    assert a.shape == (16, len(HEADS)) and _int_kind(backend, action)
    assert ((a >= 0) & (a < np.array(HEADS))).all()
    lp_true = sum(_truth.categorical_log_prob(h, a[:, i]) for i, h in enumerate(heads))
    ent_true = sum(_truth.categorical_entropy(h) for h in heads)
    np.testing.assert_allclose(backend.numpy(lp), lp_true, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), ent_true, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("container", [tuple, list])
def test_multidiscrete_given_action_flat_or_2d(backend, container):
    heads = _heads(4, 5)
    a = np.stack([np.arange(5) % n for n in HEADS], axis=1).astype(np.int32)
    lp_true = sum(_truth.categorical_log_prob(h, a[:, i]) for i, h in enumerate(heads))
    for given in (a, a.reshape(-1)):
        action, lp, _ = backend.sample_logits(container(backend.array(h) for h in heads), backend.array(given))
        np.testing.assert_array_equal(backend.numpy(action), a)
        np.testing.assert_allclose(backend.numpy(lp), lp_true, rtol=1e-5, atol=1e-5)


def test_normal_shapes_and_closed_forms(backend):
    rng = np.random.default_rng(5)
    loc = rng.normal(size=(64, 3)).astype(np.float32)
    scale = np.exp(rng.normal(size=(64, 3)) * 0.3).astype(np.float32)
    dist = backend.normal(backend.array(loc), backend.array(scale))
    action, lp, ent = backend.sample_logits(dist, seed=7)
    a = backend.numpy(action)
    assert a.shape == (64, 3) and backend.dtype_name(action) == "float32"
    np.testing.assert_allclose(backend.numpy(lp), _truth.normal_log_prob(loc, scale, a), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(backend.numpy(ent), _truth.normal_entropy(scale), rtol=1e-5, atol=1e-5)
    given = rng.normal(size=(64, 3)).astype(np.float32)
    action, lp, _ = backend.sample_logits(dist, backend.array(given))
    np.testing.assert_allclose(backend.numpy(lp), _truth.normal_log_prob(loc, scale, given), rtol=1e-5, atol=1e-4)


def test_normal_draws_are_gaussian(backend):
    dist = backend.normal(backend.array(np.full((4000, 2), 1.5, np.float32)),
                          backend.array(np.full((4000, 2), 0.5, np.float32)))
    a = backend.numpy(backend.sample_logits(dist, seed=11)[0])
    assert np.isfinite(a).all()
    assert stats.kstest((a.reshape(-1) - 1.5) / 0.5, "norm").pvalue > 1e-4


def test_deterministic(backend):
    x = np.random.default_rng(6).normal(size=(20, 5)).astype(np.float32)
    action, lp, _ = backend.sample_logits(backend.array(x), deterministic=True, seed=0)
    np.testing.assert_array_equal(backend.numpy(action), x.argmax(-1))
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, x.argmax(-1)), rtol=1e-5, atol=1e-5)
    heads = _heads(7, 10)
    action, _, _ = backend.sample_logits(tuple(backend.array(h) for h in heads), deterministic=True)
    np.testing.assert_array_equal(backend.numpy(action), np.stack([h.argmax(-1) for h in heads], 1))
    loc = np.random.default_rng(8).normal(size=(10, 2)).astype(np.float32)
    dist = backend.normal(backend.array(loc), backend.array(np.ones((10, 2), np.float32)))
    np.testing.assert_array_equal(backend.numpy(backend.sample_logits(dist, deterministic=True)[0]), loc)
    # numpy's bool is a bool (a flag read from a config array, say)
    action, _, _ = backend.sample_logits(backend.array(x), deterministic=np.bool_(True), seed=0)
    np.testing.assert_array_equal(backend.numpy(action), x.argmax(-1))


@pytest.mark.parametrize("n", [6, 20], ids=["columns", "matrix-cdf"])  # both JAX code paths
def test_masked_actions_never_sampled(backend, n):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2000, n)).astype(np.float32)
    x[:, 2] += 8.0  # the most likely action is masked out
    mask = rng.random((2000, n)) < 0.5
    mask[:, 2] = False
    mask[np.arange(2000), rng.choice([i for i in range(n) if i != 2], 2000)] = True  # every row keeps an action
    action, lp, ent = backend.sample_logits(backend.array(x), mask=backend.array(mask), seed=12)
    a = backend.numpy(action)
    assert mask[np.arange(2000), a].all()
    masked_x = np.where(mask, x, -np.inf)
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(masked_x, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(masked_x), rtol=1e-5, atol=1e-5)
    deterministic = backend.numpy(backend.sample_logits(backend.array(x), mask=backend.array(mask),
                                                        deterministic=True)[0])
    np.testing.assert_array_equal(deterministic, masked_x.argmax(-1))


@pytest.mark.parametrize("n", [6, 20], ids=["columns", "matrix-cdf"])
@pytest.mark.parametrize("fill", [-np.inf, np.finfo(np.float32).min], ids=["-inf", "finfo.min"])
def test_drawn_scores_have_closed_form_gradients_with_masked_logits(backend, n, fill):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(64, n)).astype(np.float32)
    x[:, 1] = fill
    x[3, 2:] = fill  # a row with one allowed action: entropy 0
    a = backend.numpy(backend.sample_logits(backend.array(x), seed=5)[0])
    assert (a != 1).all()
    (g,) = backend.grad(lambda l: sum(backend.sample_logits(l, seed=5)[1:]), backend.array(x))
    p = _truth.softmax(np.where(x == fill, -np.inf, x))
    h = _truth.categorical_entropy(np.where(x == fill, -np.inf, x))
    with np.errstate(divide="ignore", invalid="ignore"):
        d_entropy = np.where(p > 0, -p * (np.log(p) + h[:, None]), 0.0)
    # d log p_a / dx = onehot(a) - p ; dH / dx_i = -p_i (log p_i + H)
    np.testing.assert_allclose(g, np.eye(n)[a] - p + d_entropy, atol=1e-5)


def test_masked_heads_never_sampled(backend):
    heads = _heads(10, 500, (3, 4))
    masks = [np.ones((500, 3), bool), np.ones((500, 4), bool)]
    masks[0][:, 0] = False
    masks[1][:, 1:3] = False
    action, _, _ = backend.sample_logits(tuple(backend.array(h) for h in heads),
                                         mask=tuple(backend.array(m) for m in masks), seed=13)
    a = backend.numpy(action)
    assert (a[:, 0] != 0).all() and np.isin(a[:, 1], [0, 3]).all()


@pytest.mark.parametrize("n", [4, 16, 48, 200])  # every CDF path of both backends (see below)
def test_chi_square_matches_softmax(backend, n):
    rng = np.random.default_rng(n)
    row = (rng.normal(size=n) * 1.5).astype(np.float32)
    row[1] = -np.inf  # a masked-by-logit entry: never drawn, left out of the test
    draws = 40000
    x = np.broadcast_to(row, (draws, n)).copy()
    a = backend.numpy(backend.sample_logits(backend.array(x), seed=100 + n)[0])
    counts = np.bincount(a, minlength=n)
    assert counts[1] == 0
    p = _truth.softmax(row)
    keep = p > 0
    assert stats.chisquare(counts[keep], p[keep] * draws).pvalue > 1e-4


def test_chi_square_heads(backend):
    rows = [np.random.default_rng(i).normal(size=n).astype(np.float32) for i, n in enumerate((3, 5))]
    draws = 30000
    heads = tuple(backend.array(np.broadcast_to(r, (draws, r.size)).copy()) for r in rows)
    a = backend.numpy(backend.sample_logits(heads, seed=21)[0])
    for i, r in enumerate(rows):
        counts = np.bincount(a[:, i], minlength=r.size)
        assert stats.chisquare(counts, _truth.softmax(r) * draws).pvalue > 1e-4


def test_seeds_reproduce_and_differ(backend):
    x = backend.array(np.zeros((256, 8), np.float32))
    a1 = backend.numpy(backend.sample_logits(x, seed=5)[0])
    a2 = backend.numpy(backend.sample_logits(x, seed=5)[0])
    a3 = backend.numpy(backend.sample_logits(x, seed=6)[0])
    np.testing.assert_array_equal(a1, a2)
    assert (a1 != a3).any()


# every CDF path: torch columns (up to 16), a count (up to 128), a binary search; JAX columns
# (up to 8), a matrix product
@pytest.mark.parametrize("n", [7, 40, 200])
def test_sample_from_uniforms_is_the_spec_rule(backend, n):
    rng = np.random.default_rng(30 + n)
    x = (rng.normal(size=(300, n)) * 3).astype(np.float32)
    mask = rng.random((300, n)) < 0.7
    mask[:, 0] = True
    for m in (None, mask):
        u = _truth.uniforms_off_boundaries(x, rng, m)
        kwargs = {} if m is None else {"mask": backend.array(m)}
        got = backend.numpy(backend.sample_from_uniforms(backend.array(x), backend.array(u), **kwargs))
        np.testing.assert_array_equal(got, spec.categorical_from_uniform(x, u, m))


def test_sample_from_uniforms_edges(backend):
    # u = 0 must skip leading masked entries; u just below 1 must not land on trailing ones
    x = np.zeros((2, 5), np.float32)
    mask = np.array([[False, False, True, True, False]] * 2)
    u = np.array([0.0, np.nextafter(np.float32(1), np.float32(0))], np.float32)
    got = backend.numpy(backend.sample_from_uniforms(backend.array(x), backend.array(u), mask=backend.array(mask)))
    np.testing.assert_array_equal(got, spec.categorical_from_uniform(x, u, mask))
    np.testing.assert_array_equal(got, [2, 3])


def test_sample_from_uniforms_heads_and_normal(backend):
    rng = np.random.default_rng(31)
    heads = _heads(32, 200)
    u = np.stack([_truth.uniforms_off_boundaries(h, rng) for h in heads], 1)
    got = backend.numpy(backend.sample_from_uniforms(tuple(backend.array(h) for h in heads), backend.array(u)))
    expected = np.stack([spec.categorical_from_uniform(h, u[:, i]) for i, h in enumerate(heads)], 1)
    np.testing.assert_array_equal(got, expected)

    loc = rng.normal(size=(50, 3)).astype(np.float32)
    scale = np.exp(rng.normal(size=(50, 3)) * 0.2).astype(np.float32)
    u = rng.uniform(0.001, 0.999, size=(50, 3)).astype(np.float32)
    dist = backend.normal(backend.array(loc), backend.array(scale))
    got = backend.numpy(backend.sample_from_uniforms(dist, backend.array(u)))
    np.testing.assert_allclose(got, spec.normal_from_uniform(loc, scale, u), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_logits_sample_to_float32(backend, dtype):
    x = np.random.default_rng(33).normal(size=(64, 5)).astype(np.float32)
    lx = backend.array(x, dtype)
    rounded = backend.numpy(lx).astype(np.float64)
    action, lp, ent = backend.sample_logits(lx, seed=2)
    assert backend.dtype_name(lp) == "float32" and backend.dtype_name(ent) == "float32"
    a = backend.numpy(action)
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(rounded, a), rtol=1e-5, atol=1e-5)
    heads = tuple(backend.array(h, dtype) for h in _heads(34, 8, (3, 4)))
    _, lp, ent = backend.sample_logits(heads, seed=2)
    assert backend.dtype_name(lp) == "float32" and backend.dtype_name(ent) == "float32"


def test_heads_of_different_dtypes_promote_together(backend):
    # bfloat16 and float16 promote to float32 in both frameworks; each head keeps its own rounding.
    heads = _heads(35, 16, (3, 4, 5))
    arrays = tuple(backend.array(h, d) for h, d in zip(heads, ("bfloat16", "float16", "float32")))
    rounded = [backend.numpy(a).astype(np.float64) for a in arrays]
    action, lp, ent = backend.sample_logits(arrays, seed=4)
    assert backend.dtype_name(lp) == "float32" and backend.dtype_name(ent) == "float32"
    a = backend.numpy(action)
    lp_true = sum(_truth.categorical_log_prob(h, a[:, i]) for i, h in enumerate(rounded))
    ent_true = sum(_truth.categorical_entropy(h) for h in rounded)
    np.testing.assert_allclose(backend.numpy(lp), lp_true, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), ent_true, rtol=1e-5, atol=1e-5)


def test_empty_batch_sampling(backend):
    action, lp, ent = backend.sample_logits(backend.array(np.zeros((0, 4), np.float32)), seed=0)
    assert backend.numpy(action).shape == (0,) and backend.numpy(lp).shape == (0,)
    action, lp, _ = backend.sample_logits(tuple(backend.array(np.zeros((0, n), np.float32)) for n in (2, 3)))
    assert backend.numpy(action).shape == (0, 2) and backend.numpy(lp).shape == (0,)
    dist = backend.normal(backend.array(np.zeros((0, 2), np.float32)), backend.array(np.ones((0, 2), np.float32)))
    action, lp, _ = backend.sample_logits(dist)
    assert backend.numpy(action).shape == (0, 2) and backend.numpy(lp).shape == (0,)
