"""The shared observation checks: the float-cast guess for layouts without a sample dtype."""
import pytest

from puffer_backend.spec import checks


@pytest.mark.parametrize("observation, leaves, expected", [
    ("float32", ["int32"], "int32"),            # same itemsize: still a cast
    ("float32", ["uint8", "int16"], "uint8"),   # mixed integer leaves were raw bytes
    ("bfloat16", ["uint8"], "uint8"),
    ("float32", ["float32", "int16"], None),    # a float leaf: float rows may be genuine
    ("float32", ["bfloat16"], None),
    ("uint8", ["int32"], None),                 # not a float: nothing to guess
    ("float32", [], None),
])
def test_guess_sample_dtype(observation, leaves, expected):
    assert checks.guess_sample_dtype(observation, leaves) == expected


def test_a_guess_refused_by_check_observation_names_the_cast():
    layout = ("int32", (2,), 0, 2)
    with pytest.raises(ValueError, match=r"observation: expected dtype int32.*cast to float"):
        checks.check_observation((3, 2), "float32", layout, checks.guess_sample_dtype("float32", ["int32"]))


@pytest.mark.parametrize("loc, scale, unbatched", [
    ((4, 2), (4, 2), False), ((4, 2), (1, 2), False), ((4, 2), (), False), ((4, 2, 3), (3,), False),
    ((0, 2), (1, 2), False), ((2,), (2,), True), ((2,), (1,), True)])
def test_a_normal_is_batched_or_one_action_and_its_scale_broadcasts(loc, scale, unbatched):
    assert checks.is_unbatched_normal(loc, scale) is unbatched


def test_a_normal_without_axes_or_with_a_scale_of_another_shape_is_refused():
    with pytest.raises(ValueError, match=r"^logits.loc: expected shape \(batch, \*event\) or unbatched"):
        checks.is_unbatched_normal((), ())
    for scale in ((4, 3), (2, 4, 2), (3,)):
        with pytest.raises(ValueError, match=r"^logits.scale: expected a shape broadcastable to loc's \(4, 2\)"):
            checks.is_unbatched_normal((4, 2), scale)


def test_probs_take_exactly_the_logits_shape():
    checks.check_probs_shape((4, 3), (4, 3))
    with pytest.raises(ValueError, match=r"^probs: expected the logits' shape \(4, 3\), received shape \(1, 3\)$"):
        checks.check_probs_shape((1, 3), (4, 3))
