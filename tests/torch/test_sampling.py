"""torch-only sampling behaviour: torch.compile, autograd, generators, dtypes, statistics, errors.

Mirrors tests/jax/test_sampling.py test for test, in the same order and with the same names:
where JAX has `jit` this file has `torch.compile` (dynamo's `eager` backend, which traces as
fullgraph compilation does, without codegen), where JAX has keys this file has generators.
What has no twin comes last, each side marked: "torch only" here, "JAX only" there.
"""
import numpy as np
import pytest
import torch
from scipy import stats

from puffer_backend import torch_impl as T
from puffer_backend.spec import categorical_from_uniform


def _logits(batch=64, n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, n)).astype(np.float32) * 2


def _reference(logits):
    logp = logits - np.logaddexp.reduce(logits.astype(np.float64), axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return logp, -np.where(np.isfinite(logp), np.exp(logp) * logp, 0.0).sum(-1)


def _compile(fn, fullgraph=True):
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=fullgraph, backend="eager")


def _seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_compiled_matches_eager_and_reference():
    logits = torch.from_numpy(_logits())
    torch.manual_seed(3)
    eager = T.sample_logits(logits)
    torch.manual_seed(3)
    compiled = _compile(T.sample_logits)(logits)
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(e.numpy(), c.numpy(), rtol=1e-6)
    logp, ent = _reference(logits.numpy())
    action = eager[0].numpy()
    assert action.dtype == np.int64 and action.shape == (64,)
    np.testing.assert_allclose(eager[1], logp[np.arange(64), action], atol=1e-5)
    np.testing.assert_allclose(eager[2], ent, atol=1e-5)


def test_draw_is_the_spec_rule_on_the_documented_uniforms():
    logits = _logits(batch=256)
    action = T.sample_logits(torch.from_numpy(logits), generator=_seeded(11))[0].numpy()
    u = torch.rand((256, 1), generator=_seeded(11))[:, 0].numpy()  # one torch.rand per row
    np.testing.assert_array_equal(action, categorical_from_uniform(logits, u))
    assert 0.0 <= u.min() and u.max() < 1.0


def test_heads_draw_the_documented_uniforms_row_major():
    heads = (torch.from_numpy(_logits(100, 3, seed=1)), torch.from_numpy(_logits(100, 9, seed=2)))
    action = T.sample_logits(heads, generator=_seeded(8))[0]
    u = torch.rand((100, 2), generator=_seeded(8))  # (batch, heads): one per row and head
    assert torch.equal(action, T.sample_from_uniforms(heads, u))


def test_randomness_sources_agree_and_different_seeds_differ():
    logits = torch.from_numpy(_logits(batch=512))
    a = T.sample_logits(logits, generator=_seeded(0))[0]
    torch.manual_seed(0)  # the global generator, seeded alike
    b = T.sample_logits(logits)[0]
    c = T.sample_logits(logits, generator=_seeded(1))[0]
    assert torch.equal(a, b)
    assert (a != c).double().mean() > 0.3


@pytest.mark.parametrize("n", [2, 7, 64])
def test_frequencies_chi_square(n):
    logits = np.random.default_rng(n).normal(size=(n,)).astype(np.float32)
    draws = 20000
    batch = torch.from_numpy(np.broadcast_to(logits, (draws, n)).copy())
    action = T.sample_logits(batch, generator=_seeded(n))[0].numpy()
    counts = np.bincount(action, minlength=n)
    probs = np.exp(logits - np.logaddexp.reduce(logits.astype(np.float64)))
    assert stats.chisquare(counts, probs * draws).pvalue > 1e-4


