"""Every direction x dtype x layout against numpy truths, with the copy= contract."""
import gc

import numpy as np
import pytest

from tests.exchange.cases import (DTYPES, LAYOUTS, NARROW, SHAPE, WIDE, torch, torch_from_truth,
                                  torch_to_numpy, truth)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import to_jax, to_torch  # noqa: E402


def jax_to_numpy(array, numpy_dtype):
    out = np.asarray(array)
    assert out.dtype == numpy_dtype, (out.dtype, numpy_dtype)
    return out


def same_buffer(jax_array, tensor) -> bool:
    return jax_array.unsafe_buffer_pointer() == tensor.data_ptr()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", NARROW)
def test_torch_to_jax_values_dtype_and_aliasing(name, layout):
    torch_dtype, numpy_dtype = DTYPES[name]
    view, numpy_view, aliasable = LAYOUTS[layout]
    values = truth(name)
    source = view(torch_from_truth(values, torch_dtype))
    expected = numpy_view(values)

    default = to_jax(source)
    np.testing.assert_array_equal(jax_to_numpy(default, numpy_dtype), expected)
    assert default.shape == expected.shape
    if aliasable and source.numel() > 0:
        assert same_buffer(default, source)

    forced = to_jax(source, copy=True)
    np.testing.assert_array_equal(jax_to_numpy(forced, numpy_dtype), expected)
    if source.numel() > 0:
        assert not same_buffer(forced, source)

    if aliasable:
        strict = to_jax(source, copy=False)
        np.testing.assert_array_equal(jax_to_numpy(strict, numpy_dtype), expected)
        if source.numel() > 0:
            assert same_buffer(strict, source)
    else:
        with pytest.raises(ValueError, match="copy=False"):
            to_jax(source, copy=False)


def test_copy_true_is_independent_and_copy_none_aliases():
    source = torch.arange(64, dtype=torch.float32)
    aliased, copied = to_jax(source), to_jax(source, copy=True)
    source[0] = 100.0  # writing through torch shows in the alias only
    assert float(aliased[0]) == 100.0
    assert float(copied[0]) == 0.0


def test_unaligned_offset_gives_reason():
    source = torch.arange(64, dtype=torch.float32)[1:]
    with pytest.raises(ValueError, match="64-byte aligned"):
        to_jax(source, copy=False)
    np.testing.assert_array_equal(np.asarray(to_jax(source)), np.arange(1, 64, dtype=np.float32))


def test_aligned_offset_view_is_zero_copy():
    source = torch.arange(64, dtype=torch.float32)[16:]  # 64 bytes in: still aligned
    assert same_buffer(to_jax(source, copy=False), source)


@pytest.mark.parametrize("name", WIDE)
def test_64_bit_without_x64_is_refused_by_name(name):
    assert not jax.config.jax_enable_x64
    source = torch_from_truth(truth(name, (4,)), DTYPES[name][0])
    with pytest.raises(ValueError, match="jax_enable_x64"):
        to_jax(source)


def test_large_int64_would_have_wrapped():
    # The value JAX would silently wrap to 5 with x64 off: we refuse instead.
    with pytest.raises(ValueError, match="jax_enable_x64"):
        to_jax(torch.tensor([2**40 + 5]))


SHAPES = {"matrix": (6, 40), "zero_d": (), "empty": (0, 3), "vector": (1,)}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("name", NARROW)
def test_jax_to_torch_values_dtype_and_aliasing(name, shape):
    torch_dtype, numpy_dtype = DTYPES[name]
    values = truth(name, SHAPES[shape])
    source = jnp.asarray(values)
    for copy in (None, False, True):
        out = to_torch(source, copy=copy)
        assert out.dtype == torch_dtype and tuple(out.shape) == values.shape
        np.testing.assert_array_equal(torch_to_numpy(out, numpy_dtype), values)
        if out.numel() > 0:
            assert same_buffer(source, out) is (copy is not True)


