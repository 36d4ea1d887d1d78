"""PufferLib's documented nativize usage through the shim, and torch's view/copy behaviour."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from puffer_backend import torch_impl as T

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUT = np.dtype([("pos", np.float32, (3,)), ("flag", np.uint8),
                   ("inner", np.dtype([("id", np.int64), ("hp", np.int16, (2,))], align=True))], align=True)


def test_documented_usage_through_the_shim():
    code = textwrap.dedent("""
        import numpy as np, torch
        from puffer_backend import shim
        shim.install()
        from pufferlib.pytorch import nativize_dtype, nativize_tensor, flattened_tensor_size
        layout = np.dtype([("pos", np.float32, (3,)), ("flag", np.uint8)], align=True)

        class Env:  # an attribute-style emulated, as PufferLib's emulation wrappers carry
            emulated = type("E", (), {"observation_dtype": np.dtype(np.uint8),
                                      "emulated_observation_dtype": layout})()
        as_dict = {"observation_dtype": np.dtype(np.uint8), "emulated_observation_dtype": layout}
        native = nativize_dtype(Env.emulated)
        assert native == nativize_dtype(as_dict)
        # PufferLib's tuples: (torch.dtype, shape, offset, delta)
        assert native == {"pos": (torch.float32, (3,), 0, 12), "flag": (torch.uint8, (1,), 12, 1)}
        rows = np.zeros(4, layout)
        rows["pos"] = np.arange(12, dtype=np.float32).reshape(4, 3)
        rows["flag"] = [1, 2, 3, 4]
        byte_obs = rows.view(np.uint8).reshape(4, -1)
        out = nativize_tensor(torch.from_numpy(byte_obs), native)
        assert torch.equal(out["pos"], torch.arange(12.0).reshape(4, 3))
        assert out["flag"].reshape(-1).tolist() == [1, 2, 3, 4]
        assert flattened_tensor_size(native) == 4
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_plain_pufferlib_tuples_are_accepted():
    native = {"pos": (torch.float32, (3,), 0, 12), "flag": (torch.uint8, (1,), 12, 1)}
    obs = torch.zeros(2, 16, dtype=torch.uint8)
    out = T.nativize_tensor(obs, native)
    assert out["pos"].shape == (2, 3) and out["pos"].dtype == torch.float32
    # without a recorded sample dtype, a float-cast observation is still recognised for int leaves
    ints = {"a": (torch.uint8, (4,), 0, 4), "b": (torch.int16, (2,), 4, 4)}
    with pytest.raises(ValueError, match="cast to float"):
        T.nativize_tensor(torch.zeros(2, 8), ints)


def _rows(dtype, batch=3):
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (batch, dtype.itemsize), dtype=np.uint8))


def _shares(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def test_aligned_leaves_are_views():
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUT})
    obs = _rows(LAYOUT)
    out = T.nativize_tensor(obs, native)
    assert _shares(out["pos"], obs) and _shares(out["inner"]["id"], obs) and _shares(out["flag"], obs)
    obs[0, :4] = torch.from_numpy(np.array([2.5], np.float32).view(np.uint8))
    assert out["pos"][0, 0] == 2.5  # a write through the observation is seen: a real view


def test_misaligned_wide_leaf_is_copied_and_correct():
    packed = np.dtype([("flag", np.uint8), ("value", np.float32), ("big", np.int64)], align=False)
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": packed})
    obs = _rows(packed)
    out = T.nativize_tensor(obs, native)
    truth = obs.numpy().view(packed)[:, 0]
    assert _shares(out["flag"], obs)
    assert not _shares(out["value"], obs) and not _shares(out["big"], obs)
    np.testing.assert_array_equal(out["value"].numpy()[:, 0].view(np.uint32), truth["value"].view(np.uint32))
    np.testing.assert_array_equal(out["big"].numpy()[:, 0], truth["big"])


def test_sliced_observation_with_odd_storage_offset():
    layout = np.dtype([("value", np.float32, (2,))])
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": layout})
    buffer = torch.zeros(3, 9, dtype=torch.uint8)
    obs = buffer[:, 1:]  # each row starts at an odd byte
    obs[:, :4] = torch.from_numpy(np.array([1.5], np.float32).view(np.uint8))
    out = T.nativize_tensor(obs, native)
    assert torch.all(out["value"][:, 0] == 1.5)
    # rows of 8 bytes (stride aligned) but a buffer that starts one byte in
    flat = torch.zeros(25, dtype=torch.uint8)
    obs = flat[1:].view(3, 8)
    obs[:, 4:8] = torch.from_numpy(np.array([-3.0], np.float32).view(np.uint8))
    out = T.nativize_tensor(obs, native)
    assert torch.all(out["value"][:, 1] == -3.0) and not _shares(out["value"], obs)


def test_wrong_sample_dtype_message_names_the_expected_one():
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUT})
    with pytest.raises(ValueError, match=r"observation: expected dtype uint8.*float32.*torch.from_numpy"):
        T.nativize_tensor(torch.zeros(2, LAYOUT.itemsize), native)


def test_non_contiguous_observation_is_read_correctly():
    rows = np.random.default_rng(2).integers(0, 256, (4, LAYOUT.itemsize), dtype=np.uint8)
    transposed = torch.from_numpy(np.ascontiguousarray(rows.T)).T  # same values, column-major
    assert transposed.stride(1) != 1
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUT})
    out = T.nativize_tensor(transposed, native)
    truth = rows.view(LAYOUT)[:, 0]
    np.testing.assert_array_equal(out["inner"]["id"].numpy()[:, 0], truth["inner"]["id"])
    np.testing.assert_array_equal(out["pos"].numpy().view(np.uint32), truth["pos"].view(np.uint32))


