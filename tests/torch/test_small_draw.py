"""The small-batch draw (`cpu_draw.small_draw`, a rollout step's path through `sample_logits`):
bit for bit the general path's results, the closed forms of torch.distributions, and the
categorical's frequencies (chi-square)."""
import numpy as np
import pytest
import torch
from scipy import stats

from puffer_backend import torch_impl as T
from puffer_backend.torch_impl import cpu_draw, sampling

SHAPES = [(4, 2), (1, 4), (64, 16), (3, 1), (128, 2), (7, 9), (1023, 16)]


def _logits(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype) * 3
    if shape[1] > 2:  # masked and nearly masked actions: weight 0 (never drawn) and subnormal weights
        x[0, 1] = float("-inf")
        x[-1, 2] = -200.0
        x[:, 0] -= 100.0
    return x


def _general(x, generator):
    """The general path on the same input (what sample_logits ran before the fast path)."""
    return sampling._sample_logits(x, None, None, None, False, generator)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_small_draw_is_the_general_path_bit_for_bit(shape, dtype):
    x = _logits(shape, dtype, seed=sum(shape))
    assert cpu_draw.small(x)
    for seed in range(5):
        fast_gen, general_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        fast = T.sample_logits(x, generator=fast_gen)
        general = _general(x, general_gen)
        for a, b in zip(fast, general):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert torch.equal(a, b)
        assert torch.equal(fast_gen.get_state(), general_gen.get_state())  # one uniform per row, as before


def test_small_draw_matches_the_general_path_on_strided_logits_and_the_global_rng():
    """The rollout's logits are a column slice of the fused MLP's output; generator=None
    draws from torch's global RNG, as the general path does."""
    out = torch.randn(4, 3)
    x = out[:, :2]
    assert not x.is_contiguous() and cpu_draw.small(x)
    torch.manual_seed(3)
    fast = T.sample_logits(x)
    torch.manual_seed(3)
    general = _general(x, None)
    for a, b in zip(fast, general):
        assert torch.equal(a, b)


@pytest.mark.parametrize("shape", [(4, 2), (64, 16), (5, 7)])
def test_small_draw_log_prob_and_entropy_are_the_categoricals(shape):
    x = _logits(shape, torch.float64, seed=1)
    action, logprob, entropy = T.sample_logits(x, generator=torch.Generator().manual_seed(0))
    truth = torch.distributions.Categorical(logits=x)
    assert torch.allclose(logprob, truth.log_prob(action), rtol=1e-12, atol=1e-12)
    assert torch.allclose(entropy, truth.entropy(), rtol=1e-12, atol=1e-12)
    x32 = x.float()
    action, logprob, entropy = T.sample_logits(x32, generator=torch.Generator().manual_seed(0))
    truth = torch.distributions.Categorical(logits=x32.double())
    assert torch.allclose(logprob.double(), truth.log_prob(action), rtol=1e-5, atol=1e-5)
    assert torch.allclose(entropy.double(), truth.entropy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("logits", [[0.3, -1.2, 2.0, 0.0], [1.0, 1.0], [-0.5, float("-inf"), 0.25, 1.5, -3.0]])
def test_small_draw_frequencies_pass_a_chi_square_test(logits):
    row = torch.tensor(logits)
    x = row.expand(3000, -1).contiguous()  # 3000 rows per call: still the small path
    assert cpu_draw.small(x)
    g = torch.Generator().manual_seed(11)
    counts = np.zeros(len(logits))
    for _ in range(7):
        action = T.sample_logits(x, generator=g)[0]
        counts += np.bincount(action.numpy(), minlength=len(logits))
    p = torch.softmax(row.double(), 0).numpy()
    allowed = p > 0
    assert counts[~allowed].sum() == 0  # a masked action is never drawn
    result = stats.chisquare(counts[allowed], counts.sum() * p[allowed])
    assert result.pvalue > 1e-4, (counts, p)


def test_small_covers_the_rollout_shapes_only():
    assert cpu_draw.small(torch.zeros(4, 2))
    assert not cpu_draw.small(torch.zeros(4096, 4))     # scratch buffers: the general path
    assert not cpu_draw.small(torch.zeros(4, 17))       # rows, not columns
    assert not cpu_draw.small(torch.zeros(0, 2))
    assert not cpu_draw.small(torch.zeros(4, 2, dtype=torch.float16))
    assert not cpu_draw.small(torch.zeros(2))
    assert not cpu_draw.small(torch.zeros(4, 2, requires_grad=True))
    with torch.no_grad():
        assert cpu_draw.small(torch.zeros(4, 2, requires_grad=True))
    assert not cpu_draw.small(torch.nn.Parameter(torch.zeros(4, 2)))


def test_small_draw_keeps_the_value_checks():
    x = torch.tensor([[0.0, float("nan")], [1.0, 2.0]])
    with pytest.raises(ValueError, match="logits"):
        T.sample_logits(x)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    with pytest.raises(ValueError, match="logits"):
        T.sample_logits(x, generator=g)
    assert torch.equal(g.get_state(), state)  # checked before the draw, as the general path
    with pytest.raises(TypeError, match="generator"):
        T.sample_logits(torch.zeros(4, 2), generator=3)


@pytest.mark.parametrize("shape", [(128, 2), (64, 16), (5, 40)])
def test_rescoring_shortcut_is_the_general_path_with_gradients(shape):
    """A minibatch's re-scoring (contiguous logits, int64 actions `(batch,)`) skips the general
    path's dispatch: the same values and the same gradients, bit for bit."""
    x = _logits(shape, torch.float32, seed=2)
    action = torch.randint(0, shape[1], (shape[0],), generator=torch.Generator().manual_seed(0))
    action[0] = 0  # allowed in every row of _logits, beside the masked ones
    results = []
    for score in (lambda x: T.sample_logits(x, action), lambda x: sampling._sample_logits(x, action, None, None,
                                                                                         False, None)):
        leaf = x.clone().requires_grad_(True)
        _, logprob, entropy = score(leaf)
        (logprob * 0.7 - entropy * 0.01).sum().backward()
        results.append((logprob, entropy, leaf.grad))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    truth = torch.distributions.Categorical(logits=x.double())
    finite = torch.isfinite(results[0][0])
    assert torch.allclose(results[0][0][finite].double(), truth.log_prob(action)[finite], rtol=1e-5, atol=1e-5)


def test_rescoring_shortcut_keeps_the_checks():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="action"):
        T.sample_logits(x, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="logits"):
        T.sample_logits(torch.tensor([[0.0, float("nan"), 1.0]] * 4), torch.zeros(4, dtype=torch.int64))


