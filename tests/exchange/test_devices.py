"""Devices: what neither side can see is refused; CUDA tests run only where a GPU exists."""
import numpy as np
import pytest

from tests.exchange.cases import torch

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import jax_fn_for_torch, to_jax, to_torch  # noqa: E402


def jax_gpus():
    try:
        return jax.devices("gpu")
    except RuntimeError:
        return []


needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and jax_gpus()),
                                reason="needs CUDA in both torch and JAX")


def test_device_jax_cannot_see_is_a_value_error():
    with pytest.raises(ValueError, match=r"x\['a'\]: expected a CPU or CUDA tensor.*meta"):
        to_jax({"a": torch.ones(3, device="meta")})


def test_cpu_stays_on_cpu():
    imported = to_jax(torch.ones(3))
    assert imported.devices() == {jax.devices("cpu")[0]}
    assert to_torch(jnp.ones(3)).device.type == "cpu"


@pytest.mark.cuda
@needs_cuda
def test_cuda_zero_copy_same_device_both_ways():
    source = torch.arange(1 << 16, device="cuda", dtype=torch.float32)
    imported = to_jax(source, copy=False)
    assert imported.devices() == {jax_gpus()[0]}
    assert imported.unsafe_buffer_pointer() == source.data_ptr()
    back = to_torch(imported)
    assert back.device == source.device and back.data_ptr() == source.data_ptr()
    copied = to_jax(source, copy=True)
    assert copied.unsafe_buffer_pointer() != source.data_ptr()
    np.testing.assert_array_equal(np.asarray(copied), np.arange(1 << 16, dtype=np.float32))


@pytest.mark.cuda
@needs_cuda
def test_cuda_producer_stream_is_respected():
    # Work queued on a side stream must be finished before JAX reads the buffer.
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        source = torch.zeros(1 << 22, device="cuda")
        for _ in range(20):
            source.add_(1.0)
        imported = to_jax(source)  # torch's current stream here is `stream`
    assert float(jnp.min(imported)) == 20.0 and float(jnp.max(imported)) == 20.0


@pytest.mark.cuda
@needs_cuda
def test_cuda_jax_results_ready_before_torch_reads():
    big = jax.jit(lambda k: jnp.cumsum(jnp.ones((4096, 1024)), axis=0))(jax.random.key(0))
    out = to_torch(big)
    assert out.device.type == "cuda"
    assert float(out[-1, 0]) == 4096.0


@pytest.mark.cuda
@needs_cuda
def test_cuda_wrapped_function_gradients():
    wrapped = jax_fn_for_torch(jax.jit(lambda x: jnp.sin(x)))
    x = torch.linspace(-1, 1, 256, device="cuda", requires_grad=True)
    wrapped(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.cos(x.detach()))
