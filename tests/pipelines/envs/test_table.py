"""The env table: ids and required modules per backend, decided without importing a framework."""
import pytest

from puffer_backend.pipelines.envs import REQUIRED_MODULES, SUPPORTED_ENVS, missing_modules, supported_envs


def test_env_table():
    assert set(SUPPORTED_ENVS) == set(REQUIRED_MODULES) == {"torch", "jax", "mixed"}
    assert "Blackjack-v1" in supported_envs("torch") and "Blackjack-v1" not in supported_envs("jax")
    with pytest.raises(ValueError, match="backend: expected one of"):
        supported_envs("tf")
    with pytest.raises(ValueError, match="backend: expected one of"):
        missing_modules("tf")


def test_missing_modules_sees_a_blocked_module(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gymnasium", None)  # how a failed/blocked import looks
    assert "gymnasium" in missing_modules("torch")
