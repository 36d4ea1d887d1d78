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
