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


# -- PufferLib's emulation stores Discrete leaves as int64, spec.pack_batch as int32 ---------------

import gymnasium as gym  # noqa: E402

from puffer_backend import spec  # noqa: E402

S = gym.spaces
DOCS = os.path.join(ROOT, "docs", "torch.md")


def _pufferlib_structured_dtype(space) -> np.dtype:
    """PufferLib's emulation rule: every leaf is `(space.dtype, space.shape)`, fields aligned.

    For gymnasium's Discrete and MultiDiscrete, `space.dtype` is int64.
    """
    if isinstance(space, S.Dict):
        return np.dtype([(k, _pufferlib_structured_dtype(v)) for k, v in space.spaces.items()], align=True)
    if isinstance(space, S.Tuple):
        return np.dtype([(f"f{i}", _pufferlib_structured_dtype(v)) for i, v in enumerate(space.spaces)], align=True)
    return np.dtype((space.dtype, space.shape))


def _pufferlib_emulated(space) -> dict:
    """PufferLib's `env.emulated`: the rows' dtype is the leaves' common dtype, else uint8."""
    structured = _pufferlib_structured_dtype(space)
    leaf_dtypes = {leaf.dtype for _, leaf in spec.leaves(spec.nativize_dtype(
        {"observation_dtype": np.uint8, "emulated_observation_dtype": structured}))}
    sample = leaf_dtypes.pop() if len(leaf_dtypes) == 1 else np.dtype(np.uint8)
    return {"observation_dtype": sample, "emulated_observation_dtype": structured}


def _pufferlib_rows(space, fill) -> np.ndarray:
    emulated = _pufferlib_emulated(space)
    structured = np.zeros(4, emulated["emulated_observation_dtype"])
    fill(structured)
    return structured.view(emulated["observation_dtype"]).reshape(4, -1)


MIXED = S.Dict({"pos": S.Box(-1, 1, (2,), np.float32), "id": S.Discrete(5)})  # uint8 rows
DISCRETE = S.Tuple((S.Discrete(32), S.Discrete(11), S.Discrete(2)))  # rows of the leaves' dtype


def _fill_mixed(rows):
    rows["id"], rows["pos"] = [0, 1, 2, 4], np.arange(8, dtype=np.float32).reshape(4, 2)


def _fill_discrete(rows):
    rows["f0"], rows["f1"], rows["f2"] = [3, 31, 0, 12], [10, 1, 0, 5], [1, 0, 1, 1]


def _ours(space):
    if space is MIXED:
        return spec.pack_batch(space, {"id": np.array([0, 1, 2, 4]), "pos": np.arange(8.0).reshape(4, 2)})
    return spec.pack_batch(space, (np.array([3, 31, 0, 12]), np.array([10, 1, 0, 5]), np.array([1, 0, 1, 1])))


MIXING_ERRORS = [
    # (space, rows packed by, layout from, the exact message documented in docs/torch.md)
    (MIXED, "pufferlib", "ours", "observation: expected 12 elements per row, the row width of native_dtype's "
                                 "layout, received 16 elements per row, shape (4, 16)"),
    (MIXED, "ours", "pufferlib", "observation: expected 16 elements per row, the row width of native_dtype's "
                                 "layout, received 12 elements per row, shape (4, 12)"),
    (DISCRETE, "pufferlib", "ours", "observation: expected dtype int32, received dtype int64"),
    (DISCRETE, "ours", "pufferlib", "observation: expected dtype int64, received dtype int32"),
]


def test_pufferlib_rule_stores_discrete_as_int64_and_ours_as_int32():
    puffer = _pufferlib_structured_dtype(MIXED)
    assert puffer.fields["id"][0] == np.int64 and puffer.itemsize == 16
    assert spec.structured_dtype(MIXED).fields["id"][0] == np.int32 and spec.row_elements(MIXED) == 12
    assert _pufferlib_emulated(DISCRETE)["observation_dtype"] == np.int64
    assert spec.sample_dtype(DISCRETE) == np.int32


def test_each_side_reads_its_own_rows():
    for space, fill in ((MIXED, _fill_mixed), (DISCRETE, _fill_discrete)):
        puffer = T.nativize_tensor(torch.from_numpy(_pufferlib_rows(space, fill)),
                                   T.nativize_dtype(_pufferlib_emulated(space)))
        ours = T.nativize_tensor(torch.from_numpy(_ours(space)), T.nativize_dtype(space))
        keys = ["id", "pos"] if space is MIXED else ["f0", "f1", "f2"]
        for key in keys:
            assert puffer[key].dtype == (torch.float32 if key == "pos" else torch.int64)
            assert torch.equal(puffer[key].to(ours[key].dtype), ours[key]), key


@pytest.mark.parametrize("space, packed_by, layout_from, message", MIXING_ERRORS)
def test_mixing_pufferlib_and_spec_rows_is_the_documented_error(space, packed_by, layout_from, message):
    fill = _fill_mixed if space is MIXED else _fill_discrete
    rows = _pufferlib_rows(space, fill) if packed_by == "pufferlib" else _ours(space)
    native = T.nativize_dtype(_pufferlib_emulated(space) if layout_from == "pufferlib" else space)
    with pytest.raises(ValueError) as info:
        T.nativize_tensor(torch.from_numpy(rows), native)
    assert str(info.value) == message
    with open(DOCS, encoding="utf-8") as docs:
        assert message in " ".join(docs.read().split()), "docs/torch.md must quote the real message"


def test_wrong_width_under_fullgraph_compile_still_carries_the_message():
    # Messages are built without string methods dynamo cannot trace, so a failed check
    # inside a compiled policy reports its own text (inside dynamo's error).
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUT})
    compiled = torch.compile(lambda o: T.nativize_tensor(o, native), fullgraph=True, backend="eager")
    assert compiled(_rows(LAYOUT))["pos"].shape == (3, 3)
    with pytest.raises(Exception) as info:
        compiled(torch.zeros(3, LAYOUT.itemsize + 4, dtype=torch.uint8))
    assert f"observation: expected {LAYOUT.itemsize} elements per row" in str(info.value)
