"""`import puffer_backend` and the spec layer must work with neither torch nor JAX installed."""
import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {"torch", "jax", "jaxlib", "flax", "gymnasium", "gymnax"}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None
    sys.meta_path.insert(0, Block())
""")


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_spec_imports_and_works_without_frameworks():
    result = run("""
        import numpy as np
        import puffer_backend, puffer_backend.spec as spec
        structured = np.dtype([("a", np.float32, (2,)), ("b", np.int16)], align=True)
        native = spec.nativize_dtype({"observation_dtype": np.dtype(np.uint8),
                                      "emulated_observation_dtype": structured})
        assert native["a"] == spec.Leaf(np.dtype(np.float32), (2,), 0, 8), native
        assert spec.flattened_tensor_size(native) == 3
        loaded = {m for m in sys.modules if m.split(".")[0] in BLOCKED}
        assert not loaded, loaded
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blocker_really_blocks():
    # Guards the test above: without this, a broken blocker would let it pass vacuously.
    result = run("import numpy\nimport torch")
    assert result.returncode != 0
    assert "blocked for this test" in result.stderr


def test_backend_import_names_missing_framework():
    result = run("import puffer_backend.torch_impl")
    assert result.returncode != 0
    assert "torch" in result.stderr
