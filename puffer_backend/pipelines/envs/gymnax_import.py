"""Importing gymnax without its plotting libraries: seconds off every jax and mixed run's start.

gymnax's package imports every env module, and a few of them import seaborn (with scipy and
pandas) and matplotlib.pyplot at the top, only to draw frames in their `render`.
`import_gymnax()` imports gymnax with a stand-in for each of those two modules: the first
attribute read from a stand-in imports the real module (which then replaces the stand-in in
`sys.modules`) and answers from it, so a render call or the user's own `import seaborn` works
as before, one import later. A module already imported, or not installed, is left as it is.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["import_gymnax", "DEFERRED"]

DEFERRED = ("seaborn", "matplotlib.pyplot")


def import_gymnax():
    """The `gymnax` module, imported with the modules of DEFERRED imported on first use."""
    if "gymnax" not in sys.modules:
        for name in DEFERRED:
            _defer(name)
    import gymnax

    return gymnax


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, attribute):  # only called for what the stand-in itself lacks
        return getattr(self._load(), attribute)

    def _load(self):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        module = importlib.import_module(name)  # binds the real module on its parent package too
        self.__dict__["_real"] = module
        return module

    def __dir__(self):
        return dir(self._load())


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)  # imports the parent package (matplotlib: cheap)
    except (ImportError, ValueError):
        return
    if spec is None:
        return
    stand_in = _OnFirstUse(name)
    stand_in.__spec__ = spec  # `import name` finds it in sys.modules, initialized, and returns it
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stand_in)
