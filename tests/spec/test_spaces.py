"""The producer side: spaces -> structured dtypes, samples packed into rows and read back."""
import gymnasium as gym
import numpy as np
import pytest

from puffer_backend import spec

S = gym.spaces
NESTED = S.Dict({
    "image": S.Box(0, 255, (3, 2), dtype=np.uint8),
    "pos": S.Box(-1, 1, (2,), dtype=np.float64),
    "inventory": S.MultiDiscrete([3, 5, 7]),
    "flags": S.MultiBinary(3),
    "pair": S.Tuple((S.Discrete(4), S.Box(0, 1, (), dtype=np.float32))),
})


def assert_sample_equal(space, got, want):
    if isinstance(space, S.Dict):
        for key, sub in space.spaces.items():
            assert_sample_equal(sub, got[key], want[key])
    elif isinstance(space, S.Tuple):
        for i, sub in enumerate(space.spaces):
            assert_sample_equal(sub, got[f"f{i}"], want[i])
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("space", [
    NESTED,
    S.Tuple((S.Discrete(32), S.Discrete(11), S.Discrete(2))),
    S.Box(-1, 1, (4,), dtype=np.float32),
    S.Discrete(7),
])
def test_pack_batch_round_trips_through_numpy(space):
    space.seed(0)
    samples = [space.sample() for _ in range(5)]
    batch = gym.vector.utils.concatenate(space, samples, gym.vector.utils.create_empty_array(space, 5))
    rows = spec.pack_batch(space, batch)
    assert rows.dtype == spec.sample_dtype(space)
    assert rows.shape == (5, spec.row_elements(space))
    structured = spec.unpack_batch(space, rows)
    for i, sample in enumerate(samples):
        if structured.dtype.fields is None:
            np.testing.assert_array_equal(structured[i].reshape(np.shape(sample)), sample)
        else:
            assert_sample_equal(space, structured[i], sample)


def test_pack_one_equals_first_row_of_batch():
    NESTED.seed(1)
    sample = NESTED.sample()
    batch = gym.vector.utils.concatenate(NESTED, [sample], gym.vector.utils.create_empty_array(NESTED, 1))
    np.testing.assert_array_equal(spec.pack(NESTED, sample), spec.pack_batch(NESTED, batch)[0])


def test_layout_conventions_match_pufferlib():
    # Discrete and MultiDiscrete are stored as int32, Tuple fields are f0, f1, ... with align=True.
    blackjack = S.Tuple((S.Discrete(32), S.Discrete(11), S.Discrete(2)))
    assert spec.structured_dtype(blackjack) == np.dtype([("f0", np.int32), ("f1", np.int32), ("f2", np.int32)], align=True)
    assert spec.sample_dtype(blackjack) == np.int32
    assert spec.sample_dtype(NESTED) == np.uint8
    assert spec.sample_dtype(S.Box(0, 1, (3,), dtype=np.float32)) == np.float32


def test_space_is_accepted_by_nativize_dtype():
    native = spec.nativize_dtype(NESTED)
    structured = spec.structured_dtype(NESTED)
    assert native["pos"] == spec.Leaf(np.dtype(np.float64), (2,), structured.fields["pos"][1], 16)
    assert native["pair"]["f0"].dtype == np.int32
    assert spec.flattened_tensor_size(native) == 6 + 2 + 3 + 3 + 1 + 1


@pytest.mark.parametrize("space, samples, message", [
    (NESTED, {"image": np.zeros((1, 3, 2))}, "samples"),
    (S.Box(0, 1, (4,), dtype=np.float32), np.zeros((2, 3), np.float32), "samples"),
    (S.Box(0, 1, (4,), dtype=np.float32), np.float32(1.0), "samples"),
    (S.Box(0, 1, (2,), dtype=np.bool_), np.zeros((1, 2), np.bool_), "space.dtype"),
    (S.Text(5), ["abc"], "space"),
])
def test_bad_samples_and_spaces_are_named(space, samples, message):
    with pytest.raises((TypeError, ValueError), match=message):
        spec.pack_batch(space, samples)
