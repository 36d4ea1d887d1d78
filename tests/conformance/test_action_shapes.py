"""Given actions as PufferLib 3's trainer passes them (`(segments, horizon[, heads])` buffers
against `segments * horizon` rows of logits, read as `action.view(batch, -1)`), scored against
closed forms on the reshaped action; wrong element counts refused."""
import numpy as np
import pytest

from puffer_backend import spec

from . import _truth

SEGMENTS, HORIZON = 4, 8
BATCH = SEGMENTS * HORIZON


def _logits(seed, batch=BATCH, n=5):
    return (np.random.default_rng(seed).normal(size=(batch, n)) * 2).astype(np.float32)


@pytest.mark.parametrize("shape", [(SEGMENTS, HORIZON), (BATCH, 1), (2, 2, 8), (BATCH,)])
def test_discrete_buffer_shaped_action(backend, shape):
    x = _logits(0)
    a = np.random.default_rng(1).integers(0, 5, size=shape).astype(np.int32)
    flat = a.reshape(BATCH)
    action, lp, ent = backend.sample_logits(backend.array(x), backend.array(a))
    assert backend.numpy(action).shape == (BATCH,) and backend.numpy(lp).shape == backend.numpy(ent).shape == (BATCH,)
    np.testing.assert_array_equal(backend.numpy(action), flat)
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, flat), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 16, 3), (SEGMENTS, HORIZON, 3), (BATCH * 3,), (2, 48)])
def test_multidiscrete_buffer_shaped_action(backend, shape):
    sizes = (3, 7, 4)
    heads = [_logits(10 + i, n=n) for i, n in enumerate(sizes)]
    rng = np.random.default_rng(2)
    rows = np.stack([rng.integers(0, n, size=BATCH) for n in sizes], axis=1)  # (batch, heads)
    a = rows.reshape(shape).astype(np.int64)  # row-major: the buffer PufferLib views back
    action, lp, ent = backend.sample_logits(tuple(backend.array(h) for h in heads), backend.array(a))
    np.testing.assert_array_equal(backend.numpy(action), rows)
    lp_true = sum(_truth.categorical_log_prob(h, rows[:, i]) for i, h in enumerate(heads))
    np.testing.assert_allclose(backend.numpy(lp), lp_true, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.numpy(ent), sum(_truth.categorical_entropy(h) for h in heads),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim", [1, 3])
def test_normal_buffer_shaped_action(backend, dim):
    rng = np.random.default_rng(3)
    loc = rng.normal(size=(BATCH, dim)).astype(np.float32)
    scale = np.exp(rng.normal(size=(BATCH, dim)) * 0.3).astype(np.float32)
    given = rng.normal(size=(SEGMENTS, HORIZON, dim)).astype(np.float32)
    dist = backend.normal(backend.array(loc), backend.array(scale))
    action, lp, ent = backend.sample_logits(dist, backend.array(given))
    rows = given.reshape(BATCH, dim)
    np.testing.assert_array_equal(backend.numpy(action), rows)
    np.testing.assert_allclose(backend.numpy(lp), _truth.normal_log_prob(loc, scale, rows), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(backend.numpy(ent), _truth.normal_entropy(scale), rtol=1e-5, atol=1e-5)


def test_buffer_shaped_action_under_the_compiler(backend):
    x = _logits(4)
    a = np.random.default_rng(5).integers(0, 5, size=(SEGMENTS, HORIZON)).astype(np.int64)
    lp = backend.compiled(lambda l, v: backend.sample_logits(l, v)[1])(backend.array(x), backend.array(a))
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(x, a.reshape(-1)), rtol=1e-5, atol=1e-5)


def test_buffer_shaped_uniforms(backend):
    x = _logits(6)
    u = _truth.uniforms_off_boundaries(x, np.random.default_rng(7))
    got = backend.sample_from_uniforms(backend.array(x), backend.array(u.reshape(SEGMENTS, HORIZON)))
    np.testing.assert_array_equal(backend.numpy(got), spec.categorical_from_uniform(x, u))


def _refused(backend, logits, action, expected, received):
    with pytest.raises(ValueError) as info:
        backend.sample_logits(logits, backend.array(action))
    message = str(info.value)
    assert message.startswith("action: expected") and expected in message and f"received shape {received}" in message


def test_wrong_element_counts_are_refused(backend):
    x = backend.array(_logits(8))
    _refused(backend, x, np.zeros((SEGMENTS, HORIZON + 1), np.int32), f"({BATCH},)", (SEGMENTS, HORIZON + 1))
    # a discrete head takes one action per row, as PufferLib (its view(batch, -1) then fails its assert)
    _refused(backend, x, np.zeros((BATCH, 2), np.int32), f"({BATCH},)", (BATCH, 2))
    heads = tuple(backend.array(_logits(9, n=n)) for n in (3, 7, 4))
    _refused(backend, heads, np.zeros((2, 16, 2), np.int32), f"({BATCH}, 3)", (2, 16, 2))
    ones = np.ones((BATCH, 3), np.float32)
    dist = backend.normal(backend.array(ones * 0), backend.array(ones))
    _refused(backend, dist, np.zeros((SEGMENTS, HORIZON, 4), np.float32), f"({BATCH}, 3)", (SEGMENTS, HORIZON, 4))
