"""The sampling checks decided once in `spec.sampling_inputs`: every backend raises the same
message, word for word (pinned here), and checks in the same order, so an input with two
faults names the same one everywhere. Type errors name each framework's own types, so only
their argument is shared (tests/conformance/test_errors.py)."""
import numpy as np
import pytest


def _message(kind, fn, *args, **kwargs):
    with pytest.raises(kind) as info:
        fn(*args, **kwargs)
    return str(info.value)


def _zeros(backend, *shape, dtype=np.float32):
    return backend.array(np.zeros(shape, dtype))


def _ints(backend, values):
    return backend.array(np.asarray(values, np.int32))


def _bools(backend, *shape):
    return backend.array(np.ones(shape, bool))


def _normal(backend, loc_shape=(4, 2), scale=None):
    scale = np.ones(loc_shape, np.float32) if scale is None else scale
    return backend.normal(_zeros(backend, *loc_shape), backend.array(scale))


def _heads(backend):
    return _zeros(backend, 4, 2), _zeros(backend, 4, 5)


# -- the logits --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, received", [((2, 4, 3), "(2, 4, 3)"), ((4, 0), "(4, 0)"), ((), "()")])
def test_logits_shape(backend, shape, received):
    expected = ("logits: expected shape (batch, num_actions) or unbatched (num_actions,), with num_actions >= 1, "
                f"received shape {received}")
    assert _message(ValueError, backend.sample_logits, _zeros(backend, *shape)) == expected
    assert _message(ValueError, backend.sample_from_uniforms, _zeros(backend, *shape), _zeros(backend, 4)) == expected


def test_heads_empty_of_two_batch_sizes_or_mixed_ranks(backend):
    assert _message(ValueError, backend.sample_logits, ()) == (
        "logits: expected a non-empty tuple or list of logits, one per head, received an empty sequence")
    assert _message(ValueError, backend.sample_logits, (_zeros(backend, 4, 2), _zeros(backend, 3, 5))) == (
        "logits: expected heads with one batch size, received shapes [(4, 2), (3, 5)]")
    assert _message(ValueError, backend.sample_logits, (_zeros(backend, 4, 2), _zeros(backend, 5))) == (
        "logits: expected heads all batched (batch, n_i) or all unbatched (n_i,), received shapes [(4, 2), (5,)]")
    assert _message(ValueError, backend.sample_logits, (_zeros(backend, 4, 2), _zeros(backend, 4, 0))) == (
        "logits[1]: expected shape (batch, num_actions) with num_actions >= 1, received shape (4, 0)")


def test_normal_loc_without_axes(backend):
    dist = _normal(backend, loc_shape=(), scale=np.ones((), np.float32))
    expected = "logits.loc: expected shape (batch, *event) or unbatched (action_dim,), received shape ()"
    assert _message(ValueError, backend.sample_logits, dist) == expected
    assert _message(ValueError, backend.sample_from_uniforms, dist, _zeros(backend)) == expected


@pytest.mark.parametrize("bad, received", [(0.0, "0.0 to 1.0"), (-1.0, "-1.0 to 1.0"), (np.inf, "1.0 to inf")])
def test_normal_scale_values(backend, bad, received):
    scale = np.ones((4, 2), np.float32)
    scale[2, 1] = bad
    expected = f"logits.scale: expected positive, finite values (a standard deviation), received values from {received}"
    assert _message(ValueError, backend.sample_logits, _normal(backend, scale=scale)) == expected


# -- masks -------------------------------------------------------------------------------------

def test_mask_shape(backend):
    assert _message(ValueError, backend.sample_logits, _zeros(backend, 4, 3), mask=_bools(backend, 4, 4)) == (
        "mask: expected a boolean mask of the logits' shape (4, 3), received shape (4, 4)")
    masks = (_bools(backend, 4, 2), _bools(backend, 4, 4))
    assert _message(ValueError, backend.sample_logits, _heads(backend), mask=masks) == (
        "mask[1]: expected a boolean mask of the logits' shape (4, 5), received shape (4, 4)")
    assert _message(ValueError, backend.sample_logits, _zeros(backend, 3), mask=_bools(backend, 4)) == (
        "mask: expected a boolean mask of the logits' shape (3,), received shape (4,)")


def test_mask_count_for_heads_and_none_for_a_normal(backend):
    message = _message(TypeError, backend.sample_logits, _heads(backend), mask=(_bools(backend, 4, 2),))
    assert message.startswith("mask: expected a tuple of 2 boolean masks, one per head, received tuple ")
    message = _message(ValueError, backend.sample_logits, _normal(backend), mask=_bools(backend, 4, 2))
    assert message.startswith("mask: expected None for a continuous (Normal) distribution, received ")


# -- given actions, values and uniforms --------------------------------------------------------

def test_action_element_count(backend):
    assert _message(ValueError, backend.sample_logits, _zeros(backend, 4, 3), _ints(backend, [0] * 5)) == (
        "action: expected shape (4,), or any shape of 4 elements (read as view(batch, -1)), received shape (5,)")
    assert _message(ValueError, backend.sample_logits, _heads(backend), _ints(backend, np.zeros((4, 3)))) == (
        "action: expected shape (4, 2), or any shape of 8 elements (read as view(batch, -1)), received shape (4, 3)")
    assert _message(ValueError, backend.sample_logits, _normal(backend), _zeros(backend, 4, 3)) == (
        "action: expected shape (4, 2), or any shape of 8 elements (read as view(batch, -1)), received shape (4, 3)")


