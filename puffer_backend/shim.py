"""Make `import pufferlib.pytorch` resolve to `puffer_backend.torch_impl`.

For code written against PufferLib that should run without it: call `install()` once,
before the first `import pufferlib.pytorch`. It registers a stub `pufferlib` package and
`pufferlib.pytorch` in `sys.modules`. When the real PufferLib is importable nothing changes
(its own `pufferlib.pytorch` is what users asked for) unless `force=True`, which then
replaces only `pufferlib.pytorch` and leaves the rest of PufferLib in place.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["install"]

_MARK = "__puffer_backend_shim__"


def _real_pufferlib_available() -> bool:
    loaded = sys.modules.get("pufferlib")
    if loaded is not None:
        return not getattr(loaded, _MARK, False)
    try:
        return importlib.util.find_spec("pufferlib") is not None
    except (ImportError, ValueError):
        return False


def install(force: bool = False):
    """Register torch_impl as `pufferlib.pytorch`; returns the torch_impl module.

    Idempotent. With the real PufferLib installed this does nothing unless `force=True`.
    Raises TypeError when `force` is not a bool.
    """
    if not isinstance(force, bool):
        from .spec import bad_type
        raise bad_type("force", "a bool", force)
    impl = importlib.import_module("puffer_backend.torch_impl")
    if _real_pufferlib_available():
        if not force:
            return impl
        package = importlib.import_module("pufferlib")
    else:
        package = sys.modules.get("pufferlib")
        if package is None:
            package = types.ModuleType("pufferlib", "Stub package registered by puffer_backend.shim.")
            package.__path__ = []  # a package, so `import pufferlib.pytorch` looks in sys.modules
            setattr(package, _MARK, True)
            sys.modules["pufferlib"] = package
    sys.modules["pufferlib.pytorch"] = impl
    package.pytorch = impl
    return impl
