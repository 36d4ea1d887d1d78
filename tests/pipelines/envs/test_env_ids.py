"""Which env ids each backend takes, decided without torch or JAX: gymnasium's registry
(torch), gymnax's ids (jax, mixed), users' factories; and loading those factories."""
import subprocess
import sys
import textwrap

import pytest

from puffer_backend.pipelines.envs import GYMNAX_IDS, REQUIRED_MODULES, check_env_id, is_factory_id, missing_modules
from puffer_backend.pipelines.envs.factory import load_factory, resolve_factory

TOY = "tests.pipelines.envs.toy_envs"


def test_gymnax_table_is_gymnax_registry():
    gymnax = pytest.importorskip("gymnax")
    assert list(GYMNAX_IDS) == list(gymnax.registered_envs)


@pytest.mark.parametrize("backend, env_id, kind", [
    ("torch", "CartPole-v1", "gymnasium"), ("torch", "Blackjack-v1", "gymnasium"), ("torch", "Taxi-v4", "gymnasium"),
    ("torch", "HalfCheetah-v5", "gymnasium"),  # registered; whether MuJoCo is installed is decided when built
    ("jax", "Breakout-MinAtar", "gymnax"), ("mixed", "Acrobot-v1", "gymnax"), ("jax", "Pendulum-v1", "gymnax"),
    ("torch", f"{TOY}:make_dict_env", "factory"), ("jax", f"{TOY}:make_gymnax_cartpole", "factory"),
])
def test_accepted_ids(backend, env_id, kind):
    pytest.importorskip("gymnasium")
    assert check_env_id(backend, env_id) == kind


@pytest.mark.parametrize("backend, env_id, fragments", [
    ("torch", "CartPol-v1", ["env_id: expected an id in gymnasium's registry for backend torch", "'CartPol-v1'",
                               "Did you mean"]),
    ("torch", "Breakout-MinAtar", ["'Breakout-MinAtar'", "gymnax id: use --backend jax or mixed"]),
    ("jax", "Blackjack-v1", ["env_id: expected a gymnax id for backend jax", "'Blackjack-v1'",
                               "gymnasium id: use --backend torch"]),
    ("mixed", "Breakout-MinAtr", ["did you mean Breakout-MinAtar?"]),
    ("jax", "no_such_module_xyz:make", ["importable module", "no module named 'no_such_module_xyz'"]),
    ("torch", "a.b:c-d", ["package.module:function", "'a.b:c-d'"]),
])
def test_refused_ids_name_env_id_in_one_line(backend, env_id, fragments):
    pytest.importorskip("gymnasium")
    with pytest.raises(ValueError) as info:
        check_env_id(backend, env_id)
    message = str(info.value)
    assert message.startswith("env_id: expected ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_arguments():
    with pytest.raises(TypeError, match="env_id: expected a str"):
        check_env_id("torch", 3)
    with pytest.raises(ValueError, match="backend: expected one of"):
        check_env_id("tf", "CartPole-v1")
    with pytest.raises(ValueError, match="backend: expected one of"):
        missing_modules("tf")
    assert set(REQUIRED_MODULES) == {"torch", "jax", "mixed"}


def test_factory_form():
    assert is_factory_id("pkg.mod:make_env") and is_factory_id("m:f") and is_factory_id("m:Class.method")
    assert not is_factory_id("CartPole-v1") and not is_factory_id("ale_py:ALE/Pong-v5") and not is_factory_id(":f")


def test_load_factory():
    from tests.pipelines.envs import toy_envs

    assert load_factory(f"{TOY}:make_dict_env") is toy_envs.make_dict_env
    with pytest.raises(ValueError, match="no callable 'nope'"):
        load_factory(f"{TOY}:nope")
    with pytest.raises(ValueError, match="ModuleNotFoundError"):
        load_factory("no_such_module_xyz:make")
    assert resolve_factory("CartPole-v1") is None
    marker = object
    assert resolve_factory("anything", marker) is marker
    with pytest.raises(ValueError, match="env: expected a callable"):
        resolve_factory("CartPole-v1", 3)


def test_missing_modules_sees_a_blocked_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # how a failed/blocked import looks
    assert "gymnasium" in missing_modules("torch")


def test_checks_import_neither_framework():
    pytest.importorskip("gymnasium")
    code = textwrap.dedent(f"""
        import sys
        from puffer_backend.pipelines.envs import check_env_id
        for backend, env_id in [("torch", "CartPole-v1"), ("jax", "Breakout-MinAtar"), ("torch", "{TOY}:make_image_env")]:
            check_env_id(backend, env_id)
        try:
            check_env_id("torch", "CartPol-v1")
        except ValueError:
            pass
        assert "torch" not in sys.modules and "jax" not in sys.modules, sorted(sys.modules)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
