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
    # Tuple fields are f0, f1, ... with align=True, as in PufferLib. Discrete and MultiDiscrete are
    # int32 here where PufferLib stores int64: the one deliberate difference (docs/torch.md).
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


# -- values the store would change are refused, not cast --------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


def _raises(argument, fn, *args, kind=ValueError):
    with pytest.raises(kind) as info:
        fn(*args)
    message = str(info.value)
    assert message.startswith(f"{argument}: expected") and "received" in message, message
    return message


def test_integers_outside_the_leaf_dtype_are_refused():
    space = S.Dict({"image": S.Box(0, 255, (2, 2), dtype=np.uint8), "pos": S.Box(-1, 1, (2,), np.float32)})
    image = np.array([[[0, 255], [300, 7]]])  # int64: numpy's cast would store 300 as 44
    assert image.astype(np.uint8)[0, 1, 0] == 44
    message = _raises("samples['image']", spec.pack_batch, space, {"image": image, "pos": np.zeros((1, 2))})
    assert "[0, 255]" in message and "uint8" in message and "300 at index (0, 1, 0)" in message
    message = _raises("sample['image']", spec.pack, space, {"image": -image[0], "pos": np.zeros(2)})
    assert "-255 at index (0, 1)" in message  # one sample: the index has no batch axis
    ok = np.array([[[0, 255], [128, 7]]])
    rows = spec.pack_batch(space, {"image": ok, "pos": np.zeros((1, 2))})
    np.testing.assert_array_equal(spec.unpack_batch(space, rows)["image"], ok.astype(np.uint8))


def test_fractions_and_non_finite_values_for_integer_leaves_are_refused():
    space = S.Dict({"id": S.Discrete(5), "count": S.Box(0, 100, (), dtype=np.int32)})
    message = _raises("samples['count']", spec.pack_batch, space, {"id": np.array([1, 2]), "count": np.array([3.0, 2.5])})
    assert "whole numbers" in message and "2.5 at index (1,)" in message
    message = _raises("samples['id']", spec.pack_batch, space, {"id": np.array([np.nan, 1.0]), "count": np.array([1, 2])})
    assert "finite" in message and "nan" in message
    # whole floats and bools are numbers the store keeps: the truth is their integer value
    rows = spec.pack_batch(space, {"id": np.array([4.0, 0.0]), "count": np.array([True, False])})
    unpacked = spec.unpack_batch(space, rows)
    assert unpacked["id"].tolist() == [4, 0] and unpacked["count"].tolist() == [1, 0]


def test_exact_limits_of_64_bit_leaves():
    space = S.Box(-1, 1, (1,), dtype=np.int64)
    top = np.iinfo(np.int64).max
    assert spec.pack_batch(space, np.array([[top]]))[0, 0] == top
    _raises("samples", spec.pack_batch, space, np.array([[2.0 ** 63]]))  # float(2**63) > int64 max
    _raises("samples", spec.pack_batch, space, np.array([[2 ** 63]], dtype=np.uint64))


def _contains_all(space, values) -> bool:
    return all(space.contains(v) for v in values)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 6), start=st.integers(-4, 4), values=st.lists(st.integers(-12, 12), min_size=1, max_size=6))
def test_discrete_accepts_exactly_what_gymnasium_contains(n, start, values):
    space = S.Discrete(n, start=start)
    batch = np.array(values, dtype=np.int64)
    if _contains_all(space, [np.int64(v) for v in values]):
        assert spec.pack_batch(space, batch)[:, 0].tolist() == values
    else:
        message = _raises("samples", spec.pack_batch, space, batch)
        assert f"[{start}, {start + n}) for Discrete({n}, start={start})" in message


@settings(max_examples=60, deadline=None)
@given(nvec=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data())
def test_multi_discrete_accepts_exactly_what_gymnasium_contains(nvec, data):
    start = data.draw(st.lists(st.integers(-3, 3), min_size=len(nvec), max_size=len(nvec)))
    space = S.MultiDiscrete(nvec, start=start)
    batch = np.array(data.draw(st.lists(st.lists(st.integers(-6, 8), min_size=len(nvec), max_size=len(nvec)),
                                        min_size=1, max_size=4)), dtype=np.int64)
    if _contains_all(space, list(batch)):
        np.testing.assert_array_equal(spec.unpack_batch(space, spec.pack_batch(space, batch)), batch)
    else:
        message = _raises("samples", spec.pack_batch, space, batch)
        assert "MultiDiscrete" in message and str(nvec) in message


