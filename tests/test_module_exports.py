"""Every module of puffer_backend declares its public names in `__all__`, and each exists."""
import importlib
import pkgutil

import pytest

import puffer_backend

# `python -m puffer_backend` runs the CLI on import: a script, not a module with an API.
SCRIPTS = {"puffer_backend.__main__", "puffer_backend.cli.__main__"}


def _module_names() -> list[str]:
    names = ["puffer_backend"]
    names += [info.name for info in pkgutil.walk_packages(puffer_backend.__path__, "puffer_backend.")]
    return sorted(set(names) - SCRIPTS)


def test_the_walk_finds_every_layer():
    found = set(_module_names())
    for name in ("puffer_backend.spec.trees", "puffer_backend.torch_impl.validation",
                 "puffer_backend.jax_impl.validation", "puffer_backend.exchange.arrays"):
        assert name in found, name


@pytest.mark.parametrize("name", _module_names())
def test_module_declares_all_and_every_name_exists(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, (list, tuple)), f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
