"""Leaf offsets against numpy's own structured-array access (numpy is the independent truth)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from puffer_backend import spec

ELEMENTS = [np.dtype(n) for n in spec.SUPPORTED_DTYPE_NAMES]


def structured_dtypes(max_depth=3):
    leaf = st.builds(lambda dt, shape: np.dtype((dt, shape)),
                     st.sampled_from(ELEMENTS),
                     st.lists(st.integers(1, 3), max_size=2).map(tuple))

    def nest(children):
        return st.tuples(st.lists(children, min_size=1, max_size=4), st.booleans()).map(
            lambda fields_align: np.dtype([(f"x{i}", f) for i, f in enumerate(fields_align[0])],
                                          align=fields_align[1]))
    return st.recursive(leaf, nest, max_leaves=8).filter(lambda d: d.fields is not None)


def numpy_nativize(rows: np.ndarray, native):
    """Reference reading of flat rows through Leafs, in numpy (copies)."""
    if isinstance(native, dict):
        return {k: numpy_nativize(rows, v) for k, v in native.items()}
    chunk = np.ascontiguousarray(rows[:, native.offset:native.offset + native.delta])
    return chunk.view(native.dtype).reshape(rows.shape[0], *native.shape)


def assert_matches_structured(values, structured):
    if isinstance(values, dict):
        for key, sub in values.items():
            assert_matches_structured(sub, structured[key])
        return
    # A scalar field is a (1,) leaf, PufferLib's convention; numpy gives it no axis.
    expected = np.ascontiguousarray(structured).reshape(values.shape)
    assert values.dtype == expected.dtype
    np.testing.assert_array_equal(values.view(np.uint8), expected.view(np.uint8))


@settings(max_examples=150, deadline=None)
@given(structured_dtypes(), st.integers(0, 5))
def test_random_layouts_uint8_rows(structured, batch):
    rng = np.random.default_rng(batch)
    raw = rng.integers(0, 256, size=(batch, structured.itemsize), dtype=np.uint8)
    native = spec.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": structured})
    assert spec.row_width(native) <= structured.itemsize
    assert_matches_structured(numpy_nativize(raw, native), raw.view(structured)[:, 0])


@pytest.mark.parametrize("sample", [np.float32, np.int32])
def test_wide_sample_dtype_offsets_in_elements(sample):
    structured = np.dtype([("a", np.float32, (3,)), ("b", np.int32), ("c", [("d", np.float64)])], align=True)
    native = spec.nativize_dtype({"observation_dtype": np.dtype(sample), "emulated_observation_dtype": structured})
    assert native["a"] == spec.Leaf(np.dtype(np.float32), (3,), 0, 3)
    assert native["b"] == spec.Leaf(np.dtype(np.int32), (1,), 3, 1)
    assert native["c"]["d"] == spec.Leaf(np.dtype(np.float64), (1,), 4, 2)
    rows = np.arange(2 * structured.itemsize // 4, dtype=sample).reshape(2, -1)
    assert_matches_structured(numpy_nativize(rows, native), rows.view(structured)[:, 0])


def test_packed_and_tail_padded_layouts_follow_numpy():
    packed = np.dtype([("a", np.uint8), ("b", np.float64), ("c", np.int16)], align=False)
    native = spec.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": packed})
    assert [leaf.offset for leaf in native.values()] == [0, 1, 9]
    padded = np.dtype([("b", np.float64), ("a", np.uint8)], align=True)
    assert padded.itemsize == 16
    native = spec.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": padded})
    assert spec.row_width(native) == 9


def test_attribute_object_and_plain_dtype():
    class Emulated:
        observation_dtype = np.dtype(np.float32)
        emulated_observation_dtype = np.dtype((np.float32, (4, 2)))
    assert spec.nativize_dtype(Emulated()) == spec.Leaf(np.dtype(np.float32), (4, 2), 0, 8)
    assert spec.flattened_tensor_size(spec.nativize_dtype(Emulated())) == 8
    assert isinstance(spec.flattened_tensor_size(spec.nativize_dtype(Emulated())), int)


@pytest.mark.parametrize("emulated, message", [
    ({"observation_dtype": np.uint8}, "emulated"),
    (42, "emulated"),
    ({"observation_dtype": np.dtype(">f4"), "emulated_observation_dtype": np.dtype(">f4")}, "big-endian"),
    ({"observation_dtype": np.uint8, "emulated_observation_dtype": np.dtype([("a", np.complex64)])}, "emulated_observation_dtype.a"),
    ({"observation_dtype": np.uint8, "emulated_observation_dtype": np.dtype([("a", ">i4")])}, "big-endian"),
    ({"observation_dtype": np.float32, "emulated_observation_dtype": np.dtype([("a", np.int16)])}, "divisible"),
    ({"observation_dtype": np.bool_, "emulated_observation_dtype": np.dtype([("a", np.int16)])}, "observation_dtype"),
])
def test_bad_emulated_is_named(emulated, message):
    with pytest.raises((TypeError, ValueError), match=message):
        spec.nativize_dtype(emulated)


def test_bad_native_dtype_type():
    with pytest.raises(TypeError, match="native_dtype"):
        spec.flattened_tensor_size("float32")


@settings(max_examples=40, deadline=None)
@given(structured_dtypes(), st.sampled_from(["uint8", "int8"]))
def test_layout_records_sample_dtype_and_row_width(structured, sample):
    # The row width is the structured itemsize in sample elements: numpy's own view of a
    # structured array as flat rows must have exactly that many columns.
    native = spec.nativize_dtype({"observation_dtype": sample, "emulated_observation_dtype": structured})
    rows = np.zeros(2, structured).view(np.dtype(sample)).reshape(2, -1)
    assert native.row_width == rows.shape[1]
    assert native.sample_dtype == sample


def test_recorded_layout_compares_equal_to_plain_leaves_and_survives_pickle():
    import pickle
    structured = np.dtype([("pos", np.float32, (2,)), ("hp", np.int16)])
    native = spec.nativize_dtype({"observation_dtype": np.float32, "emulated_observation_dtype": (np.float32, (4, 5))})
    assert native == spec.Leaf(np.dtype(np.float32), (4, 5), 0, 20) and native.row_width == 20
    nested = spec.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": structured})
    assert nested == {"pos": (np.dtype(np.float32), (2,), 0, 8), "hp": (np.dtype(np.int16), (1,), 8, 2)}
    for layout in (native, nested):
        again = pickle.loads(pickle.dumps(layout))
        assert again == layout and (again.row_width, again.sample_dtype) == (layout.row_width, layout.sample_dtype)


# -- placed_layout: a structure placed at an offset of the rows (PufferLib's _nativize_dtype) ----

@pytest.mark.parametrize("sample, structured, offset, start", [
    (np.uint8, np.float32, 5, 8),                                        # byte rows: up to the alignment
    (np.uint8, np.dtype([("a", np.uint8), ("b", np.float64)], align=True), 3, 8),
    (np.uint8, np.dtype([("a", np.uint8), ("b", np.float64)], align=False), 3, 3),  # packed: alignment 1
    (np.float32, np.dtype((np.float32, (3,))), 5, 5),                    # wider rows: the offset itself
    (np.dtype((np.uint8, (40,))), np.dtype((np.float32, (10,))), 0, 0),  # a subarray sample counts its element
])
def test_placed_layout_starts_where_an_aligned_parent_puts_it(sample, structured, offset, start):
    layout, placed = spec.layout.placed_layout(sample, structured, offset, lambda d: d)
    assert placed == start
    structured, element = np.dtype(structured), np.dtype(sample).base
    # numpy's own offsets, shifted by the start (in sample elements)
    rows = np.random.default_rng(0).integers(0, 256, (3, (start * element.itemsize + structured.itemsize)),
                                             dtype=np.uint8).view(element)
    values = numpy_nativize(rows, layout)
    wrapped = structured if structured.fields is not None else np.dtype([("leaf", structured)])
    truth = np.ascontiguousarray(rows.view(np.uint8)[:, start * element.itemsize:]).view(wrapped)[:, 0]
    truth = truth if structured.fields is not None else truth["leaf"]
    assert_matches_structured(values, truth)


@pytest.mark.parametrize("args, error, message", [
    ((np.uint8, np.float32, -1), ValueError, "^offset: expected an offset >= 0"),
    ((np.uint8, np.float32, 2.0), TypeError, "^offset: expected an integer"),
    ((np.uint8, np.float32, np.True_), TypeError, "^offset: expected an integer"),
    ((np.bool_, np.float32, 0), ValueError, "^sample_dtype: expected one of"),
    ((np.uint8, "nope", 0), TypeError, "^structured_dtype: expected a numpy dtype"),
    ((np.float32, np.dtype([("a", np.float32), ("b", np.int16)]), 0), ValueError,
     r"^structured_dtype.b: expected byte offset and size divisible"),
])
def test_placed_layout_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        spec.layout.placed_layout(*args, lambda d: d)
