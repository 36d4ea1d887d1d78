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


def test_an_env_of_its_own_module_leaves_the_rest_unimported_and_the_packages_whole():
    """make_env of a classic-control id imports that env's module, not gymnax's registry (every
    env) nor flax.linen; a later use of either package gets it whole."""
    out = _run("""
        import importlib.metadata, sys
        from puffer_backend.pipelines.envs.gymnax_vec import make_env
        spec = make_env("CartPole-v1")
        print(spec.obs_dim, spec.num_actions)
        print(sorted(m for m in ("gymnax.registration", "gymnax.environments.misc", "gymnax.environments.bsuite",
                                 "flax.linen", "yaml", "seaborn", "matplotlib") if m in sys.modules))
        import flax, flax.linen as nn, jax, jax.numpy as jnp
        params = nn.Dense(3).init(jax.random.PRNGKey(0), jnp.ones((1, 2)))
        print(params["params"]["kernel"].shape, flax.__version__ == importlib.metadata.version("flax"))
        import gymnax
        env, env_params = gymnax.make("CartPole-v1")
        print(type(env) is type(spec.env), env_params == spec.params, "gymnax.environments.misc" in sys.modules)
    """)
    assert out.splitlines() == ["4 2", "[]", "(2, 3) True", "True True True"]


def test_make_gymnax_builds_what_gymnax_make_builds():
    pytest.importorskip("gymnax")
    import gymnax
    import jax

    from puffer_backend.pipelines.envs.gymnax_import import BUILTIN_CLASSES, make_gymnax

    for env_id in BUILTIN_CLASSES:
        env, params = make_gymnax(env_id)
        expected_env, expected_params = gymnax.make(env_id)
        assert type(env) is type(expected_env), env_id
        same = jax.tree.map(lambda a, b: bool((a == b).all()) if hasattr(a, "shape") else a == b,
                            params, expected_params)
        assert all(jax.tree.leaves(same)), env_id
    with pytest.raises(ValueError):  # an id of neither table goes to gymnax's registry, which refuses it
        make_gymnax("NoSuchEnv-v0")


def test_an_id_of_the_registry_after_an_uninitialized_gymnax_still_defers_the_renderers():
    out = _run("""
        import sys
        from puffer_backend.pipelines.envs.families import base  # leaves gymnax's __init__ unrun
        from puffer_backend.pipelines.envs.gymnax_vec import make_env
        spec = make_env("Catch-bsuite")  # not in BUILTIN_CLASSES: through gymnax.make
        print(spec.obs_dim, sorted(m for m in ("scipy.stats", "pandas") if m in sys.modules))
    """)
    assert out == "50 []"


@pytest.mark.parametrize("how", ["opt-out", "untested version"])
def test_packages_are_imported_whole_when_not_allowed(how):
    """PUFFER_BACKEND_LAZY_IMPORTS=0, or a gymnax release outside TESTED_VERSIONS: make_env
    imports gymnax and flax whole (their registries run), and the env is the same."""
    setup = ("import os; os.environ['PUFFER_BACKEND_LAZY_IMPORTS'] = '0'" if how == "opt-out" else
             "from puffer_backend.pipelines.envs import gymnax_import as g; g.TESTED_VERSIONS['gymnax'] = ((0, 1),)")
    out = _run(setup + """
import sys, types
from puffer_backend.pipelines.envs.gymnax_import import lazy_packages_allowed
from puffer_backend.pipelines.envs.gymnax_vec import make_env
spec = make_env("CartPole-v1")
print(lazy_packages_allowed(), spec.obs_dim, spec.num_actions)
print([type(sys.modules[m]) is types.ModuleType for m in ("gymnax", "gymnax.environments", "flax")])
print("gymnax.registration" in sys.modules, callable(sys.modules["gymnax"].__dict__.get("make")))
""")
    assert out.splitlines() == ["False 4 2", "[True, True, True]", "True True"]


def test_the_installed_versions_are_the_tested_ones():
    """The suite runs with releases of TESTED_VERSIONS, so the tests above test the lazy path."""
    from puffer_backend.pipelines.envs.gymnax_import import lazy_packages_allowed

    assert lazy_packages_allowed()


@pytest.mark.parametrize("setting, allowed", [("0", False), ("1", True), ("", True), ("false", None), ("off", None)])
def test_the_opt_out_takes_0_or_1_and_names_itself_otherwise(monkeypatch, setting, allowed):
    from puffer_backend.pipelines.envs.gymnax_import import OPT_OUT, lazy_packages_allowed

    monkeypatch.setenv(OPT_OUT, setting)
    if allowed is None:
        with pytest.raises(ValueError, match=f"PUFFER_BACKEND_LAZY_IMPORTS: expected '0'.*received '{setting}'"):
            lazy_packages_allowed()
    else:
        assert lazy_packages_allowed() is allowed
