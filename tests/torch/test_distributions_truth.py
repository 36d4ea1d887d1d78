"""torch_impl against torch.distributions (Categorical, Normal) as the independent truth."""
import pytest
import torch
from torch.distributions import Categorical, Normal

from puffer_backend import torch_impl as T


def _logits(seed, batch=32, n=6, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, n, generator=g) * 3 + torch.randn(batch, 1, generator=g) * 20).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_prob_entropy_and_grads_match_categorical(dtype):
    x = _logits(0, dtype=dtype).requires_grad_(True)
    a = torch.randint(0, 6, (32,), generator=torch.Generator().manual_seed(1))
    ours_lp, ours_ent = T.log_prob(x, a), T.entropy(x)
    assert ours_lp.dtype == dtype and ours_ent.dtype == dtype
    dist = Categorical(logits=x)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours_lp, dist.log_prob(a), **tol)
    torch.testing.assert_close(ours_ent, dist.entropy(), **tol)
    g_ours = torch.autograd.grad((ours_lp + ours_ent).sum(), x)[0]
    g_true = torch.autograd.grad((dist.log_prob(a) + dist.entropy()).sum(), x)[0]
    torch.testing.assert_close(g_ours, g_true, **tol)


def test_sample_logits_scores_like_categorical_with_grads():
    x = _logits(2).requires_grad_(True)
    a = torch.randint(0, 6, (32,), generator=torch.Generator().manual_seed(3))
    action, lp, ent = T.sample_logits(x, a)
    assert action.dtype == a.dtype and torch.equal(action, a)
    dist = Categorical(logits=x)
    torch.testing.assert_close(lp, dist.log_prob(a))
    torch.testing.assert_close(ent, dist.entropy())
    (lp.sum() + ent.sum()).backward()
    assert torch.isfinite(x.grad).all()


def test_heads_match_product_of_categoricals():
    sizes = (3, 7, 4, 5, 9)
    heads = [_logits(10 + i, 16, n).requires_grad_(True) for i, n in enumerate(sizes)]
    action, lp, ent = T.sample_logits(tuple(heads), generator=torch.Generator().manual_seed(0))
    assert action.shape == (16, 5) and action.dtype == torch.int64
    dists = [Categorical(logits=h) for h in heads]
    torch.testing.assert_close(lp, sum(d.log_prob(action[:, i]) for i, d in enumerate(dists)))
    torch.testing.assert_close(ent, sum(d.entropy() for d in dists))
    (lp + ent).sum().backward()
    assert all(torch.isfinite(h.grad).all() for h in heads)


def test_normal_matches_torch_normal():
    g = torch.Generator().manual_seed(4)
    loc = torch.randn(64, 3, generator=g, requires_grad=True)
    scale = torch.rand(64, 3, generator=g) + 0.2
    dist = Normal(loc, scale)
    action, lp, ent = T.sample_logits(dist, generator=g)
    assert action.shape == (64, 3) and not action.requires_grad
    torch.testing.assert_close(lp, dist.log_prob(action).sum(1))
    torch.testing.assert_close(ent, dist.entropy().sum(1))
    lp.sum().backward()
    assert torch.isfinite(loc.grad).all()


def test_normal_with_extra_dims_flattens_like_pufferlib():
    dist = Normal(torch.zeros(5, 2, 3), torch.ones(5, 2, 3))
    action, lp, ent = T.sample_logits(dist)
    assert action.shape == (5, 6) and lp.shape == (5,) and ent.shape == (5,)
    torch.testing.assert_close(lp, dist.log_prob(action.view(5, 2, 3)).sum((1, 2)))


def test_bf16_normal_gives_float32_scores():
    dist = Normal(torch.zeros(4, 2, dtype=torch.bfloat16), torch.ones(4, 2, dtype=torch.bfloat16))
    action, lp, ent = T.sample_logits(dist)
    assert action.dtype == torch.bfloat16 and lp.dtype == torch.float32 and ent.dtype == torch.float32


def test_entropy_probs_documented_formula():
    x = torch.log_softmax(_logits(6), -1)
    torch.testing.assert_close(T.entropy_probs(x, x.exp()), Categorical(logits=x).entropy())


def test_unbatched_and_buffer_shaped_normals_match_torch_normal():
    g = torch.Generator().manual_seed(5)
    loc, scale = torch.randn(3, generator=g), torch.rand(3, generator=g) + 0.2
    dist = Normal(loc, scale)
    action, lp, ent = T.sample_logits(dist, generator=g)
    assert action.shape == (3,) and lp.shape == ent.shape == ()
    torch.testing.assert_close(lp, dist.log_prob(action).sum())
    torch.testing.assert_close(ent, dist.entropy().sum())
    batch = Normal(torch.randn(32, 2, generator=g), torch.rand(32, 2, generator=g) + 0.2)
    stored = torch.randn(4, 8, 2, generator=g)  # PufferLib's (segments, horizon, action_dim) buffer
    action, lp, _ = T.sample_logits(batch, stored)
    assert action.shape == (32, 2)
    torch.testing.assert_close(lp, batch.log_prob(stored.view(32, -1)).sum(1))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_normal_scale_checked_with_torch_validation_on_or_off(bad):
    scale = torch.ones(4, 2)
    scale[1, 1] = bad
    if bad != float("inf"):  # torch's own validation refuses these at construction
        with pytest.raises(ValueError):
            Normal(torch.zeros(4, 2), scale, validate_args=True)
    # torch lets +inf through its `positive` constraint, and nothing with validate_args=False,
    # which is also every Normal's default once torch.compile has run in the process
    for validate in ((True,) if bad == float("inf") else ()) + (False,):
        dist = Normal(torch.zeros(4, 2), scale, validate_args=validate)
        with pytest.raises(ValueError, match=r"^logits.scale: expected positive, finite values"):
            T.sample_logits(dist)
