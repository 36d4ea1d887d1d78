"""The numpy reference of the shared sampling rule, against the distribution it must sample."""
import numpy as np
import pytest
from scipy import stats

from puffer_backend import spec


def softmax(logits):
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


@pytest.mark.parametrize("n", [2, 5, 17])
def test_frequencies_match_softmax(n):
    rng = np.random.default_rng(n)
    logits = rng.normal(size=n) * 2
    draws = 40_000
    actions = spec.categorical_from_uniform(np.tile(logits, (draws, 1)), rng.random(draws))
    counts = np.bincount(actions, minlength=n)
    assert stats.chisquare(counts, softmax(logits) * draws).pvalue > 1e-4


def test_uniform_maps_through_cdf_exactly():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    for u, want in [(0.0, 0), (0.05, 0), (0.15, 1), (0.35, 2), (0.65, 3), (0.999, 3)]:
        assert spec.categorical_from_uniform(logits, np.array([u]))[0] == want


def test_masked_entries_are_never_returned_even_at_u_near_one():
    logits = np.array([[0.0, 1.0, 2.0, 5.0]] * 3)
    mask = np.array([[True, True, True, False], [False, True, True, False], [False, False, True, False]])
    uniform = np.array([np.nextafter(1.0, 0.0)] * 3)
    assert list(spec.categorical_from_uniform(logits, uniform, mask)) == [2, 2, 2]
    many = spec.categorical_from_uniform(np.tile(logits[:1], (5000, 1)), np.random.default_rng(0).random(5000),
                                         np.tile(mask[1:2], (5000, 1)))
    assert set(np.unique(many)) <= {1, 2}


def test_row_with_nothing_allowed_gives_action_zero():
    logits = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    mask = np.array([[False, False, False], [False, True, False]])
    assert list(spec.categorical_from_uniform(logits, np.array([0.7, 0.7]), mask)) == [0, 1]


def test_normal_inverse_cdf():
    u = np.array([0.5, 0.975, 0.025, 0.8413447460685429])
    np.testing.assert_allclose(spec.normal_from_uniform(1.0, 2.0, u), 1.0 + 2.0 * stats.norm.ppf(u), rtol=1e-9)


def test_action_specs():
    import gymnasium as gym
    assert spec.action_spec(gym.spaces.Discrete(3)) == spec.Discrete(3)
    md = spec.action_spec(gym.spaces.MultiDiscrete([3, 7, 4]))
    assert md.head_sizes == (3, 7, 4) and md.action_shape == (3,) and md.split_points() == [3, 10]
    assert spec.action_spec(gym.spaces.MultiBinary(2)).head_sizes == (2, 2)
    cont = spec.action_spec(gym.spaces.Box(-1, 1, (2, 3)))
    assert cont.action_shape == (6,) and cont.action_dtype == np.float32
    with pytest.raises(ValueError, match="n"):
        spec.Discrete(0)
    with pytest.raises(TypeError, match="space"):
        spec.action_spec(gym.spaces.Text(3))
