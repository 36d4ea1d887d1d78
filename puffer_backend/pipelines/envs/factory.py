"""Users' env factories: `--env package.module:function`, or a callable passed to `train`.

The contract (docs/pipelines-custom.md):
- torch: `make_env()` returns a gymnasium env (`gymnasium.Env`); called once per parallel env,
  in the worker processes under `--vec async`. It may take `render_mode` (for `eval --video`).
- jax and mixed: `make_env()` returns a gymnax `(env, env_params)` pair.
"""
from __future__ import annotations

import importlib

from ...spec.errors import bad_value, one_line
from . import is_factory_id

__all__ = ["load_factory", "resolve_factory"]


def load_factory(env_id: str):
    """The function named by `package.module:function`; ValueError naming env_id when the
    module does not import or has no such callable."""
    if not is_factory_id(env_id):
        raise bad_value("env_id", "package.module:function (a user's env factory)", repr(env_id))
    module_name, _, attribute = env_id.partition(":")
    try:
        target = importlib.import_module(module_name)
    except Exception as error:  # the user's module: any failure to import is reported as such
        raise bad_value("env_id", "package.module:function with an importable module",
                        f"{env_id!r} ({type(error).__name__}: {one_line(str(error))})") from None
    for part in attribute.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise bad_value("env_id", f"package.module:function naming a callable of {module_name}",
                        f"{env_id!r} (no callable {attribute!r} there)")
    return target


def resolve_factory(env_id: str, env=None):
    """The user's factory for a run: `env` when given (a callable), else the one `env_id`
    names when it has the `package.module:function` form, else None (a registry id)."""
    if env is not None:
        if not callable(env):
            raise bad_value("env", "a callable returning an env (a factory)", env)
        return env
    if ":" in env_id:
        return load_factory(env_id)
    return None