@pytest.mark.parametrize("name", NARROW)
def test_jax_computed_arrays_to_torch(name):
    # Outputs of jitted computations (slices, transposes) are fresh dense buffers.
    torch_dtype, numpy_dtype = DTYPES[name]
    values = truth(name)
    result = jax.jit(lambda a: (a.T[::2], a[1:3, 5:9]))(jnp.asarray(values))
    for got, want in zip(to_torch(result), (values.T[::2], values[1:3, 5:9])):
        np.testing.assert_array_equal(torch_to_numpy(got, numpy_dtype), want)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", ["bool", "bfloat16", "uint16", "int8", "float32"])
def test_round_trip_torch_jax_torch(name, layout):
    torch_dtype, numpy_dtype = DTYPES[name]
    view, numpy_view, aliasable = LAYOUTS[layout]
    values = truth(name, seed=3)
    source = view(torch_from_truth(values, torch_dtype))
    back = to_torch(to_jax(source))
    assert back.dtype == torch_dtype and back.shape == source.shape
    np.testing.assert_array_equal(torch_to_numpy(back, numpy_dtype), numpy_view(values))
    if aliasable and source.numel() > 0:
        assert back.data_ptr() == source.data_ptr()


def test_imported_transposed_array_works_in_jit_and_exports_back():
    gram = jax.jit(lambda a: a @ a.T)
    # Exact where it can be: small whole numbers keep every product and partial sum exact in
    # float32, so whatever order XLA sums in, the result is the integer truth.
    whole = np.random.default_rng(0).integers(-8, 9, SHAPE).astype(np.float32)
    imported = to_jax(torch_from_truth(whole, torch.float32).T)
    np.testing.assert_array_equal(np.asarray(gram(imported)), whole.T.astype(np.int64) @ whole.astype(np.int64))
    np.testing.assert_array_equal(to_torch(imported).numpy(), whole.T)
    # Bounded where it cannot be: a float32 sum of k products is off by at most about
    # k * eps * (sum of the products' magnitudes), in any summation order (the standard
    # dot-product bound), while entries that cancel can have a large relative error.
    values = truth("float32")
    imported = to_jax(torch_from_truth(values, torch.float32).T)
    got = np.asarray(gram(imported)).astype(np.float64)
    wide = values.astype(np.float64)
    bound = values.shape[0] * np.finfo(np.float32).eps * (np.abs(wide.T) @ np.abs(wide))
    assert np.all(np.abs(got - wide.T @ wide) <= bound)
    np.testing.assert_array_equal(to_torch(imported).numpy(), values.T)


def test_numpy_leaves_are_accepted_both_ways():
    values = truth("int16")
    np.testing.assert_array_equal(np.asarray(to_jax(values)), values)
    tensor = to_torch(values)
    assert tensor.data_ptr() == values.ctypes.data  # torch.from_numpy shares memory
    readonly = values.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(np.asarray(to_jax(readonly)), values)
    with pytest.raises(ValueError, match="copy=False"):
        to_jax(readonly, copy=False)


@pytest.mark.parametrize("convert", [to_jax, to_torch])
def test_bad_numpy_leaves_are_named_errors(convert):
    with pytest.raises(ValueError, match=r"x\['obs'\]: expected a little-endian array"):
        convert({"obs": np.arange(3, dtype=">i4")})
    with pytest.raises(TypeError, match="x: expected a numpy array of a dtype torch supports"):
        convert(np.array(["a", "b"]))


def test_numpy_copy_true_works_whatever_numpy_alignment():
    # numpy aligns fresh buffers to 16 bytes, XLA's CPU client aliases only 64-byte ones.
    for n in range(1, 40):
        values = np.arange(n, dtype=np.float32)
        out = to_jax(values, copy=True)
        values[0] = -1.0  # the result is independent of the source
        np.testing.assert_array_equal(np.asarray(out), np.arange(n, dtype=np.float32))


def test_jax_to_torch_waits_for_pending_computation():
    big = jax.jit(lambda k: jnp.cumsum(jax.random.normal(k, (512, 512)), axis=0))(
        jax.random.key(0))
    out = to_torch(big)  # dispatched asynchronously: the export must wait for the values
    np.testing.assert_array_equal(out.numpy(), np.asarray(big))
    gc.collect()
