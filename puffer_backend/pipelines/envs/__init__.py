"""Environments of the pipelines: which env ids each backend takes, decided cheaply (this module,
framework-free), the env contract of the torch loop (`contract`), gymnasium vector envs for
torch (`gym_vec`), gymnax vector envs for jax and mixed (`gymnax_vec`; gymnax imported without
its plotting libraries by `gymnax_import`), users' env factories (`factory`), frames for
videos (`render`).

`--env` takes, per backend:
- torch: any id in gymnasium's registry (`gymnasium.registry`), or `package.module:function`,
  a user's factory returning a gymnasium env;
- jax and mixed: any id gymnax registers (GYMNAX_IDS: CartPole-v1, ..., Breakout-MinAtar, ...),
  `FAMILY/ID` of another JAX simulator (`families`: playground, brax, jumanji, navix,
  craftax; each an optional extra), or `package.module:function`, a user's factory
  returning a gymnax `(env, env_params)`.
`check_env_id` decides this without importing torch or JAX (gymnasium's registry imports
gymnasium only), so a typo costs a fraction of a second; whether the env's spaces can be
trained is decided when the env is built (gym_vec, gymnax_vec), with an error naming env_id.
"""
from __future__ import annotations

import difflib
import importlib.util
import re

from ...spec.errors import bad_type, bad_value, one_line
from .families import FAMILIES, check_family_id

__all__ = ["GYMNAX_IDS", "REQUIRED_MODULES", "check_env_id", "is_factory_id", "missing_modules"]

# The ids gymnax 1.0 registers (`gymnax.registered_envs`; a test keeps the two equal). Read
# from this table rather than from gymnax, which imports JAX.
GYMNAX_IDS = (
    "CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
    "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar", "SpaceInvaders-MinAtar",
    "Catch-bsuite", "DeepSea-bsuite", "MemoryChain-bsuite", "UmbrellaChain-bsuite", "DiscountingChain-bsuite",
    "MNISTBandit-bsuite", "SimpleBandit-bsuite",
    "FourRooms-misc", "MetaMaze-misc", "PointRobot-misc", "BernoulliBandit-misc", "GaussianBandit-misc",
    "Reacher-misc", "Swimmer-misc", "Pong-misc", "FrozenLake-misc",
)

# Top-level modules each pipeline imports; a missing one is reported before training starts.
REQUIRED_MODULES: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "gymnasium"),
    "jax": ("jax", "gymnax", "optax"),
    "mixed": ("torch", "jax", "gymnax"),
}

_FACTORY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_factory_id(env_id: str) -> bool:
    """True for `package.module:function` (a user's env factory), False for a registry id."""
    return isinstance(env_id, str) and bool(_FACTORY.match(env_id))


def check_env_id(backend: str, env_id: str) -> str:
    """How `backend` will build `env_id`: "gymnasium", "gymnax", "factory", or the family of a
    `FAMILY/ID` (jax and mixed: "playground", "brax", ...).

    Cheap: no torch or JAX import (the torch backend's check imports gymnasium for its
    registry). Raises TypeError when env_id is not a str, ValueError naming `env_id`, in one
    line, for an id the backend's registry lacks (with gymnasium's or a close-match hint) or
    a factory whose module cannot be found.
    """
    if backend not in REQUIRED_MODULES:
        raise bad_value("backend", f"one of {sorted(REQUIRED_MODULES)}", repr(backend))
    if not isinstance(env_id, str):
        raise bad_type("env_id", "a str", env_id)
    if ":" in env_id:
        _check_factory(env_id)
        return "factory"
    if backend == "torch":
        if "/" in env_id and env_id.partition("/")[0] in FAMILIES and env_id not in (_gymnasium() or _NoGym).registry:
            raise bad_value("env_id", "a gymnasium id for backend torch", f"{env_id!r}: a JAX simulator's id, "
                            "use --backend jax or mixed")
        _check_gymnasium_id(env_id)
        return "gymnasium"
    if "/" in env_id:
        return check_family_id(env_id)
    if env_id not in GYMNAX_IDS:
        close = difflib.get_close_matches(env_id, GYMNAX_IDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        if not close and _in_gymnasium_registry(env_id):
            hint = f"; {env_id} is a gymnasium id: use --backend torch"
        raise bad_value("env_id", f"a gymnax id for backend {backend} ({', '.join(GYMNAX_IDS[:5])}, Breakout-MinAtar, "
                        "...: gymnax.registered_envs) or package.module:make_env", f"{env_id!r}{hint}")
    return "gymnax"


def _check_factory(env_id: str) -> None:
    if not is_factory_id(env_id):
        raise bad_value("env_id", "package.module:function (a user's env factory)", repr(env_id))
    module = env_id.partition(":")[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing or fails to import
        found = False
    if not found:
        raise bad_value("env_id", "package.module:function with an importable module", f"{env_id!r} "
                        f"(no module named {module!r} on the Python path)")


class _NoGym:
    registry: dict = {}


def _gymnasium():
    try:
        import gymnasium
    except ImportError:
        return None
    return gymnasium


def _in_gymnasium_registry(env_id: str) -> bool:
    gym = _gymnasium()
    return gym is not None and env_id in gym.registry


def _check_gymnasium_id(env_id: str) -> None:
    gym = _gymnasium()
    if gym is None or env_id in gym.registry:
        return  # without gymnasium, the missing module is reported instead (missing_modules)
    try:
        gym.spec(env_id)  # raises with gymnasium's own hint ("Did you mean: `CartPole`?")
    except Exception as error:  # gymnasium's NameNotFound, VersionNotFound, Error
        hint = one_line(str(error))
        if env_id in GYMNAX_IDS:
            hint += f" ({env_id} is a gymnax id: use --backend jax or mixed)"
        raise bad_value("env_id", "an id in gymnasium's registry for backend torch (CartPole-v1, Blackjack-v1, "
                        "Pendulum-v1, ...) or package.module:make_env", f"{env_id!r}: {hint}") from None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked package counts as missing
        return False


def missing_modules(backend: str) -> list[str]:
    """The modules `backend` needs that cannot be found (without importing any of them)."""
    if backend not in REQUIRED_MODULES:
        raise bad_value("backend", f"one of {sorted(REQUIRED_MODULES)}", repr(backend))
    return [name for name in REQUIRED_MODULES[backend] if not _installed(name)]
