"""`to_jax(x, narrow_ints=True)`: torch's int64 actions (and numpy's int64) reach JAX with x64
off as int32 when every value fits, and are refused, naming the leaf, when one does not;
nothing else changes. With x64 on (in a subprocess) int64 stays int64."""
import numpy as np
import pytest

from tests.exchange.cases import torch

import jax  # noqa: E402

from puffer_backend import torch_impl  # noqa: E402
from puffer_backend.exchange import to_jax  # noqa: E402
from puffer_backend.spec.errors import BadValueError  # noqa: E402

from .test_subprocess import run  # noqa: E402

x64_off = pytest.mark.skipif(jax.config.jax_enable_x64, reason="needs x64 off (JAX's default)")

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


@x64_off
def test_sampled_actions_reach_jax_as_int32_with_their_values():
    logits = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    actions, _, _ = torch_impl.sample_logits(logits, generator=torch.Generator().manual_seed(1))
    assert actions.dtype == torch.int64
    with pytest.raises(ValueError, match="jax_enable_x64"):  # without the opt-in: the x64 rule
        to_jax(actions)
    narrowed = to_jax(actions, narrow_ints=True)
    assert narrowed.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(narrowed), actions.numpy())


@x64_off
@pytest.mark.parametrize("values", [[INT32_MIN, -1, 0, INT32_MAX], []])
def test_the_edges_of_int32_and_empty_arrays_fit(values):
    for source in (torch.tensor(values, dtype=torch.int64), np.array(values, np.int64)):
        narrowed = to_jax(source, narrow_ints=True)
        assert narrowed.dtype == np.int32 and narrowed.shape == (len(values),)
        assert np.asarray(narrowed).tolist() == values


@x64_off
@pytest.mark.parametrize("bad", [INT32_MAX + 1, INT32_MIN - 1, 2**40 + 5])
def test_a_value_outside_int32_is_refused_naming_the_leaf_and_the_range(bad):
    tree = {"obs": torch.zeros(3), "actions": [torch.tensor([0, bad, 1])]}
    with pytest.raises(BadValueError) as info:
        to_jax(tree, narrow_ints=True)
    message = str(info.value)
    assert message.startswith("x['actions'][0]: expected int64 values that fit in int32"), message
    assert f"values in [{min(0, bad)}, {max(1, bad)}]" in message
    with pytest.raises(BadValueError, match=r"^x: expected int64 values that fit in int32.*numpy int64 array"):
        to_jax(np.array([bad]), narrow_ints=True)


@x64_off
def test_only_int64_changes():
    tree = {"f32": torch.ones(2), "i32": torch.ones(2, dtype=torch.int32), "u8": np.ones(2, np.uint8),
            "i64": torch.ones(2, dtype=torch.int64), "name": "kept"}
    out = to_jax(tree, narrow_ints=True)
    assert {k: str(v.dtype) for k, v in out.items() if k != "name"} == {
        "f32": "float32", "i32": "int32", "u8": "uint8", "i64": "int32"}
    assert out["name"] == "kept"
    for wide in (torch.ones(2, dtype=torch.float64), np.ones(2, np.uint64)):  # never narrowed silently
        with pytest.raises(ValueError, match="jax_enable_x64"):
            to_jax(wide, narrow_ints=True)


@x64_off
def test_narrowing_makes_a_new_buffer_so_copy_false_refuses_it():
    source = torch.arange(4)
    narrowed = to_jax(source, narrow_ints=True)
    source[0] = 7  # the narrowed array is its own buffer
    assert np.asarray(narrowed).tolist() == [0, 1, 2, 3]
    with pytest.raises(BadValueError, match=r"^x: expected a tensor JAX can alias without a copy \(copy=False\)"):
        to_jax(source, narrow_ints=True, copy=False)
    assert to_jax(torch.arange(4, dtype=torch.int32), narrow_ints=True, copy=False).dtype == np.int32


def test_narrow_ints_is_a_bool():
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="^narrow_ints: expected True or False"):
            to_jax(torch.zeros(2), narrow_ints=bad)
        with pytest.raises(ValueError, match="^narrow_ints: expected True or False"):
            to_jax({"a": torch.zeros(2)}, narrow_ints=bad)


def test_with_x64_on_int64_stays_int64():
    run("""
        import jax, numpy as np, torch
        jax.config.update("jax_enable_x64", True)
        from puffer_backend.exchange import to_jax
        big = torch.tensor([2**40 + 5, -3], dtype=torch.int64)
        out = to_jax(big, narrow_ints=True, copy=False)
        assert out.dtype == np.int64 and np.asarray(out).tolist() == [2**40 + 5, -3]
        assert out.unsafe_buffer_pointer() == big.data_ptr()  # nothing to narrow: still zero-copy
        assert to_jax(np.array([2**40]), narrow_ints=True).dtype == np.int64
        print("OK")
    """)


@x64_off
@pytest.mark.cuda
def test_cuda_actions_narrow_on_their_device():
    from .test_devices import jax_gpus

    if not (torch.cuda.is_available() and jax_gpus()):
        pytest.skip("needs CUDA in both torch and JAX")
    actions = torch.tensor([0, 3, 1], device="cuda")
    narrowed = to_jax(actions, narrow_ints=True)
    assert narrowed.dtype == np.int32 and narrowed.devices() == {jax_gpus()[0]}
    assert np.asarray(narrowed).tolist() == [0, 3, 1]
    with pytest.raises(BadValueError, match=r"values in \[0, 4294967296\]"):
        to_jax(torch.tensor([0, 2**32], device="cuda"), narrow_ints=True)
