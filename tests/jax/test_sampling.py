"""JAX-only sampling behaviour: jit, vmap, grad, keys, dtypes, statistics, errors.

Mirrors tests/torch/test_sampling.py test for test, in the same order and with the same names:
where torch has `torch.compile` this file has `jit`, where torch has generators this file has
keys. What has no twin comes last, each side marked: "JAX only" here, "torch only" there.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from puffer_backend import jax_impl as J
from puffer_backend.spec import categorical_from_uniform


def _logits(batch=64, n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, n)).astype(np.float32) * 2


def _reference(logits):
    logp = logits - np.logaddexp.reduce(logits.astype(np.float64), axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return logp, -np.where(np.isfinite(logp), np.exp(logp) * logp, 0.0).sum(-1)


def test_compiled_matches_eager_and_reference():
    logits = _logits()
    key = jax.random.key(3)
    eager = J.sample_logits(key, logits)
    jitted = jax.jit(J.sample_logits)(key, jnp.asarray(logits))
    for e, j in zip(eager, jitted):
        np.testing.assert_allclose(np.asarray(e), np.asarray(j), rtol=1e-6)
    logp, ent = _reference(logits)
    action = np.asarray(eager[0])
    assert action.dtype == (np.int64 if jax.config.jax_enable_x64 else np.int32) and action.shape == (64,)
    np.testing.assert_allclose(eager[1], logp[np.arange(64), action], atol=1e-5)
    np.testing.assert_allclose(eager[2], ent, atol=1e-5)


def test_draw_is_the_spec_rule_on_the_documented_uniforms():
    logits = _logits(batch=256)
    key = jax.random.key(11)
    action = np.asarray(J.sample_logits(key, logits)[0])
    u = np.asarray(J.sampling.uniforms(key, (256, 1)))[:, 0]
    np.testing.assert_array_equal(action, categorical_from_uniform(logits, u))
    assert 0.0 < u.min() and u.max() < 1.0


def test_heads_draw_the_documented_uniforms_row_major():
    heads = (jnp.asarray(_logits(100, 3, seed=1)), jnp.asarray(_logits(100, 9, seed=2)))
    key = jax.random.key(8)
    action = J.sample_logits(key, heads)[0]
    u = J.sampling.uniforms(key, (100, 2))  # (batch, heads): one per row and head
    np.testing.assert_array_equal(action, J.sample_from_uniforms(heads, u))


def test_randomness_sources_agree_and_different_seeds_differ():
    logits = _logits(batch=512)
    a = J.sample_logits(jax.random.key(0), logits)[0]
    b = J.sample_logits(jax.random.PRNGKey(0), logits)[0]
    c = J.sample_logits(jax.random.key(1), logits)[0]
    np.testing.assert_array_equal(a, b)
    assert np.mean(np.asarray(a) != np.asarray(c)) > 0.3


@pytest.mark.parametrize("n", [2, 7, 64])
def test_frequencies_chi_square(n):
    logits = np.random.default_rng(n).normal(size=(n,)).astype(np.float32)
    draws = 20000
    batch = np.broadcast_to(logits, (draws, n))
    action = np.asarray(jax.jit(J.sample_logits)(jax.random.key(n), batch)[0])
    counts = np.bincount(action, minlength=n)
    probs = np.exp(logits - np.logaddexp.reduce(logits.astype(np.float64)))
    assert stats.chisquare(counts, probs * draws).pvalue > 1e-4


def test_normal_moments_and_closed_forms():
    loc = jnp.asarray([[1.0, -2.0, 0.5]] * 20000)
    scale = jnp.asarray([[0.5, 2.0, 1.0]])
    action, logp, ent = jax.jit(J.sample_logits)(jax.random.key(5), J.Normal(loc, scale))
    a = np.asarray(action)
    assert a.shape == (20000, 3) and np.isfinite(a).all()
    for d in range(3):
        z = (a[:, d] - float(loc[0, d])) / float(scale[0, d])
        assert stats.kstest(z, "norm").pvalue > 1e-4
    ref = stats.norm(np.asarray(loc), np.broadcast_to(np.asarray(scale), loc.shape))
    np.testing.assert_allclose(logp, ref.logpdf(a).sum(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ent, ref.entropy().sum(-1), rtol=1e-6)


def test_grad_of_logprob_and_entropy_matches_closed_form():
    logits = _logits(batch=8, n=5)
    action = np.arange(8) % 5

    def loss(x):
        return J.sample_logits(None, x, jnp.asarray(action))[1].sum()

    g = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(logits)))
    p = np.exp(_reference(logits)[0])
    np.testing.assert_allclose(g, np.eye(5)[action] - p, atol=1e-5)
    ge = np.asarray(jax.grad(lambda x: J.entropy(x).sum())(jnp.asarray(logits)))
    logp = _reference(logits)[0]
    h = -(p * logp).sum(-1, keepdims=True)
    np.testing.assert_allclose(ge, -p * (logp + h), atol=1e-5)


@pytest.mark.parametrize("fill", [-np.inf, np.finfo(np.float32).min])
def test_masked_entries_finite_values_and_grads_compiled(fill):
    logits = _logits(batch=16, n=4)
    logits[:, 0] = fill
    action = jnp.asarray(np.full(16, 2))

    def loss(x):
        _, logp, ent = J.sample_logits(None, x, action)
        return (logp + ent + J.entropy(x)).sum()

    value, grad = jax.jit(jax.value_and_grad(loss))(jnp.asarray(logits))
    assert np.isfinite(value) and np.isfinite(np.asarray(grad)).all()
    _, ent = _reference(logits[:, 1:])
    np.testing.assert_allclose(J.entropy(logits), ent, atol=1e-5)


def test_mask_argument_never_draws_masked_and_bf16_gives_float32():
    logits = _logits(batch=4096, n=5)
    mask = np.ones((4096, 5), bool)
    mask[:, [1, 3]] = False
    action, logp, ent = jax.jit(J.sample_logits)(jax.random.key(2), jnp.asarray(logits, jnp.bfloat16),
                                                  mask=jnp.asarray(mask))
    assert not np.isin(np.asarray(action), [1, 3]).any()
    assert logp.dtype == jnp.float32 and ent.dtype == jnp.float32


def test_deterministic_is_argmax_and_mean():
    logits = _logits()
    action = J.sample_logits(None, logits, deterministic=True)[0]
    np.testing.assert_array_equal(action, logits.argmax(-1))
    loc = jnp.ones((3, 2))
    np.testing.assert_array_equal(J.sample_logits(None, J.Normal(loc, 1.0), deterministic=True)[0], loc)


def test_heads_shapes_and_sums():
    heads = (_logits(n=3, seed=1), _logits(n=5, seed=2))
    action, logp, ent = jax.jit(J.sample_logits)(jax.random.key(0), heads)
    assert action.shape == (64, 2)
    a = np.asarray(action)
    lp = sum(_reference(h)[0][np.arange(64), a[:, i]] for i, h in enumerate(heads))
    np.testing.assert_allclose(logp, lp, atol=1e-5)
    np.testing.assert_allclose(ent, sum(_reference(h)[1] for h in heads), atol=1e-5)
    # a flat (batch * heads,) action is accepted like PufferLib's view
    flat = J.sample_logits(None, heads, a.reshape(-1))
    np.testing.assert_allclose(flat[1], logp, rtol=1e-6)


def test_static_errors_raise_while_compiling():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="logits"):
        jax.jit(J.sample_logits)(key, jnp.zeros((2, 4, 3)))  # (n,) is one unbatched row
    with pytest.raises(ValueError, match="mask"):
        jax.jit(lambda k, x, m: J.sample_logits(k, x, mask=m))(key, jnp.zeros((4, 3)), jnp.ones((4, 2), bool))
    with pytest.raises(TypeError, match="mask"):
        J.sample_logits(key, jnp.zeros((4, 3)), mask=jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="action"):
        jax.jit(J.sample_logits)(key, jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))
    with pytest.raises(TypeError, match="action"):
        J.sample_logits(key, jnp.zeros((4, 3)), jnp.zeros((4,)))
    with pytest.raises(TypeError, match="key"):
        J.sample_logits(0, jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="logits"):
        J.sample_logits(key, (jnp.zeros((4, 3)), jnp.zeros((5, 3))))


def test_action_range_checked_eagerly_nan_when_compiled():
    with pytest.raises(ValueError, match=r"action.*\[0, n\)"):
        J.sample_logits(None, jnp.zeros((4, 3)), jnp.asarray([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="value"):
        J.log_prob(jnp.zeros((4, 3)), np.asarray([0, -1, 1, 2]))
    logp = jax.jit(J.log_prob)(jnp.zeros((3, 3)), jnp.asarray([0, 3, -1]))
    assert np.isfinite(logp[0]) and np.isnan(logp[1]) and np.isnan(logp[2])


def test_empty_batch():
    action, logp, ent = jax.jit(J.sample_logits)(jax.random.key(0), jnp.zeros((0, 4)))
    assert action.shape == (0,) and logp.shape == (0,) and ent.shape == (0,)


@pytest.mark.parametrize("n", [4, 20])  # a head by columns, the matrix-product CDF
def test_largest_uniform_never_passes_the_last_allowed_entry(n):
    rng = np.random.default_rng(n)
    # unit-scale logits: every allowed weight is far above float32 rounding of the total
    logits = rng.normal(size=(500, n)).astype(np.float32)
    mask = rng.random((500, n)) < 0.5
    mask[:, 0] = True
    mask[:, -3:] = False  # trailing masked entries: the clamp must stop before them
    top = np.full(500, np.nextafter(np.float32(1), np.float32(0)), np.float32)
    action = np.asarray(jax.jit(J.sample_from_uniforms)(jnp.asarray(logits), jnp.asarray(top), mask=jnp.asarray(mask)))
    last_allowed = n - 1 - np.argmax(mask[:, ::-1], axis=1)
    np.testing.assert_array_equal(action, last_allowed)
    np.testing.assert_array_equal(action, categorical_from_uniform(logits, top, mask))


def test_masked_frequencies_chi_square_wide_heads():
    # 24 actions: the matrix-product CDF (torch_impl's rows), not the narrow heads' path
    n, draws = 24, 20000
    logits = np.random.default_rng(7).normal(size=(n,)).astype(np.float32)
    mask = np.arange(n) % 3 != 1
    action = np.asarray(jax.jit(J.sample_logits)(jax.random.key(9), np.broadcast_to(logits, (draws, n)),
                                                  mask=jnp.asarray(np.broadcast_to(mask, (draws, n))))[0])
    counts = np.bincount(action, minlength=n)
    assert counts[~mask].sum() == 0
    p = np.exp(logits[mask] - np.logaddexp.reduce(logits[mask].astype(np.float64)))
    assert stats.chisquare(counts[mask], p * draws).pvalue > 1e-4


def test_the_other_backends_normal_is_pointed_to_ours():
    torch = pytest.importorskip("torch")
    dist = torch.distributions.Normal(torch.zeros(4, 2), torch.ones(4, 2))
    with pytest.raises(TypeError, match=r"logits: expected .*jax_impl.Normal.*exchange.to_jax"):
        J.sample_logits(jax.random.key(0), dist)
    with pytest.raises(TypeError, match=r"logits.loc: expected .*exchange.to_jax.*received Tensor"):
        J.sample_logits(jax.random.key(0), J.Normal(torch.zeros(4, 2), 1.0))


# -- JAX only: vmap, static arguments under jit, batches of keys -----------------------------

def test_vmap_over_keys_and_batches():
    logits = jnp.asarray(np.stack([_logits(seed=s) for s in range(4)]))
    keys = jax.random.split(jax.random.key(0), 4)
    action, logp, ent = jax.vmap(J.sample_logits)(keys, logits)
    assert action.shape == (4, 64)
    for i in range(4):
        single = J.sample_logits(keys[i], logits[i])
        np.testing.assert_array_equal(action[i], single[0])
        np.testing.assert_allclose(logp[i], single[1], rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(J.entropy)(logits), np.stack([J.entropy(l) for l in logits]), rtol=1e-6)


def test_deterministic_under_jit_needs_static_argnames():
    logits = jnp.asarray(_logits())
    with pytest.raises(TypeError, match="static_argnames"):
        jax.jit(J.sample_logits)(None, logits, deterministic=True)
    action = jax.jit(J.sample_logits, static_argnames="deterministic")(None, logits, deterministic=True)[0]
    np.testing.assert_array_equal(action, np.asarray(logits).argmax(-1))


def test_vmap_over_keys_and_unbatched_rows_distrax_style():
    # jax.vmap(sample_logits)(keys, logits): one key and one (n,) row per call, as with distrax
    n, draws = 7, 20000
    row = np.random.default_rng(40).normal(size=n).astype(np.float32)
    logits = jnp.asarray(np.broadcast_to(row, (draws, n)))
    keys = jax.random.split(jax.random.key(41), draws)
    action, logp, ent = jax.jit(jax.vmap(J.sample_logits))(keys, logits)
    assert action.shape == logp.shape == ent.shape == (draws,)
    a = np.asarray(action)
    probs = np.exp(row - np.logaddexp.reduce(row.astype(np.float64)))
    assert stats.chisquare(np.bincount(a, minlength=n), probs * draws).pvalue > 1e-4
    logp_true, ent_true = _reference(row)
    np.testing.assert_allclose(logp, logp_true[a], atol=1e-5)
    np.testing.assert_allclose(ent, np.full(draws, ent_true), atol=1e-5)
    # each call drew the documented uniform of its key: the batched rule on those uniforms agrees
    u = jax.vmap(lambda k: J.sampling.uniforms(k, (1, 1))[0, 0])(keys)
    np.testing.assert_array_equal(a, J.sample_from_uniforms(logits, u))
    np.testing.assert_array_equal(a, categorical_from_uniform(np.asarray(logits), np.asarray(u)))


def test_vmap_of_sample_from_uniforms_equals_the_batched_call():
    rng = np.random.default_rng(42)
    logits = jnp.asarray(rng.normal(size=(300, 12)).astype(np.float32))
    u = jnp.asarray(rng.random(300).astype(np.float32))
    np.testing.assert_array_equal(jax.vmap(J.sample_from_uniforms)(logits, u), J.sample_from_uniforms(logits, u))
    heads = (logits[:, :5], logits[:, 5:])
    uh = jnp.asarray(rng.random((300, 2)).astype(np.float32))
    np.testing.assert_array_equal(jax.vmap(J.sample_from_uniforms)(heads, uh), J.sample_from_uniforms(heads, uh))
    dist = J.Normal(logits[:, :3], jnp.exp(logits[:, 3:6] * 0.1))
    uu = jnp.asarray(rng.uniform(0.01, 0.99, (300, 3)).astype(np.float32))
    np.testing.assert_allclose(jax.vmap(J.sample_from_uniforms)(dist, uu), J.sample_from_uniforms(dist, uu), rtol=1e-6)


def test_vmap_heads_normals_legacy_keys_and_given_actions():
    rng = np.random.default_rng(43)
    heads = (jnp.asarray(rng.normal(size=(64, 3)).astype(np.float32)),
             jnp.asarray(rng.normal(size=(64, 5)).astype(np.float32)))
    legacy = jax.random.split(jax.random.PRNGKey(44), 64)  # (64, 2) uint32: one (2,) key per call
    action, logp, _ = jax.vmap(J.sample_logits)(legacy, heads)
    assert action.shape == (64, 2) and logp.shape == (64,)
    scored = J.sample_logits(None, heads, action)  # the batched call scores the same actions alike
    np.testing.assert_allclose(logp, scored[1], rtol=1e-6)
    rescored = jax.vmap(J.sample_logits, in_axes=(None, 0, 0))(None, heads, action)
    np.testing.assert_allclose(rescored[1], scored[1], rtol=1e-6)
    dist = J.Normal(jnp.zeros((64, 2)), jnp.full((64, 2), 0.5))
    action, logp, ent = jax.vmap(J.sample_logits)(jax.random.split(jax.random.key(45), 64), dist)
    assert action.shape == (64, 2) and logp.shape == ent.shape == (64,)
    ref = stats.norm(0.0, 0.5)
    np.testing.assert_allclose(logp, ref.logpdf(np.asarray(action)).sum(-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: jax.random.split(jax.random.key(0), 4),
                                  lambda: jax.random.split(jax.random.PRNGKey(0), 4)], ids=["typed", "legacy"])
def test_a_batch_of_keys_outside_vmap_says_use_vmap(make):
    keys = make()
    message = r"key: expected a single PRNG key.*\(for a batch of keys, use jax.vmap\), received .*shape \(4"
    calls = [lambda k: J.sample_logits(k, jnp.zeros((4, 3))),
             lambda k: J.sample_logits(k, (jnp.zeros((4, 3)), jnp.zeros((4, 2)))),
             lambda k: J.sample_logits(k, J.Normal(jnp.zeros((4, 2)), 1.0)),
             lambda k: J.sample_logits(k, jnp.zeros(3))]
    for call in calls:
        with pytest.raises(ValueError, match=message):
            call(keys)
        with pytest.raises(ValueError, match=message):
            jax.jit(call)(keys)


def test_the_key_is_checked_after_the_shared_arguments():
    # spec.sampling_inputs' order: logits, deterministic, mask, action; then the key, when drawing
    with pytest.raises(ValueError, match="^mask"):
        J.sample_logits(0, jnp.zeros((3, 4)), mask=jnp.ones((3, 5), bool))
    with pytest.raises(TypeError, match="^key"):
        J.sample_logits(0, jnp.zeros((3, 4)))
    assert J.sample_logits(0, jnp.zeros((3, 4)), deterministic=True)[0].shape == (3,)  # no draw: no key


def test_a_scale_that_does_not_broadcast_to_loc_is_refused():
    # a torch.distributions.Normal broadcasts its parameters itself; a jax_impl.Normal holds them as given
    dist = J.Normal(jnp.zeros((4, 2)), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"^logits.scale: expected a shape broadcastable to loc's \(4, 2\), "
                                         r"received shape \(4, 3\)$"):
        J.sample_logits(jax.random.key(0), dist)
