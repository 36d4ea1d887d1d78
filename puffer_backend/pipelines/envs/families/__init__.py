"""JAX simulators beyond gymnax, by `FAMILY/ID`: each family adapted to gymnax's functional
interface (`base.FamilyEnv`), so that every pipeline that drives gymnax envs drives them.

| family | ids | package (pip extra) |
|---|---|---|
| playground | MuJoCo Playground's registry: CartpoleBalance, ... | playground |
| brax | brax's registered envs: inverted_pendulum, ant, ... | brax |
| jumanji | jumanji's registry: Snake-v1, Game2048-v1, ... | jumanji |
| navix | navix's registry: Navix-Empty-5x5-v0, ... | navix |
| craftax | Craftax-Symbolic-v1, Craftax-Classic-Pixels-v1, ... | craftax |

`gymnax/ID` is the same as a plain gymnax id. This module imports nothing heavy: a family's
package is imported when one of its envs is made.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util

from ....spec.errors import bad_value, one_line

__all__ = ["FAMILIES", "family_of", "check_family_id", "make_family_env", "family_ids", "leaf_name"]

# family -> (top-level module to find, pip extra, module:function making an env, module:function listing ids)
FAMILIES = {
    "playground": ("mujoco_playground", "playground", "physics:make_playground", "physics:playground_ids"),
    "brax": ("brax", "brax", "physics:make_brax", "physics:brax_ids"),
    "jumanji": ("jumanji", "jumanji", "jumanji_env:make_jumanji", "jumanji_env:jumanji_ids"),
    "navix": ("navix", "navix", "navix_env:make_navix", "navix_env:navix_ids"),
    "craftax": ("craftax", "craftax", "craftax_env:make_craftax", None),
}


def leaf_name(path) -> str:
    """A pytree leaf's path as the rows name it: keys, attribute names and indices joined by "/"."""
    return "/".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def family_of(env_id) -> tuple[str, str] | None:
    """(family, name) of a `FAMILY/ID` env id, else None (gymnax ids, factories)."""
    if not isinstance(env_id, str) or "/" not in env_id or ":" in env_id:
        return None
    family, _, name = env_id.partition("/")
    return family, name


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_family_id(env_id: str) -> str:
    """The family of `env_id`, cheaply (no import of the family): ValueError naming env_id for
    an unknown family, an empty id, or a family whose package is not installed."""
    family, name = family_of(env_id)
    if family not in FAMILIES and family != "gymnax":
        close = difflib.get_close_matches(family, [*FAMILIES, "gymnax"], n=1)
        hint = f"; did you mean {close[0]}/{name}?" if close else ""
        raise bad_value("env_id", f"FAMILY/ID with a family of {', '.join(['gymnax', *FAMILIES])}",
                        f"{env_id!r}{hint}")
    if not name:
        raise bad_value("env_id", "FAMILY/ID with an id after the slash", repr(env_id))
    if family != "gymnax" and not _installed(FAMILIES[family][0]):
        raise bad_value("env_id", f"an env of an installed family (pip install 'puffer-backend[{FAMILIES[family][1]}]')",
                        f"{env_id!r}: {FAMILIES[family][0]} is not installed")
    return family


def _function(reference: str):
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def family_ids(family: str) -> list[str]:
    """The ids `family` registers (imports the family)."""
    if family == "craftax":
        from .craftax_env import CRAFTAX_IDS
        return list(CRAFTAX_IDS)
    return _function(FAMILIES[family][3])()


def make_family_env(env_id: str):
    """The gymnax-interface env (`base.FamilyEnv`) of `FAMILY/ID`, with its params.
    ValueError naming env_id, in one line, for an id the family does not register (with a
    close match) or that fails to build."""
    family = check_family_id(env_id)
    _, name = family_of(env_id)
    ids = family_ids(family)
    if name not in ids:
        close = difflib.get_close_matches(name, ids, n=1)
        hint = f"; did you mean {family}/{close[0]}?" if close else ""
        raise bad_value("env_id", f"an id {family} registers ({', '.join(ids[:4])}, ...)", f"{env_id!r}{hint}")
    try:
        env = _function(FAMILIES[family][2])(name)
    except ValueError:
        raise
    except Exception as error:  # the family's own failure to build the env
        raise bad_value("env_id", f"a {family} env that builds here",
                        f"{env_id!r} ({type(error).__name__}: {one_line(str(error))[:200]})") from None
    return env, env.default_params
