"""One rule for rows without a distribution (NaN or +inf allowed logits, no finite allowed
logit), on every backend (docs/backends.md, "Non-finite logits"): eager calls refuse them,
naming the argument and the row, with the same words on both backends; with the value checks
off (`set_default_validate_args(False)`) and under the compiler such a row gives action 0
and NaN log-probability and entropy, sampled, drawn from uniforms or deterministic; every
other row is untouched (numpy truths)."""
import numpy as np
import pytest

from . import _truth

INF, NAN = np.inf, np.nan
# The issue's example: +inf, NaN, then a row with a distribution.
ISSUE_LOGITS = np.array([[0, INF, 0], [NAN, 0, 0], [0, 0, 0]], np.float32)
ISSUE_UNIFORMS = np.array([0.1, 0.5, 0.9], np.float32)
ALLOWED = "expected finite logits or -inf (never taken), received"


def _refused(call, argument, received):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == f"{argument}: {received}"


@pytest.mark.parametrize("row, value, received", [
    (1, NAN, f"{ALLOWED} NaN in row 1"),
    (2, INF, f"{ALLOWED} +inf in row 2"),
    (0, -INF, "expected at least one finite logit per row, received only -inf in row 0"),
])
def test_eager_calls_refuse_a_row_without_a_distribution(backend, row, value, received):
    x = np.zeros((4, 3), np.float32)
    x[row] = value if value == -INF else x[row]
    x[row, 1] = value
    logits = backend.array(x)
    _refused(lambda: backend.sample_logits(logits), "logits", received)
    _refused(lambda: backend.sample_logits(logits, deterministic=True), "logits", received)
    _refused(lambda: backend.sample_logits(logits, backend.array(np.zeros(4, np.int32))), "logits", received)
    _refused(lambda: backend.sample_from_uniforms(logits, backend.array(np.full(4, 0.5, np.float32))), "logits",
             received)
    _refused(lambda: backend.api.log_prob(logits, backend.array(np.zeros(4, np.int32))), "logits", received)
    _refused(lambda: backend.api.entropy(logits), "logits", received)
    heads = (backend.array(np.zeros((4, 2), np.float32)), logits)
    _refused(lambda: backend.sample_logits(heads), "logits[1]", received)


def test_the_mask_is_named_when_it_leaves_no_action_and_masked_nan_is_allowed(backend):
    x = np.zeros((3, 4), np.float32)
    x[2, 3] = NAN  # masked below: never taken, so it does not matter
    mask = np.ones((3, 4), bool)
    mask[2, 3] = False
    a = np.array([1, 2, 0], np.int32)
    _, lp, ent = backend.sample_logits(backend.array(x), backend.array(a), mask=backend.array(mask))
    masked = np.where(mask, x, -INF)
    np.testing.assert_allclose(backend.numpy(lp), _truth.categorical_log_prob(masked, a), atol=1e-6)
    np.testing.assert_allclose(backend.numpy(ent), _truth.categorical_entropy(masked), atol=1e-6)
    mask[0] = False
    _refused(lambda: backend.sample_logits(backend.array(x), mask=backend.array(mask)), "mask",
             "expected at least one allowed action per row with a finite logit, received none in row 0")


def test_a_normal_with_a_non_finite_loc_is_refused(backend):
    loc = np.zeros((2, 3), np.float32)
    loc[1, 2] = NAN
    dist = backend.normal(backend.array(loc), backend.array(np.ones((2, 3), np.float32)))
    _refused(lambda: backend.sample_logits(dist), "logits.loc", "expected finite values, received nan at index (1, 2)")


def _check_rule(actions, logprob, entropy, valid_rows):
    bad = ~valid_rows
    assert (actions[bad] == 0).all()
    assert np.isnan(logprob[bad]).all() and np.isnan(entropy[bad]).all()
    assert np.isfinite(logprob[valid_rows]).all() and np.isfinite(entropy[valid_rows]).all()


@pytest.mark.parametrize("n", [3, 12, 200])  # every CDF path of both backends
def test_without_checks_and_under_the_compiler_such_rows_give_action_0_and_nan(backend, n):
    x = np.zeros((5, n), np.float32)
    x[0, 1], x[1, 0], x[2], x[4, 1] = INF, NAN, -INF, -INF  # +inf, NaN, only -inf; row 4: -inf allowed
    valid = np.array([False, False, False, True, True])
    uniforms = np.array([0.1, 0.5, 0.9, 0.913, 0.613], np.float32)  # off the CDF's steps in rows 3 and 4
    probs = _truth.softmax(np.where(valid[:, None], x, 0.0).astype(np.float64))
    want = np.array([np.searchsorted(np.cumsum(p), u, side="right") for p, u in zip(probs, uniforms)])
    with backend.values_unchecked():
        drawn = backend.numpy(backend.sample_from_uniforms(backend.array(x), backend.array(uniforms)))
        np.testing.assert_array_equal(drawn[valid], want[valid])
        assert (drawn[~valid] == 0).all()
        for kwargs in ({"seed": 3}, {"deterministic": True}):
            _check_rule(*map(backend.numpy, backend.sample_logits(backend.array(x), **kwargs)), valid)
        lp = backend.numpy(backend.api.log_prob(backend.array(x), backend.array(np.zeros(5, np.int32))))
        ent = backend.numpy(backend.api.entropy(backend.array(x)))
        _check_rule(np.zeros(5, np.int64), lp, ent, valid)
    compiled = backend.compiled(backend.api.sample_from_uniforms)
    np.testing.assert_array_equal(backend.numpy(compiled(backend.array(x), backend.array(uniforms))), drawn)
    scored = backend.compiled(lambda logits: backend.sample_logits(logits, deterministic=True))
    _check_rule(*map(backend.numpy, scored(backend.array(x))), valid)


def test_the_issue_example_gives_the_same_actions_on_every_backend(backend):
    """`[[0, inf, 0], [nan, 0, 0], [0, 0, 0]]` with u = [.1, .5, .9]: torch gave [0, 0, 2] and
    JAX [1, 0, 2] before the rule; now both refuse it eagerly and give [0, 0, 2] without checks."""
    with pytest.raises(ValueError, match=r"^logits: expected finite logits or -inf \(never taken\), received \+inf"
                                         r" in row 0$"):
        backend.sample_from_uniforms(backend.array(ISSUE_LOGITS), backend.array(ISSUE_UNIFORMS))
    with backend.values_unchecked():
        drawn = backend.sample_from_uniforms(backend.array(ISSUE_LOGITS), backend.array(ISSUE_UNIFORMS))
    np.testing.assert_array_equal(backend.numpy(drawn), [0, 0, 2])


def test_the_switch_takes_a_bool_and_is_restored(backend):
    assert backend.api.default_validate_args() is True
    with pytest.raises(TypeError, match=r"^value: expected a bool, received int 0$"):
        backend.api.set_default_validate_args(0)
    with backend.values_unchecked():
        assert backend.api.default_validate_args() is False
        # range checks are value checks too: an out-of-range action is scored NaN, not refused
        lp = backend.sample_logits(backend.array(np.zeros((2, 3), np.float32)), backend.array(np.array([0, 3])))[1]
        assert np.isnan(backend.numpy(lp)[1])
    assert backend.api.default_validate_args() is True
