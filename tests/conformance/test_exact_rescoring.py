"""Sampling, then re-scoring the sampled actions under the same logits, gives the same
log-probabilities and entropies bit for bit (eager torch on CPU; JAX outside jit).

PufferLib computes both with one formula, so PPO's first ratio `exp(new - old)` is exactly 1;
so must ours be, whether the re-scoring runs with autodiff or not, for one head or several,
for every float dtype, with masks, and for `log_prob`/`entropy` of the same logits. Under
torch.compile or jit nothing is promised (tests/torch/test_exact_rescoring.py, docs/torch.md).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

FLOATS = ("float32", "float64", "bfloat16", "float16")


def _bits(value) -> np.ndarray:
    return np.ascontiguousarray(value).view(np.uint8)


def _assert_same_bits(expected, got, what):
    assert expected.dtype == got.dtype and expected.shape == got.shape, what
    same = (_bits(expected) == _bits(got)).reshape(*expected.shape, -1).all(-1)
    assert same.all(), f"{what}: {np.count_nonzero(~same)} of {same.size} differ, e.g. {expected[~same][:3]} vs {got[~same][:3]}"


def _inputs(backend, seed, batch, widths, dtype, masked):
    """Logits as numpy float64 (the values each head holds) and backend arrays of `dtype`, and
    boolean masks (each row keeps at least one action) or None."""
    if dtype == "float64" and not backend.can_hold(np.float64):
        pytest.skip("float64 needs jax_enable_x64 (tests/jax/test_x64.py runs it)")
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=(batch, n)) * 3 for n in widths]
    masks = None
    if masked:
        masks = [rng.random((batch, n)) < 0.6 for n in widths]
        for m in masks:
            m[np.arange(batch), rng.integers(0, m.shape[1], batch)] = True
    return values, [backend.array(v, dtype) for v in values], masks


def _check(backend, values, arrays, masks, seed, heads, deterministic=False):
    logits = tuple(arrays) if heads else arrays[0]
    mask = None if masks is None else (tuple(backend.array(m) for m in masks) if heads else backend.array(masks[0]))
    action, logprob, entropy = backend.sample_logits(logits, seed=seed, mask=mask, deterministic=deterministic)
    sampled = backend.numpy(logprob), backend.numpy(entropy)
    _, again, again_entropy = backend.sample_logits(logits, action, mask=mask)
    _assert_same_bits(sampled[0], backend.numpy(again), "re-scored logprob")
    _assert_same_bits(sampled[1], backend.numpy(again_entropy), "re-scored entropy")
    with_grad = backend.with_grad(lambda x: backend.sample_logits(x, action, mask=mask)[1:], logits)
    _assert_same_bits(sampled[0], with_grad[0], "logprob re-scored with autodiff")
    _assert_same_bits(sampled[1], with_grad[1], "entropy re-scored with autodiff")
    if not heads:
        # log_prob and entropy take no mask: the same logits with masked entries at -inf
        dtype = backend.dtype_name(arrays[0])
        masked = arrays[0] if masks is None else backend.array(np.where(masks[0], values[0], -np.inf), dtype)
        _assert_same_bits(sampled[0], backend.numpy(backend.api.log_prob(masked, action)), "log_prob")
        _assert_same_bits(sampled[1], backend.numpy(backend.api.entropy(masked)), "entropy")


# The widths around every switch of the samplers' code paths (torch: columns up to 16, a count
# up to 128, a binary search; JAX: unrolled columns up to 8), at the batch of a PufferLib rollout.
@pytest.mark.parametrize("n", [2, 4, 8, 9, 16, 17, 64, 128, 129])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_discrete_rescored_bit_for_bit(backend, n, masked):
    values, arrays, masks = _inputs(backend, n, 4096, [n], "float32", masked)
    _check(backend, values, arrays, masks, seed=n, heads=False)


@pytest.mark.parametrize("widths", [(3, 7, 4, 5, 9), (2, 64), (16, 17, 16)], ids=str)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_multidiscrete_rescored_bit_for_bit(backend, widths, masked):
    values, arrays, masks = _inputs(backend, len(widths), 4096, list(widths), "float32", masked)
    _check(backend, values, arrays, masks, seed=3, heads=True)


@pytest.mark.parametrize("heads", [False, True], ids=["discrete", "multidiscrete"])
def test_argmax_rescored_bit_for_bit(backend, heads):
    values, arrays, masks = _inputs(backend, 5, 1000, [6, 33] if heads else [6], "float32", True)
    _check(backend, values, arrays, masks, seed=0, heads=heads, deterministic=True)


# 15 random cases on top of the parametrized paths above: each new shape is a JAX compile
# (40 took ~3 minutes of the suite's time).
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.one_of(st.integers(1, 80), st.sampled_from([257, 1000, 4096])),
       widths=st.lists(st.integers(2, 64), min_size=1, max_size=4), heads=st.booleans(),
       dtype=st.sampled_from(FLOATS), masked=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_any_shape_dtype_and_mask_rescored_bit_for_bit(backend, batch, widths, heads, dtype, masked, seed):
    widths = widths if heads else widths[:1]
    assume(dtype != "float64" or backend.can_hold(np.float64))
    values, arrays, masks = _inputs(backend, seed, batch, widths, dtype, masked)
    _check(backend, values, arrays, masks, seed=seed, heads=heads)
