"""A policy named by import path (`config.policy = "package.module:Class"`, `--policy`), built
by the pipeline once it knows its env, so that `eval`, `eval --video` and `--resume` of the
run rebuild it from config.json alone.

The class is called with `config.policy_kwargs` (`--set policy.KEY=VALUE`) as keyword
arguments, plus those of ENV_ARGUMENTS that its constructor names as parameters:
- obs_width: int, the width of the observation rows the policy receives (torch: packed rows
  of the sample dtype; mixed and jax: float32 rows of the flattened observation);
- action_spec: the env's action space as a `puffer_backend.spec` action spec (`Discrete(n)`:
  `.n` logits; `MultiDiscrete`: `.head_sizes`; `Continuous`: a Normal of `.logits_width`);
- observation_layout (torch and mixed): the `nativize_dtype` layout of the rows, to unpack
  them with `torch_impl.nativize_tensor(obs, observation_layout)`.
A policy for any env names obs_width and action_spec; one written for one env names neither.
What the built policy must be: docs/pipelines-custom.md (a torch nn.Module for torch and
mixed, a flax module for jax). Framework-free: importing the user's module is what imports
its framework.
"""
from __future__ import annotations

import importlib
import inspect

from ..spec.errors import bad_value

__all__ = ["ENV_ARGUMENTS", "check_policy_path", "import_policy", "build_policy"]

ENV_ARGUMENTS = ("obs_width", "action_spec", "observation_layout")


def check_policy_path(value, argument: str = "config.policy") -> None:
    """`value` is None or a `package.module:Class` string (not imported); ValueError naming `argument`."""
    if value is None:
        return
    module, colon, name = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not (colon and module.strip() and name.strip() and all(part.isidentifier() for part in name.split("."))):
        raise bad_value(argument, "package.module:Class, a policy class named by import path", repr(value))


def import_policy(path: str, argument: str = "config.policy"):
    """The class `path` (`package.module:Class`, imported from the current folder or the Python
    path) names; ValueError naming `argument` when it cannot be imported or is not a class."""
    check_policy_path(path, argument)
    module_name, _, name = path.partition(":")
    try:
        target = importlib.import_module(module_name.strip())
        for part in name.strip().split("."):
            target = getattr(target, part)
    except Exception as error:  # the user's module: any error in it means the policy cannot be had
        raise bad_value(argument, "package.module:Class, an importable policy class",
                        f"{path!r} ({type(error).__name__}: {error})") from None
    if not inspect.isclass(target):
        raise bad_value(argument, "package.module:Class naming a class", f"{path!r}, a {type(target).__name__}")
    return target


def build_policy(config, **env_arguments):
    """`config.policy`'s class called with `config.policy_kwargs` and the `env_arguments`
    (of ENV_ARGUMENTS) that its constructor names. ValueError naming config.policy when it
    cannot be imported, config.policy_kwargs when the constructor refuses the arguments."""
    cls = import_policy(config.policy)
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        parameters = {}
    given = {key: value for key, value in env_arguments.items()
             if key in parameters and key not in config.policy_kwargs}
    try:
        return cls(**given, **config.policy_kwargs)
    except TypeError as error:
        raise bad_value("config.policy_kwargs", f"keyword arguments that {config.policy} accepts",
                        f"{config.policy_kwargs!r} ({error})") from None
