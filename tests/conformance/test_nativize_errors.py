"""nativize_tensor refuses rows and layouts it would misread, with one-line messages that name
the argument, the expected and the received value (both backends)."""
import numpy as np
import pytest

from puffer_backend import spec

# Two layouts whose rows differ only in width: read 16-byte rows with the 12-byte layout and,
# without the width check, `pos` and `flag` would come from the wrong bytes.
WIDE = np.dtype([("pos", np.float32, (3,)), ("flag", np.uint8)], align=True)  # 16 bytes
NARROW = np.dtype([("pos", np.float32, (2,)), ("flag", np.uint8)], align=True)  # 12 bytes


def _native(backend, structured, sample=np.uint8):
    return backend.api.nativize_dtype({"observation_dtype": sample, "emulated_observation_dtype": structured})


def _rows(structured, batch=3, seed=0):
    rows = np.zeros(batch, structured)
    rng = np.random.default_rng(seed)
    rows["pos"] = rng.normal(size=rows["pos"].shape).astype(np.float32)
    rows["flag"] = rng.integers(0, 256, batch)
    return rows


def _message(kind, fn, *args):
    with pytest.raises(kind) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_layout_sizes_are_what_the_tests_assume():
    assert (WIDE.itemsize, NARROW.itemsize) == (16, 12)


@pytest.mark.parametrize("rows_of, read_with", [(WIDE, NARROW), (NARROW, WIDE)], ids=["wider", "narrower"])
def test_rows_of_another_width_are_refused(backend, rows_of, read_with):
    rows = _rows(rows_of).view(np.uint8).reshape(3, -1)
    message = _message(ValueError, backend.api.nativize_tensor, backend.array(rows), _native(backend, read_with))
    assert message.startswith("observation: expected"), message
    assert f"expected {read_with.itemsize} elements per row" in message, message
    assert f"received {rows_of.itemsize} elements per row" in message, message


def test_rows_of_the_recorded_width_match_numpy(backend):
    rows = _rows(WIDE)
    out = backend.api.nativize_tensor(backend.array(rows.view(np.uint8).reshape(3, -1)), _native(backend, WIDE))
    np.testing.assert_array_equal(backend.numpy(out["pos"]), rows["pos"])
    np.testing.assert_array_equal(backend.numpy(out["flag"])[:, 0], rows["flag"])


def test_row_width_counts_sample_elements(backend):
    # 16 bytes of float32 elements: 4 per row. A 5-wide float32 observation is refused.
    structured = np.dtype([("pos", np.float32, (3,)), ("speed", np.float32)])
    native = _native(backend, structured, np.float32)
    values = np.arange(15, dtype=np.float32).reshape(3, 5)
    message = _message(ValueError, backend.api.nativize_tensor, backend.array(values), native)
    assert "expected 4 elements per row" in message and "received 5 elements per row" in message, message
    out = backend.api.nativize_tensor(backend.array(np.ascontiguousarray(values[:, :4])), native)
    np.testing.assert_array_equal(backend.numpy(out["speed"])[:, 0], values[:, 3])


def test_gymnasium_space_layout_records_its_row_width(backend):
    gs = pytest.importorskip("gymnasium.spaces")
    space = gs.Dict({"pos": gs.Box(-1, 1, (3,), np.float32), "id": gs.Discrete(5)})
    rows = spec.pack_batch(space, {"pos": np.zeros((2, 3), np.float32), "id": np.array([1, 4])})
    native = backend.api.nativize_dtype(space)
    assert backend.numpy(backend.api.nativize_tensor(backend.array(rows), native)["id"])[:, 0].tolist() == [1, 4]
    wider = np.concatenate([rows, np.zeros((2, 4), rows.dtype)], axis=1)
    message = _message(ValueError, backend.api.nativize_tensor, backend.array(wider), native)
    assert f"expected {spec.row_elements(space)} elements per row" in message, message


def _hand_built(backend, fields):
    """PufferLib-style plain tuples `(dtype, shape, offset, delta)`: no recorded width."""
    return {name: (backend.dtype_dict[np.dtype(dtype)], shape, offset, delta)
            for name, (dtype, shape, offset, delta) in fields.items()}


def test_hand_built_tuples_keep_the_at_least_check(backend):
    native = _hand_built(backend, {"pos": (np.float32, (3,), 0, 12), "flag": (np.uint8, (1,), 12, 1)})
    rows = _rows(WIDE)
    padded = np.concatenate([rows.view(np.uint8).reshape(3, -1), np.full((3, 8), 255, np.uint8)], axis=1)
    out = backend.api.nativize_tensor(backend.array(padded), native)  # wider rows: accepted, as PufferLib
    np.testing.assert_array_equal(backend.numpy(out["pos"]), rows["pos"])
    message = _message(ValueError, backend.api.nativize_tensor, backend.array(padded[:, :12]), native)
    assert "at least 13 elements per row" in message, message


@pytest.mark.parametrize("nested", [False, True], ids=["leaf", "dict"])
def test_hand_built_delta_that_disagrees_with_shape_is_named(backend, nested):
    # float32 (3,) is 12 bytes: 3 elements of a float32 observation, not 8.
    leaf = (backend.dtype_dict[np.dtype(np.float32)], (3,), 0, 8)
    native = {"pos": leaf, "speed": (backend.dtype_dict[np.dtype(np.float32)], (1,), 8, 1)} if nested else leaf
    obs = backend.array(np.zeros((2, 9), np.float32))
    message = _message(ValueError, backend.api.nativize_tensor, obs, native)
    name = "native_dtype['pos']" if nested else "native_dtype"
    assert message.startswith(f"{name}: expected delta 3"), message
    assert "received delta 8" in message, message


def test_hand_built_deltas_counted_in_another_dtype_name_the_observation(backend):
    # Deltas that count bytes, read from an int16 observation: the observation is named.
    native = _hand_built(backend, {"a": (np.uint8, (4,), 0, 4), "b": (np.int16, (2,), 4, 4)})
    message = _message(ValueError, backend.api.nativize_tensor, backend.array(np.zeros((2, 8), np.int16)), native)
    assert message.startswith("observation: expected elements of 1 byte(s)") and "int16" in message, message


class _MultiLineRepr:
    def __repr__(self):
        return "Sequential(\n  (0): Linear(in_features=4, out_features=8, bias=True)\n  (1): ReLU()\n" + "  " * 40 + ")"


def test_messages_are_one_line_for_multi_line_reprs(backend):
    message = _message(TypeError, backend.api.nativize_tensor, _MultiLineRepr(), _native(backend, WIDE))
    assert message.startswith("observation: expected") and "received _MultiLineRepr Sequential( (0): Linear(" in message
    assert len(message) < 200, message


def test_layer_init_of_a_multi_line_module_is_one_line(backend):
    if backend.name == "torch":  # the case users hit: a container module instead of a layer
        import torch
        layer, call = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()), backend.api.layer_init
    else:  # JAX's layer_init takes params and a key; the bad layer is the same kind of object
        import jax
        layer, call = _MultiLineRepr(), (lambda value: backend.api.layer_init(value, jax.random.key(0)))
    message = _message(TypeError, call, layer)
    assert message.startswith("layer: expected") and "received" in message and "Sequential(" in message, message