def test_multi_discrete_names_the_first_offending_element():
    space = S.Dict({"inventory": S.MultiDiscrete([3, 5, 7], start=[0, 1, -2])})
    good = np.array([[2, 5, 4], [0, 1, -2]])
    np.testing.assert_array_equal(spec.unpack_batch(space, spec.pack_batch(space, {"inventory": good}))["inventory"], good)
    message = _raises("samples['inventory']", spec.pack_batch, space, {"inventory": np.array([[2, 5, 4], [0, 0, 0]])})
    assert "0 at index (1, 1)" in message  # start 1 for the second element


def test_multi_binary_takes_zero_or_one():
    space = S.MultiBinary(3)
    assert spec.pack(space, np.array([1, 0, 1])).tolist() == [1, 0, 1]
    message = _raises("sample", spec.pack, space, np.array([1, 2, 0]))
    assert "{0, 1}" in message and "2 at index (1,)" in message


def test_float_leaves_round_but_never_overflow():
    space = S.Box(-np.inf, np.inf, (4,), dtype=np.float32)
    values = np.array([[0.1, 1 / 3, np.inf, np.nan]])
    stored = spec.pack_batch(space, values)  # float64 -> float32 rounds, as numpy's cast does
    np.testing.assert_array_equal(stored, values.astype(np.float32))
    big_int = np.array([[2 ** 24 + 1, 0, 0, 0]])  # int -> float32 rounds too
    assert spec.pack_batch(space, big_int)[0, 0] == np.float32(2 ** 24)
    message = _raises("samples", spec.pack_batch, space, np.array([[1.0, 1e39, 0.0, 0.0]]))
    assert "float32" in message and "1e+39 at index (0, 1)" in message


def test_non_numeric_values_are_a_type_error():
    space = S.Box(0, 1, (2,), dtype=np.float32)
    _raises("samples", spec.pack_batch, space, np.array([["a", "b"]]), kind=TypeError)
    _raises("sample", spec.pack, space, [1 + 2j, 0], kind=TypeError)


def test_one_unbatched_sample_given_to_pack_batch_points_to_pack():
    box = S.Box(0, 1, (2,), dtype=np.float32)
    message = _raises("samples", spec.pack_batch, box, np.zeros(2, np.float32))  # not a batch of 2 scalars
    assert "spec.pack(space, sample)" in message and "unbatched" in message
    NESTED.seed(3)
    message = _raises("samples", spec.pack_batch, NESTED, NESTED.sample())
    assert "spec.pack(space, sample)" in message and "unbatched" in message
    mixed = {"pos": np.zeros((4, 2)), "id": np.int64(3)}  # one leaf batched, one not
    message = _raises("samples['id']", spec.pack_batch, S.Dict({"pos": box, "id": S.Discrete(5)}), mixed)
    assert "expected shape (4,)" in message and "without the batch axis" in message


def test_a_batch_given_to_pack_points_to_pack_batch():
    box = S.Box(0, 1, (2,), dtype=np.float32)
    message = _raises("sample", spec.pack, box, np.zeros((3, 2), np.float32))
    assert "pack_batch" in message


def test_a_dict_space_changed_in_place_is_packed_with_its_new_layout():
    space = S.Dict({"a": S.Box(0, 1, (2,), np.float32), "b": S.Discrete(3)})
    spec.pack_batch(space, {"a": np.zeros((1, 2)), "b": np.array([2])})  # builds the cached plan
    space["b"] = S.Box(0, 1, (3,), np.float64)  # gymnasium's Dict supports item assignment
    values = {"a": np.ones((2, 2), np.float32), "b": np.full((2, 3), 0.5)}
    rows = spec.pack_batch(space, values)
    assert rows.shape == (2, spec.row_elements(space))
    np.testing.assert_array_equal(spec.unpack_batch(space, rows)["b"], values["b"])


def test_a_space_without_leaves_is_named():
    _raises("space", spec.pack_batch, S.Dict({}), {})