def test_unbatched_action_shape(backend):
    assert _message(ValueError, backend.sample_logits, _zeros(backend, 3), _ints(backend, [0])) == (
        "action: expected shape () (unbatched logits take unbatched actions), received shape (1,)")
    assert _message(ValueError, backend.sample_logits, _normal(backend, loc_shape=(2,)), _zeros(backend, 1, 2)) == (
        "action: expected shape (2,) (unbatched logits take unbatched actions), received shape (1, 2)")


def test_action_range(backend):
    assert _message(ValueError, backend.sample_logits, _zeros(backend, 4, 3), _ints(backend, [0, 1, 3, 0])) == (
        "action: expected actions in [0, n) for n = 3, received values from 0 to 3")
    given = _ints(backend, [[0, 4], [2, 0], [0, 0], [0, 0]])  # 2 is out of range for the first head
    assert _message(ValueError, backend.sample_logits, _heads(backend), given) == (
        "action: expected actions in [0, n) for head sizes (2, 5), received values from 0 to 4")


def test_log_prob_value(backend):
    assert _message(ValueError, backend.api.log_prob, _zeros(backend, 4, 3), _ints(backend, [0, 0, 0])) == (
        "value: expected shape (4,) (the logits' shape without the last axis), received shape (3,)")
    assert _message(ValueError, backend.api.log_prob, _zeros(backend, 4, 3), _ints(backend, [0, -1, 1, 2])) == (
        "value: expected actions in [0, n) for n = 3, received values from -1 to 2")


def test_uniforms_element_count(backend):
    assert _message(ValueError, backend.sample_from_uniforms, _zeros(backend, 4, 3), _zeros(backend, 3)) == (
        "uniforms: expected shape (4,), or any shape of 4 elements (read as view(batch, -1)), received shape (3,)")
    assert _message(ValueError, backend.sample_from_uniforms, _zeros(backend, 3), _zeros(backend, 1)) == (
        "uniforms: expected shape () (unbatched logits take unbatched actions), received shape (1,)")
    assert _message(ValueError, backend.sample_from_uniforms, _normal(backend), _zeros(backend, 4)) == (
        "uniforms: expected shape (4, 2), or any shape of 8 elements (read as view(batch, -1)), received shape (4,)")


def test_entropy_and_entropy_probs_shapes(backend):
    assert _message(ValueError, backend.api.entropy, _zeros(backend)) == (
        "logits: expected shape (..., num_actions) with num_actions >= 1, received shape ()")
    assert _message(ValueError, backend.api.entropy_probs, _zeros(backend, 4, 3), _zeros(backend, 4, 4)) == (
        "probs: expected the logits' shape (4, 3), received shape (4, 4)")


# -- the order of the checks -------------------------------------------------------------------

def _argument(kind, fn, *args, **kwargs):
    return _message(kind, fn, *args, **kwargs).partition(":")[0]


def test_the_logits_are_checked_first(backend):
    bad_mask = _bools(backend, 9, 9)
    assert _argument(ValueError, backend.sample_logits, _zeros(backend, 2, 4, 3), _ints(backend, [7]),
                     mask=bad_mask) == "logits"
    assert _argument(ValueError, backend.sample_from_uniforms, _zeros(backend, 2, 4, 3), _zeros(backend, 7),
                     mask=bad_mask) == "logits"
    scale = np.zeros((4, 2), np.float32)  # a Normal's scale is part of the logits: before the mask
    assert _argument(ValueError, backend.sample_logits, _normal(backend, scale=scale), mask=bad_mask) == "logits.scale"


def test_then_deterministic_then_the_mask_then_the_action(backend):
    logits, bad_mask, bad_action = _zeros(backend, 4, 3), _bools(backend, 4, 4), _ints(backend, [0] * 5)
    assert _argument(TypeError, backend.sample_logits, logits, bad_action, mask=bad_mask,
                     deterministic=1) == "deterministic"
    assert _argument(ValueError, backend.sample_logits, logits, bad_action, mask=bad_mask) == "mask"
    assert _argument(ValueError, backend.sample_from_uniforms, logits, _zeros(backend, 7), mask=bad_mask) == "mask"
    assert _argument(ValueError, backend.sample_logits, _normal(backend), _zeros(backend, 4, 3),
                     mask=_bools(backend, 4, 2)) == "mask"
    # within the action: its type, its element count, then its range
    assert _argument(TypeError, backend.sample_logits, logits, _zeros(backend, 5)) == "action"
    assert "shape" in _message(ValueError, backend.sample_logits, logits, _ints(backend, [9] * 5))


def test_probs_after_the_logits(backend):
    assert _argument(ValueError, backend.api.entropy_probs, _zeros(backend), _zeros(backend, 4, 4)) == "logits"
    assert _argument(TypeError, backend.api.entropy_probs, _zeros(backend, 4, 3),
                     _zeros(backend, 4, 4, dtype=np.int32)) == "probs"
