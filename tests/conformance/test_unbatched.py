"""Unbatched input, distrax style: logits `(n,)`, heads `(n_i,)`, a Normal with `(d,)`
parameters give unbatched results (action `()`, `(heads,)`, `(d,)`; logprob and entropy 0-d),
scored against closed forms and equal to the batched call on one row."""
import numpy as np
import pytest

from puffer_backend import spec

from . import _truth

SIZES = (3, 7, 4)


def _row(seed, n=6):
    return (np.random.default_rng(seed).normal(size=n) * 2).astype(np.float32)


def _scalar(backend, value):
    out = backend.numpy(value)
    assert out.shape == (), out.shape
    return out


def test_one_row_of_logits(backend):
    x = _row(0)
    action, lp, ent = backend.sample_logits(backend.array(x), seed=3)
    a = _scalar(backend, action)
    np.testing.assert_allclose(_scalar(backend, lp), _truth.categorical_log_prob(x, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_scalar(backend, ent), _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)
    # the same draw as the batched call on a batch of that one row
    batched = backend.sample_logits(backend.array(x[None]), seed=3)
    for one, many in zip((action, lp, ent), batched):
        np.testing.assert_array_equal(backend.numpy(one), backend.numpy(many)[0])


def test_one_row_given_action_mask_and_deterministic(backend):
    x = _row(1)
    for a in range(6):
        action, lp, ent = backend.sample_logits(backend.array(x), backend.array(np.array(a, np.int32)))
        assert _scalar(backend, action) == a
        np.testing.assert_allclose(_scalar(backend, lp), _truth.categorical_log_prob(x, np.array(a)), atol=1e-5)
    mask = np.array([True, False, True, False, False, True])
    masked = np.where(mask, x, -np.inf)
    for kwargs in ({"seed": 4}, {"deterministic": True}):
        action, lp, ent = backend.sample_logits(backend.array(x), mask=backend.array(mask), **kwargs)
        a = _scalar(backend, action)
        assert mask[a]
        np.testing.assert_allclose(_scalar(backend, lp), _truth.categorical_log_prob(masked, a), atol=1e-5)
        np.testing.assert_allclose(_scalar(backend, ent), _truth.categorical_entropy(masked), atol=1e-5)
    assert _scalar(backend, backend.sample_logits(backend.array(x), deterministic=True)[0]) == x.argmax()


def test_one_row_of_heads(backend):
    heads = [_row(10 + i, n) for i, n in enumerate(SIZES)]
    action, lp, ent = backend.sample_logits(tuple(backend.array(h) for h in heads), seed=5)
    a = backend.numpy(action)
    assert a.shape == (3,) and ((a >= 0) & (a < np.array(SIZES))).all()
    lp_true = sum(_truth.categorical_log_prob(h, a[i]) for i, h in enumerate(heads))
    np.testing.assert_allclose(_scalar(backend, lp), lp_true, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_scalar(backend, ent), sum(_truth.categorical_entropy(h) for h in heads), atol=1e-5)
    given = np.array([2, 6, 0], np.int32)
    action, lp, _ = backend.sample_logits(tuple(backend.array(h) for h in heads), backend.array(given))
    np.testing.assert_array_equal(backend.numpy(action), given)
    lp_true = sum(_truth.categorical_log_prob(h, given[i]) for i, h in enumerate(heads))
    np.testing.assert_allclose(_scalar(backend, lp), lp_true, rtol=1e-5, atol=1e-5)
    batched = backend.sample_logits(tuple(backend.array(h[None]) for h in heads), seed=5)
    np.testing.assert_array_equal(backend.numpy(batched[0])[0], a)
    masks = [np.arange(n) == n - 1 for n in SIZES]  # one allowed action per head: the last
    action, lp, _ = backend.sample_logits(tuple(backend.array(h) for h in heads),
                                          mask=tuple(backend.array(m) for m in masks), seed=6)
    np.testing.assert_array_equal(backend.numpy(action), np.array(SIZES) - 1)
    assert _scalar(backend, lp) == pytest.approx(0.0, abs=1e-6)


def test_one_normal_action(backend):
    rng = np.random.default_rng(6)
    loc = rng.normal(size=3).astype(np.float32)
    scale = np.exp(rng.normal(size=3) * 0.3).astype(np.float32)
    dist = backend.normal(backend.array(loc), backend.array(scale))
    action, lp, ent = backend.sample_logits(dist, seed=7)
    a = backend.numpy(action)
    assert a.shape == (3,)
    np.testing.assert_allclose(_scalar(backend, lp), _truth.normal_log_prob(loc, scale, a), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_scalar(backend, ent), _truth.normal_entropy(scale), rtol=1e-5, atol=1e-5)
    given = rng.normal(size=3).astype(np.float32)
    action, lp, _ = backend.sample_logits(dist, backend.array(given))
    np.testing.assert_array_equal(backend.numpy(action), given)
    np.testing.assert_allclose(_scalar(backend, lp), _truth.normal_log_prob(loc, scale, given), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(backend.numpy(backend.sample_logits(dist, deterministic=True)[0]), loc)


def test_one_row_from_uniforms(backend):
    rng = np.random.default_rng(8)
    x = _row(9)
    u = _truth.uniforms_off_boundaries(x[None], rng)
    got = backend.numpy(backend.sample_from_uniforms(backend.array(x), backend.array(u[0])))
    assert got.shape == ()
    np.testing.assert_array_equal(got, spec.categorical_from_uniform(x[None], u)[0])
    heads = [_row(20 + i, n) for i, n in enumerate(SIZES)]
    u = np.array([_truth.uniforms_off_boundaries(h[None], rng)[0] for h in heads], np.float32)
    got = backend.numpy(backend.sample_from_uniforms(tuple(backend.array(h) for h in heads), backend.array(u)))
    expected = [spec.categorical_from_uniform(h[None], u[i:i + 1])[0] for i, h in enumerate(heads)]
    np.testing.assert_array_equal(got, expected)
    loc, scale = np.array([0.5, -1.0], np.float32), np.array([2.0, 0.25], np.float32)
    u = np.array([0.2, 0.9], np.float32)
    got = backend.numpy(backend.sample_from_uniforms(backend.normal(backend.array(loc), backend.array(scale)),
                                                     backend.array(u)))
    np.testing.assert_allclose(got, spec.normal_from_uniform(loc, scale, u), rtol=1e-5, atol=1e-5)


def test_one_row_log_prob_entropy_and_entropy_probs(backend):
    x = _row(11)
    lp = backend.api.log_prob(backend.array(x), backend.array(np.array(4, np.int32)))
    np.testing.assert_allclose(_scalar(backend, lp), _truth.categorical_log_prob(x, np.array(4)), atol=1e-5)
    np.testing.assert_allclose(_scalar(backend, backend.api.entropy(backend.array(x))), _truth.categorical_entropy(x),
                               atol=1e-5)
    logp = _truth.log_softmax(x).astype(np.float32)
    out = backend.api.entropy_probs(backend.array(logp), backend.array(np.exp(logp)))
    np.testing.assert_allclose(_scalar(backend, out), _truth.categorical_entropy(x), rtol=1e-5)


def test_unbatched_input_takes_unbatched_actions(backend):
    # no batch to view by: a (1,) action for (n,) logits is refused, not silently squeezed
    with pytest.raises(ValueError, match=r"action: expected shape \(\) .*received shape \(1,\)"):
        backend.sample_logits(backend.array(_row(12)), backend.array(np.zeros(1, np.int32)))
    heads = tuple(backend.array(_row(13, n)) for n in SIZES)
    with pytest.raises(ValueError, match=r"action: expected shape \(3,\) .*received shape \(1, 3\)"):
        backend.sample_logits(heads, backend.array(np.zeros((1, 3), np.int32)))
    dist = backend.normal(backend.array(np.zeros(2, np.float32)), backend.array(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match=r"action: expected shape \(2,\) .*received shape \(2, 1\)"):
        backend.sample_logits(dist, backend.array(np.zeros((2, 1), np.float32)))
    with pytest.raises(ValueError, match=r"uniforms: expected shape \(\) .*received shape \(1,\)"):
        backend.sample_from_uniforms(backend.array(_row(14)), backend.array(np.zeros(1, np.float32)))


def test_heads_all_batched_or_all_unbatched(backend):
    mixed = (backend.array(_row(15, 3)), backend.array(np.zeros((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"logits: expected heads all batched .*received shapes \[\(3,\), \(2, 4\)\]"):
        backend.sample_logits(mixed, seed=0)
