"""puffer_backend.shim in fresh interpreters: sys.modules changes must not leak between tests."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code: str, extra_path: str | None = None) -> str:
    env = dict(os.environ)
    paths = [ROOT] + ([extra_path] if extra_path else []) + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_install_without_pufferlib():
    out = _run("""
        import importlib.util, sys
        assert importlib.util.find_spec("pufferlib") is None
        from puffer_backend import shim, torch_impl
        module = shim.install()
        assert module is torch_impl and shim.install() is module   # idempotent
        import pufferlib.pytorch
        from pufferlib.pytorch import sample_logits, nativize_tensor, numpy_to_torch_dtype_dict
        import pufferlib
        assert pufferlib.pytorch is torch_impl and sample_logits is torch_impl.sample_logits
        print("ok")
    """)
    assert out == "ok"


def test_real_pufferlib_left_alone_unless_forced(tmp_path):
    package = tmp_path / "pufferlib"
    package.mkdir()
    (package / "__init__.py").write_text("REAL = True\n")
    (package / "pytorch.py").write_text("WHO = 'real'\n")
    out = _run("""
        from puffer_backend import shim, torch_impl
        shim.install()
        import pufferlib.pytorch
        assert pufferlib.pytorch.WHO == "real"
        shim.install(force=True)
        import pufferlib
        from pufferlib.pytorch import sample_logits
        assert pufferlib.REAL and pufferlib.pytorch is torch_impl
        print("ok")
    """, extra_path=str(tmp_path))
    assert out == "ok"


def test_force_must_be_bool():
    out = _run("""
        from puffer_backend import shim
        try:
            shim.install(force="yes")
        except TypeError as err:
            print("force" in str(err))
    """)
    assert out == "True"