# -- PufferLib 3.0's emulation against spec.pack_batch ----------------------------------------------
# Both store Discrete leaves as int32. They differ in the rows' dtype: PufferLib takes it from
# the gymnasium leaves' dtypes (Discrete's is int64), the spec layer from the stored leaves.

import gymnasium as gym  # noqa: E402

from puffer_backend import spec  # noqa: E402

from . import pufferlib3_emulation as P3  # noqa: E402

S = gym.spaces
DOCS = os.path.join(ROOT, "docs", "torch.md")

FLOAT_BOX = S.Dict({"pos": S.Box(-1, 1, (2,), np.float32), "id": S.Discrete(5)})  # uint8 rows on both sides
INT_BOX = S.Dict({"count": S.Box(0, 9, (2,), np.int32), "id": S.Discrete(5)})     # uint8 rows there, int32 here
ALL_DISCRETE = S.Tuple((S.Discrete(32), S.Discrete(11), S.Discrete(2)))           # Blackjack's space


def _samples(space):
    if space is FLOAT_BOX:
        return [{"pos": np.array([i, -i], np.float32) / 4, "id": i % 5} for i in range(4)]
    return [{"count": np.array([i, 9 - i], np.int32), "id": (2 * i) % 5} for i in range(4)]


def _batch(space):
    """The same four samples as one batch, as gymnasium vector envs give them."""
    samples = _samples(space)
    return {key: np.stack([np.asarray(s[key]) for s in samples]) for key in samples[0]}


def test_pufferlib3_stores_discrete_as_int32_like_the_spec_layer():
    for space in (FLOAT_BOX, INT_BOX):
        assert P3.structured_dtype(space) == spec.structured_dtype(space)
    assert P3.rows_dtype(FLOAT_BOX) == spec.sample_dtype(FLOAT_BOX) == np.uint8
    assert P3.rows_dtype(INT_BOX) == np.uint8 and spec.sample_dtype(INT_BOX) == np.int32


def test_same_rows_when_the_rows_dtypes_agree():
    theirs = P3.pack_rows(FLOAT_BOX, _samples(FLOAT_BOX))
    ours = spec.pack_batch(FLOAT_BOX, _batch(FLOAT_BOX))
    np.testing.assert_array_equal(theirs, ours)
    # so each layout reads the other's rows
    for rows in (theirs, ours):
        for native in (T.nativize_dtype(FLOAT_BOX), T.nativize_dtype(P3.emulated(FLOAT_BOX))):
            out = T.nativize_tensor(torch.from_numpy(rows), native)
            np.testing.assert_array_equal(out["id"].numpy()[:, 0], _batch(FLOAT_BOX)["id"])


def test_same_bytes_in_another_rows_dtype():
    theirs = P3.pack_rows(INT_BOX, _samples(INT_BOX))
    ours = spec.pack_batch(INT_BOX, _batch(INT_BOX))
    assert theirs.dtype == np.uint8 and ours.dtype == np.int32
    assert theirs.tobytes() == ours.tobytes()


MIXING_ERRORS = [
    # (rows packed by, layout from, the exact message documented in docs/torch.md)
    ("pufferlib", "ours", "observation: expected dtype int32, received dtype uint8"),
    ("ours", "pufferlib", "observation: expected dtype uint8, received dtype int32"),
]


@pytest.mark.parametrize("packed_by, layout_from, message", MIXING_ERRORS)
def test_mixing_pufferlib_and_spec_rows_is_the_documented_error(packed_by, layout_from, message):
    rows = P3.pack_rows(INT_BOX, _samples(INT_BOX)) if packed_by == "pufferlib" else spec.pack_batch(INT_BOX, _batch(INT_BOX))
    native = T.nativize_dtype(P3.emulated(INT_BOX) if layout_from == "pufferlib" else INT_BOX)
    with pytest.raises(ValueError) as info:
        T.nativize_tensor(torch.from_numpy(rows), native)
    assert str(info.value) == message
    with open(DOCS, encoding="utf-8") as docs:
        assert message in " ".join(docs.read().split()), "docs/torch.md must quote the real message"


def test_all_discrete_spaces_pack_here_and_not_in_pufferlib3():
    # PufferLib 3.0 gives such a space int64 rows (the gymnasium leaves' dtype) for a 12-byte
    # struct of int32 leaves: no whole number of elements per row, and its layout is refused.
    assert P3.rows_dtype(ALL_DISCRETE) == np.int64 and P3.structured_dtype(ALL_DISCRETE).itemsize == 12
    with pytest.raises(ValueError):
        P3.pack_rows(ALL_DISCRETE, [(3, 10, 1)])
    with pytest.raises(ValueError, match="divisible by the sample dtype's itemsize"):
        T.nativize_dtype(P3.emulated(ALL_DISCRETE))
    rows = spec.pack_batch(ALL_DISCRETE, (np.array([3, 31]), np.array([10, 0]), np.array([1, 0])))
    assert rows.dtype == np.int32 and rows.tolist() == [[3, 10, 1], [31, 0, 0]]


def test_wrong_width_under_fullgraph_compile_still_carries_the_message():
    # Messages are built without string methods dynamo cannot trace, so a failed check
    # inside a compiled policy reports its own text (inside dynamo's error).
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUT})
    compiled = torch.compile(lambda o: T.nativize_tensor(o, native), fullgraph=True, backend="eager")
    assert compiled(_rows(LAYOUT))["pos"].shape == (3, 3)
    with pytest.raises(Exception) as info:
        compiled(torch.zeros(3, LAYOUT.itemsize + 4, dtype=torch.uint8))
    assert f"observation: expected {LAYOUT.itemsize} elements per row" in str(info.value)
