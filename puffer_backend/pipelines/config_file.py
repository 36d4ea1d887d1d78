"""Settings from a TOML file and from overrides, layered over the defaults.

Layers, each winning over the ones before it:
    TrainConfig's defaults < env_preset(backend, env_id) < the config file < overrides
(the command's overrides are its flags and `--set KEY=VALUE`). A config file holds
TrainConfig fields as top-level keys, `extra` as a table (merged key by key with the other
layers' `extra`, e.g. `--set extra.chunk_updates=4`):

    backend = "jax"
    env_id = "CartPole-v1"
    total_steps = 200_000
    learning_rate = 3e-4
    [extra]
    chunk_updates = 8

An unknown key or a value of the wrong type is a ValueError naming the file and the key
(`run.toml: gamma: expected a number, received 'high'`); ranges are TrainConfig.validate's,
and its error names the layer that set the field. Framework-free.
"""
from __future__ import annotations

import dataclasses
import numbers
from pathlib import Path
from typing import NamedTuple

from ..spec.errors import bad_value
from .config import TrainConfig, config_field

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

__all__ = ["Setting", "env_preset", "read_config_file", "file_settings", "layered_config", "build_config",
           "relabel_error"]


class Setting(NamedTuple):
    """One field set by one layer; `label` names it in errors (`run.toml: gamma`, `--steps`)."""
    label: str
    field: str
    value: object


def env_preset(backend: str, env_id: str) -> dict:
    """Per-env settings (pipelines.presets: CleanRL's continuous-control settings, the env's
    target return), applied over the defaults and under a config file and overrides."""
    from .presets import preset

    return preset(env_id, backend)


def _kinds() -> dict[str, str]:
    return {f.name: str(f.type).replace(" ", "") for f in dataclasses.fields(TrainConfig)}


def read_config_file(path) -> dict:
    """The TrainConfig fields of a TOML file, each value of its field's type (ints are accepted
    for float fields; "none" unsets an optional number). Ranges are not checked here.

    Raises FileNotFoundError, and ValueError as `<path>: <key>: expected ..., received ...`
    for a file that does not parse, an unknown key or a value of the wrong type.
    """
    path = Path(path)
    if tomllib is None:
        raise bad_value(str(path), "Python 3.11+ (tomllib) or the tomli package to read TOML", "neither")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise bad_value(str(path), "TOML", f"a file that fails to parse ({error})") from None
    kinds = _kinds()
    fields = {}
    for key, value in data.items():
        if key not in kinds:
            raise bad_value(f"{path}: {key}", f"a TrainConfig key ({', '.join(kinds)})", "an unknown key")
        fields[key] = _typed(value, kinds[key], f"{path}: {key}")
    return fields


def _typed(value, kind: str, label: str):
    """`value` from TOML as a value of a field of type `kind`; ValueError naming `label` otherwise."""
    def wrong(expected):
        return bad_value(label, expected, repr(value))

    optional = kind.endswith("|None")
    kind = kind.removesuffix("|None")
    if optional and isinstance(value, str) and value.lower() == "none":
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if kind == "int":
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise wrong("an integer")
        return int(value)
    if kind == "float":
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise wrong('a number' + (' or "none"' if optional else ''))
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if kind == "dict":
        if not isinstance(value, dict):
            raise wrong("a table")
        return value
    raise wrong(f"a value of type {kind}")


def file_settings(path) -> list[Setting]:
    """`read_config_file(path)` as Settings labelled `<path>: <key>`."""
    return [Setting(f"{path}: {key}", key, value) for key, value in read_config_file(path).items()]


def relabel_error(error: ValueError, settings) -> ValueError:
    """A TrainConfig.validate error naming `config.<field>` renamed with the label of the
    setting that set that field last (`--set gamma: expected ...`), of the same type; other
    errors (and a field no setting set) unchanged."""
    labels = {setting.field: setting.label for setting in settings}
    field = config_field(error)
    if field not in labels:
        return error
    return error.renamed(labels[field])


def layered_config(settings, *, base: TrainConfig | None = None, preset: bool = True) -> TrainConfig:
    """`base` (default: TrainConfig()) with `env_preset` of the resulting backend and env
    (when `preset`), then `settings` in order (later wins), validated.

    Raises ValueError for a key that is not a field, and TrainConfig.validate's ValueError
    reworded with the label of the setting at fault (`relabel_error`).
    """
    settings = list(settings)
    base = TrainConfig() if base is None else base
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for setting in settings:
        if setting.field not in fields:
            raise bad_value(setting.label, "a TrainConfig key", f"an unknown key {setting.field!r}")
    chosen = _chosen(settings, base)
    if preset:
        backend, env_id = chosen.get("backend", base.backend), chosen.get("env_id", base.env_id)
        preset_settings = [Setting(f"preset of {env_id}: {key}", key, value)
                           for key, value in env_preset(backend, env_id).items()]
        settings = preset_settings + settings
        chosen = _chosen(settings, base)
    config = dataclasses.replace(base, **chosen)
    try:
        config.validate()
    except ValueError as error:
        raise relabel_error(error, settings) from None
    return config


def _chosen(settings, base: TrainConfig) -> dict:
    """{field: value} of `settings`, later ones winning; `extra` tables are merged key by key
    over `base.extra` (a file's [extra] table, then `--set extra.NAME=VALUE`), so that one
    extra key never drops the others."""
    chosen: dict = {}
    for setting in settings:
        if setting.field in ("extra", "policy_kwargs") and isinstance(setting.value, dict):
            chosen[setting.field] = {**chosen.get(setting.field, getattr(base, setting.field)), **setting.value}
        else:
            chosen[setting.field] = setting.value
    return chosen


def build_config(file=None, overrides: dict | None = None, *, base: TrainConfig | None = None,
                 preset: bool = True) -> TrainConfig:
    """The Python form of `train --config FILE --set ...`: defaults (or `base`) < env preset <
    the TOML `file` < `overrides` ({field: value}), validated.

    Raises FileNotFoundError for a missing file and ValueError naming the file and key, or
    `config.<field>` for an override, for a bad key or value.
    """
    settings = file_settings(file) if file is not None else []
    settings += [Setting(f"config.{key}", key, value) for key, value in (overrides or {}).items()]
    return layered_config(settings, base=base, preset=preset)
