"""gymnax imported without its plotting libraries (pipelines/envs/gymnax_import.py): they are
not executed by the import, and the first use of one gets the real module. Fresh interpreters:
the test is about what sys.modules holds."""
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("jax", "gymnax", "seaborn", "matplotlib")),
    reason="needs jax, gymnax, seaborn and matplotlib")


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_plotting_modules_load_on_first_use():
    out = _run("""
        import sys
        from puffer_backend.pipelines.envs.gymnax_vec import make_env
        spec = make_env("CartPole-v1")
        # Not executed by the import: scipy.stats and pandas come only with seaborn.
        print(sorted(m for m in ("scipy.stats", "pandas") if m in sys.modules))
        import seaborn
        palette = seaborn.color_palette("cubehelix", 3)  # first use: the real seaborn
        print(len(palette), type(sys.modules["seaborn"]).__name__, "scipy.stats" in sys.modules)
        import matplotlib.pyplot as plt
        figure, _ = plt.subplots()
        print(type(figure).__name__, type(sys.modules["matplotlib.pyplot"]).__name__)
        import gymnax
        env, params = gymnax.make("Pong-misc")  # a gymnax env module that imported seaborn works
        print(type(env).__name__)
    """)
    assert out.splitlines() == ["[]", "3 module True", "Figure module", "Pong"]


def test_modules_already_imported_are_left_alone():
    out = _run("""
        import sys
        import seaborn
        before = sys.modules["seaborn"]
        from puffer_backend.pipelines.envs.gymnax_import import import_gymnax
        import_gymnax()
        print(sys.modules["seaborn"] is before)
    """)
    assert out == "True"
