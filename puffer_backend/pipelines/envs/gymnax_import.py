"""Importing gymnax without what a run does not use: seconds off every jax and mixed run's start.

gymnax's package imports every env module, and a few of them import seaborn (with scipy and
pandas) and matplotlib.pyplot at the top, only to draw frames in their `render`.
`import_gymnax()` imports gymnax with a stand-in for each of those two modules: the first
attribute read from a stand-in imports the real module (which then replaces the stand-in in
`sys.modules`) and answers from it, so a render call or the user's own `import seaborn` works
as before, one import later. A module already imported, or not installed, is left as it is.

`make_gymnax(env_id)` builds a classic-control or MinAtar env (BUILTIN_CLASSES) from its own
module alone: the packages `gymnax`, `gymnax.environments` and `flax` are placed in
`sys.modules` without running their `__init__` (every gymnax env, flax.linen: about 1 s),
which runs when an attribute that is not a submodule is first read from the package
(`gymnax.make`, `flax.config`), so later imports of these packages see them whole. That
placement is done only for the gymnax and flax versions it was tested with
(TESTED_VERSIONS) and unless the environment sets PUFFER_BACKEND_LAZY_IMPORTS=0: a version
whose submodules read their package differently at import time gets the packages imported
whole, as `import gymnax` would (about a second more at start-up).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import types

__all__ = ["import_gymnax", "make_gymnax", "import_gymnax_module", "lazy_packages_allowed", "BUILTIN_CLASSES",
           "DEFERRED", "TESTED_VERSIONS"]

DEFERRED = ("seaborn", "matplotlib.pyplot")


# gymnax.make's class for each of these ids (gymnax.registration), which it calls without arguments.
BUILTIN_CLASSES = {
    "CartPole-v1": ("classic_control.cartpole", "CartPole"),
    "Pendulum-v1": ("classic_control.pendulum", "Pendulum"),
    "Acrobot-v1": ("classic_control.acrobot", "Acrobot"),
    "MountainCar-v0": ("classic_control.mountain_car", "MountainCar"),
    "MountainCarContinuous-v0": ("classic_control.continuous_mountain_car", "ContinuousMountainCar"),
    "Asterix-MinAtar": ("minatar.asterix", "MinAsterix"),
    "Breakout-MinAtar": ("minatar.breakout", "MinBreakout"),
    "Freeway-MinAtar": ("minatar.freeway", "MinFreeway"),
    "Seaquest-MinAtar": ("minatar.seaquest", "MinSeaquest"),
    "SpaceInvaders-MinAtar": ("minatar.space_invaders", "MinSpaceInvaders"),
}
_LAZY_PACKAGES = ("flax", "gymnax", "gymnax.environments")
# The (major, minor) releases whose packages were placed uninitialized in the tests.
TESTED_VERSIONS = {"gymnax": ((1, 0),), "flax": ((0, 10), (0, 11), (0, 12))}
OPT_OUT = "PUFFER_BACKEND_LAZY_IMPORTS"
# What a package's `__init__` defines that its own submodules import from it: set beforehand, so
# that no submodule's import runs the `__init__` halfway through itself (a circular import).
_SEEDED = {"flax": {"config": ("flax.configurations", "config")}}


def import_gymnax():
    """The `gymnax` module, imported with the modules of DEFERRED imported on first use."""
    gymnax = sys.modules.get("gymnax")
    if gymnax is None or isinstance(gymnax, _Uninitialized):
        for name in DEFERRED:
            _defer(name)
    import gymnax

    gymnax.make  # noqa: B018 (runs the package's __init__ if it has not run)
    return gymnax


def import_gymnax_module(name: str):
    """gymnax's module `name` (`gymnax.environments.spaces`), imported without the `__init__`
    of `gymnax`, `gymnax.environments` and `flax` where they have not run yet (when
    `lazy_packages_allowed()`; else after importing those packages whole)."""
    if lazy_packages_allowed():
        for package in _LAZY_PACKAGES:
            _uninitialized_package(package)
    elif importlib.util.find_spec("gymnax") is not None:
        import_gymnax()
    return importlib.import_module(name)


def lazy_packages_allowed() -> bool:
    """Whether `import_gymnax_module` may place packages uninitialized: the installed gymnax
    and flax are of TESTED_VERSIONS and PUFFER_BACKEND_LAZY_IMPORTS is not "0". ValueError
    naming the variable for a value other than "0", "1" or empty."""
    setting = os.environ.get(OPT_OUT, "1").strip()
    if setting not in ("0", "1", ""):
        from ...spec.errors import bad_value
        raise bad_value(OPT_OUT, "'0' (import gymnax and flax whole) or '1' (the default)", repr(setting))
    if setting == "0":
        return False
    return all(_release(package) in releases for package, releases in TESTED_VERSIONS.items())


def _release(package: str) -> tuple | None:
    """(major, minor) of an installed distribution, from its metadata (nothing imported); None
    when it is not installed or its version does not start with two numbers."""
    try:
        parts = importlib.metadata.version(package).split(".")[:2]
        return tuple(int(part) for part in parts) if len(parts) == 2 else None
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def make_gymnax(env_id: str):
    """`gymnax.make(env_id)`: `(env, env_params)`; the env's own module only for an id of
    BUILTIN_CLASSES (as gymnax.make builds it: the class called without arguments, its
    default params), else through gymnax's registry."""
    if env_id not in BUILTIN_CLASSES or not lazy_packages_allowed():
        return import_gymnax().make(env_id)
    module, name = BUILTIN_CLASSES[env_id]
    env = getattr(import_gymnax_module(f"gymnax.environments.{module}"), name)()
    return env, env.default_params


class _Uninitialized(types.ModuleType):
    """A package whose `__init__` has not run: its submodules import; the first read of another
    attribute runs the `__init__` in the package's namespace and answers from it."""

    def __getattr__(self, attribute):  # only called for what the package's namespace lacks
        if not attribute.startswith("__"):
            try:
                spec = importlib.util.find_spec(f"{self.__name__}.{attribute}")
            except (ImportError, ValueError):
                spec = None
            if spec is not None:
                return importlib.import_module(f"{self.__name__}.{attribute}")
        self.__class__ = types.ModuleType  # from here on an ordinary module
        self.__spec__.loader.exec_module(self)
        return getattr(self, attribute)


def _uninitialized_package(name: str) -> None:
    """`name` in sys.modules (and on its parent) without running its `__init__`, unless it is
    imported already or not installed."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)
    package.__class__ = _Uninitialized
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)
    for attribute, (module, value) in _SEEDED.get(name, {}).items():
        setattr(package, attribute, getattr(importlib.import_module(module), value))


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
