"""log_prob, entropy and entropy_probs against numpy closed forms, masks and gradients included."""
import numpy as np
import pytest

from . import _truth

F32_MIN = float(np.finfo(np.float32).min)


def _logits(seed, batch=6, n=5, shift=3.0):
    rng = np.random.default_rng(seed)
    # unnormalized on purpose: a per-row offset that a correct implementation must remove
    return (rng.normal(size=(batch, n)) * 2 + rng.normal(size=(batch, 1)) * 10 + shift).astype(np.float32)


def _masked(seed, fill):
    x = _logits(seed)
    mask = np.ones_like(x, bool)
    mask[:, 1] = False
    mask[2, [0, 3, 4]] = False  # one row with a single allowed entry
    return np.where(mask, x, np.float32(fill)).astype(np.float32), mask


def test_log_prob_unnormalized(backend):
    x = _logits(0)
    a = np.array([0, 1, 2, 3, 4, 0], np.int32)
    out = backend.api.log_prob(backend.array(x), backend.array(a))
    np.testing.assert_allclose(backend.numpy(out), _truth.categorical_log_prob(x, a), rtol=1e-5, atol=1e-5)


def test_entropy_unnormalized(backend):
    x = _logits(1)
    out = backend.numpy(backend.api.entropy(backend.array(x)))
    assert out.shape == (6,)
    np.testing.assert_allclose(out, _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)


def test_entropy_probs_is_the_documented_formula(backend):
    x = _logits(2)
    logp = _truth.log_softmax(x).astype(np.float32)
    p = np.exp(logp).astype(np.float32)
    out = backend.numpy(backend.api.entropy_probs(backend.array(logp), backend.array(p)))
    np.testing.assert_allclose(out, -(logp.astype(np.float64) * p).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(out, _truth.categorical_entropy(x), rtol=1e-4)


@pytest.mark.parametrize("fill", [-np.inf, F32_MIN], ids=["-inf", "finfo.min"])
def test_masked_entries_finite_values_and_gradients(backend, fill):
    x, mask = _masked(3, fill)
    a = np.array([0, 2, 2, 3, 4, 0], np.int32)  # allowed actions only
    assert mask[np.arange(6), a].all()
    lp = backend.numpy(backend.api.log_prob(backend.array(x), backend.array(a)))
    ent = backend.numpy(backend.api.entropy(backend.array(x)))
    assert np.isfinite(lp).all() and np.isfinite(ent).all()
    np.testing.assert_allclose(lp, _truth.categorical_log_prob(x, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ent, _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)
    assert ent[2] == pytest.approx(0.0, abs=1e-6)  # one allowed action: no uncertainty

    p = _truth.softmax(x)
    (g_lp,) = backend.grad(lambda l, v: backend.api.log_prob(l, v), backend.array(x), backend.array(a))
    (g_ent,) = backend.grad(lambda l: backend.api.entropy(l), backend.array(x))
    assert np.isfinite(g_lp).all() and np.isfinite(g_ent).all()
    # closed forms: d log p_a / dx = onehot(a) - p ; dH / dx_i = -p_i (log p_i + H)
    onehot = np.eye(5)[a]
    np.testing.assert_allclose(g_lp, onehot - p, atol=1e-5)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(p > 0, -p * (np.log(p) + _truth.categorical_entropy(x)[:, None]), 0.0)
    np.testing.assert_allclose(g_ent, expected, atol=1e-5)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_logits_give_float32(backend, dtype):
    x = _logits(4, shift=0.0)
    a = np.array([4, 3, 2, 1, 0, 1], np.int32)
    lx = backend.array(x, dtype)
    rounded = backend.numpy(lx).astype(np.float64)
    lp = backend.api.log_prob(lx, backend.array(a))
    ent = backend.api.entropy(lx)
    assert backend.dtype_name(lp) == "float32" and backend.dtype_name(ent) == "float32"
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(rounded, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(rounded), rtol=1e-5, atol=1e-5)


def test_empty_batch(backend):
    x = np.zeros((0, 4), np.float32)
    assert backend.numpy(backend.api.entropy(backend.array(x))).shape == (0,)
    lp = backend.api.log_prob(backend.array(x), backend.array(np.zeros(0, np.int32)))
    assert backend.numpy(lp).shape == (0,)
