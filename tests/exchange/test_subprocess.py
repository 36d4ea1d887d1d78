"""Settings that must be fixed before JAX starts: x64 on, several virtual CPU devices."""
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(code: str, **env) -> None:
    environment = {**os.environ, **env}
    environment["PYTHONPATH"] = ROOT + os.pathsep + environment.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=300, env=environment, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK" in result.stdout


def test_64_bit_round_trips_with_x64():
    run("""
        import jax, numpy as np, torch
        jax.config.update("jax_enable_x64", True)
        from puffer_backend.exchange import to_jax, to_torch
        cases = {
            torch.int64: np.array([2**40 + 5, -2**63, 2**63 - 1, 0], np.int64),
            torch.uint64: np.array([2**64 - 1, 2**40 + 5, 0, 1], np.uint64),
            torch.float64: np.array([1 / 3, 1e300, -0.0, np.pi], np.float64),
            torch.complex128: np.array([1 + 2j, -1e200j, 0, 3], np.complex128),
        }
        for dtype, values in cases.items():
            source = torch.from_numpy(values.view(np.uint8).copy()).view(dtype).clone()
            imported = to_jax(source, copy=False)
            assert imported.dtype == values.dtype, (imported.dtype, values.dtype)
            assert imported.unsafe_buffer_pointer() == source.data_ptr()
            np.testing.assert_array_equal(np.asarray(imported), values)
            back = to_torch(imported)
            assert back.dtype == dtype and back.data_ptr() == source.data_ptr()
            fresh = to_torch(jax.numpy.asarray(values))
            np.testing.assert_array_equal(fresh.view(torch.uint8).numpy().view(values.dtype), values)
        print("OK")
    """)


def test_gradients_against_finite_differences_in_float64():
    run("""
        import jax, jax.numpy as jnp, numpy as np, torch
        jax.config.update("jax_enable_x64", True)
        from jax.test_util import check_grads
        from puffer_backend.exchange import jax_fn_for_torch, torch_fn_for_jax

        jax_fn = jax.jit(lambda x, w: {"y": jnp.tanh(x @ w), "z": jnp.sin(x).sum(-1)})
        wrapped = jax_fn_for_torch(jax_fn)
        x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, w: tuple(wrapped(x, w).values()), (x, w))

        torch_fn = torch_fn_for_jax(lambda x, w: torch.tanh(x @ w) * x.sum())
        xs = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3)))
        ws = jnp.asarray(np.random.default_rng(1).standard_normal((3, 2)))
        check_grads(torch_fn, (xs, ws), order=1, modes=["rev"])
        print("OK")
    """)


def test_multi_device_arrays():
    run("""
        import jax, jax.numpy as jnp, numpy as np, torch
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        from puffer_backend.exchange import to_jax, to_torch
        devices = jax.devices()
        assert len(devices) == 8, devices
        on_three = jax.device_put(jnp.arange(8.0), devices[3])
        out = to_torch(on_three)  # any CPU device's buffer is host memory torch can read
        np.testing.assert_array_equal(out.numpy(), np.arange(8.0))
        mesh = Mesh(np.array(devices), ("d",))
        sharded = jax.device_put(jnp.arange(16.0), NamedSharding(mesh, PartitionSpec("d")))
        try:
            to_torch({"obs": sharded})
        except ValueError as error:
            assert "sharded over 8 devices" in str(error) and "x['obs']" in str(error), error
        else:
            raise AssertionError("sharded array was accepted")
        imported = to_jax(torch.ones(4))
        assert imported.devices() == {devices[0]}
        print("OK")
    """, XLA_FLAGS="--xla_force_host_platform_device_count=8")


def test_import_message_without_jax():
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("jax", "jaxlib"):
                    raise ImportError("blocked for this test")
        sys.meta_path.insert(0, Block())
        import puffer_backend
        try:
            import puffer_backend.exchange
        except ImportError as error:
            assert "jax is missing" in str(error), error
            print("OK")
    """)], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT})
    assert "OK" in result.stdout, result.stderr[-2000:]


def test_import_does_not_start_jax_backends():
    # XLA_FLAGS, platform choices and jax.distributed.initialize must still be possible.
    run("""
        import puffer_backend.exchange
        from jax._src import xla_bridge
        assert not xla_bridge._backends, xla_bridge._backends
        print("OK")
    """)