def test_normal_moments_and_closed_forms():
    loc = torch.tensor([[1.0, -2.0, 0.5]] * 20000)
    scale = torch.tensor([[0.5, 2.0, 1.0]])
    action, logp, ent = T.sample_logits(torch.distributions.Normal(loc, scale), generator=_seeded(5))
    a = action.numpy()
    assert a.shape == (20000, 3) and np.isfinite(a).all()
    for d in range(3):
        z = (a[:, d] - float(loc[0, d])) / float(scale[0, d])
        assert stats.kstest(z, "norm").pvalue > 1e-4
    ref = stats.norm(loc.numpy(), np.broadcast_to(scale.numpy(), loc.shape))
    np.testing.assert_allclose(logp, ref.logpdf(a).sum(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ent, ref.entropy().sum(-1), rtol=1e-6)


def test_grad_of_logprob_and_entropy_matches_closed_form():
    logits = _logits(batch=8, n=5)
    action = torch.arange(8) % 5
    x = torch.from_numpy(logits).requires_grad_(True)
    g, = torch.autograd.grad(T.sample_logits(x, action)[1].sum(), x)
    p = np.exp(_reference(logits)[0])
    np.testing.assert_allclose(g.numpy(), np.eye(5)[action.numpy()] - p, atol=1e-5)
    ge, = torch.autograd.grad(T.entropy(x).sum(), x)
    logp = _reference(logits)[0]
    h = -(p * logp).sum(-1, keepdims=True)
    np.testing.assert_allclose(ge.numpy(), -p * (logp + h), atol=1e-5)


@pytest.mark.parametrize("fill", [-np.inf, np.finfo(np.float32).min])
def test_masked_entries_finite_values_and_grads_compiled(fill):
    logits = _logits(batch=16, n=4)
    logits[:, 0] = fill
    action = torch.full((16,), 2)

    def loss(x):
        _, logp, ent = T.sample_logits(x, action)
        return (logp + ent + T.entropy(x)).sum()

    x = torch.from_numpy(logits).requires_grad_(True)
    value = _compile(loss)(x)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    _, ent = _reference(logits[:, 1:])
    np.testing.assert_allclose(T.entropy(torch.from_numpy(logits)), ent, atol=1e-5)


def test_mask_argument_never_draws_masked_and_bf16_gives_float32():
    logits = _logits(batch=4096, n=5)
    mask = np.ones((4096, 5), bool)
    mask[:, [1, 3]] = False
    action, logp, ent = T.sample_logits(torch.from_numpy(logits).bfloat16(), mask=torch.from_numpy(mask),
                                        generator=_seeded(2))
    assert not np.isin(action.numpy(), [1, 3]).any()
    assert logp.dtype == torch.float32 and ent.dtype == torch.float32


def test_deterministic_is_argmax_and_mean():
    logits = _logits()
    action = T.sample_logits(torch.from_numpy(logits), deterministic=True)[0]
    np.testing.assert_array_equal(action, logits.argmax(-1))
    loc = torch.ones((3, 2))
    normal = torch.distributions.Normal(loc, torch.ones(3, 2))
    assert torch.equal(T.sample_logits(normal, deterministic=True)[0], loc)


def test_heads_shapes_and_sums():
    heads = (_logits(n=3, seed=1), _logits(n=5, seed=2))
    action, logp, ent = T.sample_logits(tuple(torch.from_numpy(h) for h in heads), generator=_seeded(0))
    assert action.shape == (64, 2)
    a = action.numpy()
    lp = sum(_reference(h)[0][np.arange(64), a[:, i]] for i, h in enumerate(heads))
    np.testing.assert_allclose(logp, lp, atol=1e-5)
    np.testing.assert_allclose(ent, sum(_reference(h)[1] for h in heads), atol=1e-5)
    # a flat (batch * heads,) action is accepted like PufferLib's view
    flat = T.sample_logits(tuple(torch.from_numpy(h) for h in heads), action.reshape(-1))
    np.testing.assert_allclose(flat[1], logp, rtol=1e-6)


def test_static_errors_raise_while_compiling():
    # dynamo traces the checks and re-raises their error (under fullgraph=True it wraps it in
    # its Unsupported error, whose message carries ours)
    def compiled(fn):
        return _compile(fn, fullgraph=False)

    with pytest.raises(ValueError, match="logits"):
        compiled(T.sample_logits)(torch.zeros((2, 4, 3)))  # (n,) is one unbatched row
    with pytest.raises(ValueError, match="mask"):
        compiled(lambda x, m: T.sample_logits(x, mask=m))(torch.zeros((4, 3)), torch.ones((4, 2), dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        T.sample_logits(torch.zeros((4, 3)), mask=torch.ones((4, 3)))
    with pytest.raises(ValueError, match="action"):
        compiled(T.sample_logits)(torch.zeros((4, 3)), torch.zeros((5,), dtype=torch.int32))
    with pytest.raises(TypeError, match="action"):
        T.sample_logits(torch.zeros((4, 3)), torch.zeros((4,)))
    with pytest.raises(TypeError, match="generator"):
        T.sample_logits(torch.zeros((4, 3)), generator=0)
    with pytest.raises(ValueError, match="logits"):
        T.sample_logits((torch.zeros((4, 3)), torch.zeros((5, 3))))


def test_action_range_checked_eagerly_nan_when_compiled():
    with pytest.raises(ValueError, match=r"action.*\[0, n\)"):
        T.sample_logits(torch.zeros((4, 3)), torch.tensor([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="value"):
        T.log_prob(torch.zeros((4, 3)), torch.tensor([0, -1, 1, 2]))
    logp = _compile(T.log_prob)(torch.zeros((3, 3)), torch.tensor([0, 3, -1]))
    assert torch.isfinite(logp[0]) and torch.isnan(logp[1]) and torch.isnan(logp[2])


def test_empty_batch():
    for sample in (T.sample_logits, _compile(T.sample_logits)):
        action, logp, ent = sample(torch.zeros((0, 4)))
        assert action.shape == (0,) and logp.shape == (0,) and ent.shape == (0,)


@pytest.mark.parametrize("n", [4, 20, 200])  # columns, rows counted, rows binary-searched
def test_largest_uniform_never_passes_the_last_allowed_entry(n):
    rng = np.random.default_rng(n)
    # unit-scale logits: every allowed weight is far above float32 rounding of the total
    logits = rng.normal(size=(500, n)).astype(np.float32)
    mask = rng.random((500, n)) < 0.5
    mask[:, 0] = True
    mask[:, -3:] = False  # trailing masked entries: the clamp must stop before them
    top = np.full(500, np.nextafter(np.float32(1), np.float32(0)), np.float32)
    action = T.sample_from_uniforms(torch.from_numpy(logits), torch.from_numpy(top), mask=torch.from_numpy(mask))
    last_allowed = n - 1 - np.argmax(mask[:, ::-1], axis=1)
    np.testing.assert_array_equal(action, last_allowed)
    np.testing.assert_array_equal(action, categorical_from_uniform(logits, top, mask))


def test_masked_frequencies_chi_square_wide_heads():
    # 24 actions: torch's rows (jax_impl's matrix-product CDF), not the narrow heads' path
    n, draws = 24, 20000
    logits = np.random.default_rng(7).normal(size=(n,)).astype(np.float32)
    mask = np.arange(n) % 3 != 1
    action = T.sample_logits(torch.from_numpy(np.broadcast_to(logits, (draws, n)).copy()),
                             mask=torch.from_numpy(np.broadcast_to(mask, (draws, n)).copy()),
                             generator=_seeded(9))[0].numpy()
    counts = np.bincount(action, minlength=n)
    assert counts[~mask].sum() == 0
    p = np.exp(logits[mask] - np.logaddexp.reduce(logits[mask].astype(np.float64)))
    assert stats.chisquare(counts[mask], p * draws).pvalue > 1e-4


def test_the_other_backends_normal_is_pointed_to_ours():
    jax_impl = pytest.importorskip("puffer_backend.jax_impl")
    jnp = pytest.importorskip("jax.numpy")
    dist = jax_impl.Normal(jnp.zeros((4, 2)), jnp.ones((4, 2)))
    with pytest.raises(TypeError, match=r"logits: expected .*torch.distributions.Normal.*exchange.to_torch"):
        T.sample_logits(dist)


# -- torch only: generator, is_continuous, the range-check switch, the CPU fast path ----------

def test_is_continuous_flag():
    normal = torch.distributions.Normal(torch.zeros(3, 2), torch.ones(3, 2))
    assert T.sample_logits(normal, is_continuous=True)[0].shape == (3, 2)
    assert T.sample_logits(torch.zeros(3, 4), is_continuous=False)[0].shape == (3,)
    with pytest.raises(ValueError, match="is_continuous"):
        T.sample_logits(torch.zeros(3, 4), is_continuous=True)
    with pytest.raises(ValueError, match="is_continuous"):
        T.sample_logits(normal, is_continuous=False)
    with pytest.raises(TypeError, match="is_continuous"):
        T.sample_logits(torch.zeros(3, 4), is_continuous=1)


def test_torch_only_arguments_are_checked_after_the_shared_ones():
    # spec.sampling_inputs' order: logits, deterministic, mask, action; then generator and is_continuous
    with pytest.raises(ValueError, match="^mask"):
        T.sample_logits(torch.zeros(3, 4), mask=torch.ones(3, 5, dtype=torch.bool), generator=0, is_continuous=True)
    with pytest.raises(TypeError, match="^generator"):
        T.sample_logits(torch.zeros(3, 4), generator=0, is_continuous=True)


def test_device_check_switch_is_off_by_default():
    from puffer_backend.torch_impl import validation as _validate
    assert _validate.CHECK_DEVICE_ACTIONS is False  # documented: CUDA range checks would sync


def test_scratch_buffers_never_alias_results():
    # batches this large take the reused-buffer path; a second call must not change the first results
    logits = torch.randn(4096, 16)
    heads = (torch.randn(4096, 3), torch.randn(4096, 9))
    first = T.sample_logits(logits, generator=_seeded(0))
    first_heads = T.sample_logits(heads, generator=_seeded(0))
    kept = [t.clone() for t in (*first, *first_heads)]
    T.sample_logits(logits * 3)
    T.sample_logits(tuple(h * 3 for h in heads))
    T.sample_from_uniforms(logits, torch.rand(4096))
    for before, after in zip(kept, (*first, *first_heads)):
        assert torch.equal(before, after)
    again = T.sample_logits(logits, generator=_seeded(0))
    for a, b in zip(first, again):
        assert torch.equal(a, b)


def test_same_draws_with_and_without_autograd():
    # the fused no-grad path and the autograd path implement one rule: same seed, same actions
    for logits in (torch.randn(5000, 6) * 3, (torch.randn(5000, 3), torch.randn(5000, 8))):
        plain = T.sample_logits(logits, generator=_seeded(4))
        tracked = logits.clone().requires_grad_(True) if isinstance(logits, torch.Tensor) else \
            tuple(h.clone().requires_grad_(True) for h in logits)
        graded = T.sample_logits(tracked, generator=_seeded(4))
        assert torch.equal(plain[0], graded[0])
        torch.testing.assert_close(plain[1], graded[1].detach())
        torch.testing.assert_close(plain[2], graded[2].detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_reused_column_buffer_holds_the_logits_transposed(dtype):
    # rollout-sized batches of up to 16 actions are transposed into a reused buffer by numpy
    # (half types after their float32 upcast): the same actions, log-probabilities and entropies
    # as the autograd path, which transposes with torch, for plain and inference tensors
    logits = (torch.randn(4096, 7) * 3).to(dtype)
    u = torch.rand(4096, dtype=torch.float64)
    tracked = logits.clone().requires_grad_(True)
    expected = T.sample_logits(tracked, T.sample_from_uniforms(tracked.detach(), u))
    for source in (logits, torch.inference_mode()(lambda: logits.clone())()):
        with torch.no_grad():
            action = T.sample_from_uniforms(source, u)
            scored = T.sample_logits(source, action)
        assert torch.equal(action, expected[0])
        assert torch.equal(scored[1], expected[1].detach()) and torch.equal(scored[2], expected[2].detach())
