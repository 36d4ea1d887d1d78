"""Which backends and environments the command can run here, decided before any framework import."""
from __future__ import annotations

import os
import sys

from ..pipelines import load_pipeline
from ..pipelines.envs import REQUIRED_MODULES, check_env_id, missing_modules
from ..spec.errors import BadArgumentError
from .errors import UsageError

__all__ = ["check_env", "check_installed", "pipeline_module", "factory_path"]


def factory_path(env_id: str) -> None:
    """For `--env package.module:function`, the current folder is searched first (as
    `python -m` does; the `puffer-backend` script alone would not look there), so a factory
    in the folder the command runs from imports."""
    if ":" in env_id and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def check_env(backend: str, env_id: str, label: str = "--env") -> None:
    """An env id the backend cannot build is a UsageError naming `label` (the flag, or the
    config file's key that set it), decided without importing torch or JAX
    (pipelines.envs.check_env_id; the torch backend's check reads gymnasium's registry).
    Whether the env's spaces can be trained is decided when the pipeline builds it."""
    factory_path(env_id)
    try:
        check_env_id(backend, env_id)
    except BadArgumentError as error:
        raise UsageError(str(error.renamed(label)) if error.argument == "env_id" else f"{label}: {error}") from None


def check_installed(backend: str) -> None:
    """A framework the backend needs and cannot find is a UsageError, decided without importing it."""
    missing = missing_modules(backend)
    if missing:
        raise UsageError(f"backend {backend}: needs {', '.join(REQUIRED_MODULES[backend])}; not installed: "
                         f"{', '.join(missing)} (pip install 'puffer-backend[{_extras(backend)}]')")


def _extras(backend: str) -> str:
    return {"torch": "torch,examples", "jax": "jax,examples"}.get(backend, "torch,jax,examples")


def pipeline_module(backend: str):
    """The pipeline module; a module that cannot be imported is a UsageError (installation problem)."""
    try:
        return load_pipeline(backend)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == __package__.split(".")[0]:
            raise UsageError(f"backend {backend}: module {error.name} is not available in this "
                             "installation") from None
        raise UsageError(f"backend {backend}: importing its pipeline needs {error.name!r}, which is not "
                         f"installed (pip install 'puffer-backend[{_extras(backend)}]')") from None
