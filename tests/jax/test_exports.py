"""jax_impl exports exactly the spec's names plus its own extras, and loads no torch."""
import os
import subprocess
import sys

from puffer_backend.spec.names import BACKEND_NAMES, JAX_ONLY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_all_is_spec_names_plus_jax_extras():
    from puffer_backend import jax_impl
    assert sorted(jax_impl.__all__) == sorted((*BACKEND_NAMES, *JAX_ONLY))
    for name in jax_impl.__all__:
        assert getattr(jax_impl, name) is not None, name


def test_import_loads_no_torch():
    code = "import sys, puffer_backend.jax_impl; print('torch' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