def test_shortcuts_leave_bad_flags_to_the_general_checks():
    x, action = torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64)
    for given in (None, action):
        with pytest.raises(TypeError, match="is_continuous"):
            T.sample_logits(x, given, 0)
        with pytest.raises(ValueError, match="is_continuous"):
            T.sample_logits(x, given, True)


def _normal(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(shape, generator=g, dtype=dtype)
    scale = torch.rand(shape, generator=g, dtype=dtype) + 0.1
    return loc, scale


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1), (4, 2), (64, 1), (512, 6)])
def test_normal_shortcut_is_the_general_path_bit_for_bit(shape, dtype):
    """A continuous policy's Normal (2-D loc and scale, CPU, float32/float64) skips the general
    path's dispatch: the same draws, log-probabilities, entropies and gradients, and the
    closed forms of torch.distributions."""
    loc, scale = _normal(shape, dtype, seed=sum(shape))
    assert sampling._plain_normal(torch.distributions.Normal(loc, scale), None, None)
    for seed in range(3):
        fast_gen, general_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        dist = torch.distributions.Normal(loc, scale, validate_args=False)
        fast = T.sample_logits(dist, generator=fast_gen)
        general = sampling._sample_logits(dist, None, None, None, False, general_gen)
        for a, b in zip(fast, general):
            assert a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
        assert torch.equal(fast_gen.get_state(), general_gen.get_state())
    action = fast[0]
    results = []
    for score in (lambda d: T.sample_logits(d, action),
                  lambda d: sampling._sample_logits(d, action, None, None, False, None)):
        mean, std = loc.clone().requires_grad_(True), scale.clone().requires_grad_(True)
        _, logprob, entropy = score(torch.distributions.Normal(mean, std))
        (logprob * 0.7 - entropy * 0.01).sum().backward()
        results.append((logprob, entropy, mean.grad, std.grad))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    truth = torch.distributions.Normal(loc.double(), scale.double())
    torch.testing.assert_close(results[0][0].double(), truth.log_prob(action.double()).sum(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[0][1].double(), truth.entropy().sum(1), rtol=1e-5, atol=1e-5)


def test_normal_shortcut_keeps_the_checks_and_leaves_the_rest_to_the_general_path():
    loc, scale = _normal((4, 2))
    bad_loc = loc.clone()
    bad_loc[1, 0] = float("nan")
    with pytest.raises(ValueError, match="logits.loc"):
        T.sample_logits(torch.distributions.Normal(bad_loc, scale, validate_args=False))
    with pytest.raises(ValueError, match="logits.scale"):
        T.sample_logits(torch.distributions.Normal(loc, scale * float("inf"), validate_args=False), loc)
    dist = torch.distributions.Normal(loc, scale)
    with pytest.raises(ValueError, match="action"):  # another shape: the general path's check
        T.sample_logits(dist, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="is_continuous"):
        T.sample_logits(dist, None, False)
    with pytest.raises(ValueError, match="mask"):
        T.sample_logits(dist, mask=torch.ones(4, 2, dtype=torch.bool))
    assert torch.equal(T.sample_logits(dist, deterministic=True)[0], loc)
    for other in (torch.distributions.Normal(loc[0], scale[0]),                    # unbatched
                  torch.distributions.Normal(loc.reshape(4, 1, 2), scale.reshape(4, 1, 2)),
                  torch.distributions.Normal(loc.half(), scale.half())):
        assert not sampling._plain_normal(other, None, None)
    assert not sampling._plain_normal(dist, loc.double(), None)
    assert not sampling._plain_normal(dist, None, 3)
