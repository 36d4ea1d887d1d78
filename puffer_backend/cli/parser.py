"""The argument parser of `puffer-backend`, and the reader of `--set KEY=VALUE`.

Values are checked for their form here (a positive whole number, a finite float); whether a
configuration makes sense is `TrainConfig.validate`'s decision alone (see train.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import decimal
import json
import math
import textwrap

from .. import __version__
from ..pipelines.config import LOGGERS, VEC_MODES, TrainConfig, field_docs, logger_names
from ..pipelines import PIPELINES
from .errors import PROG, UsageError

__all__ = ["build_parser", "parse_override", "config_keys_help", "FIELD_FLAGS", "FLAG_DESTS"]

# TrainConfig fields that have their own flag (`--set` refuses them), and bookkeeping (None).
FIELD_FLAGS = {"backend": "--backend", "env_id": "--env", "total_steps": "--steps", "seed": "--seed",
               "num_envs": "--num-envs", "out_dir": "--out", "run_name": "--name", "compile": "--compile",
               "compile_cache": "--compile-cache", "target_return": "--target-return", "vec": "--vec",
               "save_every": "--save-every", "logger": "--logger", "device": "--device", "policy": "--policy",
               "extra": None, "policy_kwargs": None}
# The `args` attribute of each flag that sets a field.
FLAG_DESTS = {"backend": "backend", "env_id": "env", "total_steps": "steps", "seed": "seed", "num_envs": "num_envs",
              "out_dir": "out", "run_name": "name", "compile": "compile", "compile_cache": "compile_cache",
              "target_return": "target_return", "vec": "vec", "save_every": "save_every", "logger": "logger",
              "device": "device", "policy": "policy"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the whole usage block; one line is enough
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def positive_int(text: str) -> int:
    """A positive whole number; `_` separators, exponents and k/M suffixes are accepted
    (500_000, 5e5, 500k, 0.5M), as long as the value is whole."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        value = decimal.Decimal(digits) * scale
    except decimal.InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return int(value)


def logger_list(text: str) -> str:
    """`--logger`'s value: logger names (LOGGERS) joined by commas."""
    try:
        return ",".join(logger_names(text, "--logger"))
    except ValueError:
        choices = ", ".join(LOGGERS)
        raise argparse.ArgumentTypeError(f"expected one of {choices}, or several joined by commas, "
                                         f"received {text!r}") from None


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text!r}")
    return value


def seed_list(text: str) -> tuple[int, ...]:
    """`--seeds`' value: a range `0-15`, a list `0,3,7`, or both `0-3,8` (pipelines.seed_stats)."""
    from ..pipelines.seed_stats import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--seeds: ")) from None


def non_negative_int(text: str) -> int:
    """A whole number >= 0, in the forms of `positive_int` (0 allowed)."""
    if text.strip() == "0":
        return 0
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text!r}") from None


def config_keys_help(width: int = 88) -> str:
    """Every TrainConfig key with its default as a TOML line and its meaning (the field's
    docstring), for `train --help`: what a --config file and --set accept."""
    lines = ["configuration keys (a --config TOML file, or --set KEY=VALUE where no flag is named):"]
    for field in dataclasses.fields(TrainConfig):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        flag = FIELD_FLAGS.get(field.name)
        owner = f"  [{flag}]" if flag else ("  [config file only: a table]" if field.name in FIELD_FLAGS else "")
        lines.append(f"  {field.name} = {_toml_value(default)}{owner}")
        meaning = field_docs().get(field.name, "")
        if meaning:
            lines.extend(textwrap.wrap(meaning, width, initial_indent=" " * 6, subsequent_indent=" " * 6,
                                       break_on_hyphens=False))
    return "\n".join(lines)


def _toml_value(value) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, received {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `puffer-backend` command (subcommands train, eval, compare);
    the chosen subcommand is in `args.command`."""
    parser = _Parser(prog=PROG, description="Train, evaluate and compare PPO runs built on puffer_backend. "
                     "With no subcommand, `train` is run.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{train,eval,compare}")

    train = commands.add_parser("train", help="train PPO and save a run folder",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description=textwrap.fill(
                                    "Train PPO (CleanRL's hyperparameters, or the env's preset) and save a run "
                                    "folder <out>/<name> with config.json, metrics.csv, curve.png and a checkpoint. "
                                    "Settings come from TrainConfig's defaults, then the env's preset, then a "
                                    "--config file, then the flags and --set (each wins over the ones before).", 88),
                                epilog=textwrap.fill(
                                    "Environments: --backend torch takes any gymnasium id (CartPole-v1, "
                                    "Blackjack-v1, Pendulum-v1, ...); jax and mixed any gymnax id (CartPole-v1, "
                                    "Acrobot-v1, Pendulum-v1, Breakout-MinAtar, ...) and FAMILY/ID of a JAX simulator "
                                    "(playground/CartpoleBalance, brax/ant, jumanji/Snake-v1, "
                                    "navix/Navix-Empty-5x5-v0, craftax/Craftax-Symbolic-v1; pip install "
                                    "'puffer-backend[FAMILY]'); every backend takes "
                                    "package.module:function, your own env factory. Presets: Box-action envs "
                                    "(Pendulum, MuJoCo, ...) train with CleanRL's continuous-control settings; "
                                    "envs with a reward_threshold in gymnasium's registry stop once it is "
                                    "reached.", 88) + "\n\n" + config_keys_help())
    # Field flags default to None: a flag that was not given leaves the preset's or the config file's value.
    train.add_argument("--backend", choices=tuple(PIPELINES), default=None,
                       help="torch: gymnasium envs + torch policy; jax: gymnax, whole loop under jit; "
                       f"mixed: gymnax env under jit + torch policy (default: {TrainConfig.backend})")
    train.add_argument("--env", default=None, metavar="ID",
                       help="a gymnasium id (torch), a gymnax id or FAMILY/ID of a JAX simulator (jax, mixed: "
                       "brax/ant, jumanji/Snake-v1, ...), or package.module:function "
                       f"(default: {TrainConfig.env_id})")
    train.add_argument("--steps", type=positive_int, default=None, metavar="N",
                       help="environment steps over all envs, the cap when a target stops the run earlier; "
                       f"500k, 1M and 5e5 work too (default: {TrainConfig.total_steps}, 1M for continuous control)")
    train.add_argument("--seed", type=seed, default=None, metavar="S",
                       help=f"random seed (default: {TrainConfig.seed})")
    train.add_argument("--seeds", type=seed_list, default=None, metavar="LIST",
                       help="train once per seed, e.g. 0-15 or 0,3,7, into a group folder <out>/<name> of run "
                       "folders s<seed> and group.json (mean, 95%% bootstrap CI and IQM of the final returns); "
                       "jax trains all seeds in one vmapped program, torch and mixed one after another")
    train.add_argument("--num-envs", type=positive_int, default=None, metavar="E",
                       help=f"parallel environments (default: {TrainConfig.num_envs}, 1 for continuous control)")
    train.add_argument("--vec", choices=VEC_MODES, default=None,
                       help="torch: step the envs in this process (sync) or one process each (async: for slow "
                       f"envs) (default: {TrainConfig.vec})")
    train.add_argument("--out", default=None, metavar="DIR",
                       help=f"parent folder of run folders (default: {TrainConfig.out_dir})")
    train.add_argument("--name", default=None, metavar="NAME",
                       help="run folder name (default: <backend>-<env>-s<seed>-<timestamp>); an existing "
                       "folder is an error, never overwritten")
    target = train.add_mutually_exclusive_group()
    target.add_argument("--target-return", type=finite_float, default=None, metavar="R",
                        help="stop early once the mean of the 20 latest episodic returns reaches R (after at "
                        "least 20 episodes) (default: the env's reward_threshold in gymnasium's registry: "
                        "475 for CartPole-v1; none for envs without one)")
    target.add_argument("--no-early-stop", action="store_true",
                        help="run all --steps, even once the env's target return is reached")
    train.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the torch policy step and the update's loss with its backward "
                       "(torch, mixed; compile time is reported apart from sps; default: off)")
    train.add_argument("--device", default=None, metavar="DEVICE",
                       help="where the torch policy and the learner run (torch, mixed): auto, cpu, cuda or "
                       "cuda:N; auto is cuda when torch (mixed: and JAX) sees a GPU, else cpu; the jax backend "
                       f"runs on JAX's default backend and takes auto only (default: {TrainConfig.device})")
    train.add_argument("--compile-cache", action=argparse.BooleanOptionalAction, default=None,
                       help="keep compiled JAX programs (jax, mixed) in the user's cache folder, so the next "
                       "run with the same shapes skips the compile (default: on; PUFFER_BACKEND_CACHE_DIR moves "
                       "it; a folder set in JAX's config is used instead)")
    train.add_argument("--config", default=None, metavar="FILE",
                       help="a TOML file of TrainConfig keys (listed below); flags and --set win over it")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="override any other TrainConfig key, e.g. --set learning_rate=3e-4, or a key of "
                       "the extra table, e.g. --set extra.chunk_updates=8 (repeatable)")
    train.add_argument("--save-every", type=non_negative_int, default=None, metavar="N",
                       help="also save the checkpoint every N updates (default: 0, at the end and on Ctrl-C only)")
    train.add_argument("--resume", default=None, metavar="RUN",
                       help="continue the run folder RUN from its checkpoint (raise --steps to extend a finished "
                       "run); the backend, env, sizes and hyperparameters stay the run's")
    train.add_argument("--policy", default=None, metavar="package.module:Class",
                       help="your policy instead of the built-in agent: a torch nn.Module (torch, mixed) or a "
                       "flax module (jax); --set policy.KEY=VALUE passes constructor keyword arguments; eval and "
                       "--resume rebuild it from config.json")
    train.add_argument("--logger", type=logger_list, action="append", default=None, metavar="NAME[,NAME]",
                       help="csv: metrics.csv (always written); tensorboard: TensorBoard event files beside it "
                       "as well; wandb: a Weights & Biases run as well; several joined by commas or repeated: "
                       f"--logger tensorboard,wandb (default: {TrainConfig.logger})")
    shown = train.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="no progress display (the summary line stays)")
    shown.add_argument("--progress", choices=("auto", "bar", "plain"), default="auto",
                       help="auto: a bar on a terminal, plain lines otherwise (default: auto)")

    evaluate = commands.add_parser("eval", help="report a saved run's mean return",
                                   description="Load RUN's checkpoint and report the mean episodic return "
                                   "of its greedy policy.")
    evaluate.add_argument("run", metavar="RUN", help="a run folder written by `train`")
    evaluate.add_argument("--episodes", type=positive_int, default=20, metavar="K",
                          help="episodes to average (default: 20)")
    evaluate.add_argument("--seed", type=seed, default=0, metavar="S", help="environment seed (default: 0)")
    evaluate.add_argument("--video", default=None, metavar="PATH",
                          help="also play the episodes one after another and write them as a video "
                          "(.mp4, or .gif)")

    compare = commands.add_parser("compare", help="overlay several runs' learning curves in one image",
                                  description="Overlay the learning curves of several runs in one image, "
                                  "one line per run, legend by run name; seeds of one config (train --seeds, or "
                                  "runs whose configs differ in their seed only) as their mean and 95% bootstrap "
                                  "band, legend by the settings that differ.")
    compare.add_argument("runs", nargs="+", metavar="RUN",
                         help="run folders written by `train`, or group folders written by `train --seeds`")
    compare.add_argument("--out", default="compare.png", metavar="IMAGE",
                         help="output image, its format named by its suffix: .png, .jpg, .svg, .pdf, .webp "
                              "(default: compare.png)")
    compare.add_argument("--metric", default="mean_return", metavar="KEY",
                         help="metrics.csv column to plot (default: mean_return)")
    compare.add_argument("--x", choices=("step", "wall_time"), default="step",
                         help="x axis: environment steps or wall time in seconds (default: step)")
    return parser


def parse_override(text: str) -> tuple[str, object]:
    """`KEY=VALUE` of `--set` as (field, value of the field's type); UsageError for an unknown
    or flag-owned key and for a value that does not parse. Ranges are checked by validate().
    `extra.NAME=VALUE` sets one key of the `extra` table: ("extra", {NAME: value}), the value
    read as a TOML value (8, 0.5, true, "text", [1, 2]) or else kept as the text itself; the
    extra tables of the layers are merged key by key (pipelines.config_file)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    key, sep, raw = text.partition("=")
    if not sep:
        raise UsageError(f"--set: expected KEY=VALUE, received {text!r}")
    field, dot, name = key.strip().partition(".")
    if field.replace("-", "_") in ("extra", "policy") and dot:
        table = field.replace("-", "_")
        if not name.strip():
            raise UsageError(f"--set: expected {table}.NAME=VALUE, received {text!r}")
        return ("extra" if table == "extra" else "policy_kwargs"), {name.strip(): _extra_value(raw.strip())}
    key = key.strip().replace("-", "_")
    if key in FIELD_FLAGS:
        flag = FIELD_FLAGS[key]
        raise UsageError(f"--set: {key} is set with {flag}" if flag else f"--set: {key} cannot be set here")
    if key not in fields:
        settable = sorted(k for k in fields if k not in FIELD_FLAGS)
        raise UsageError(f"--set: expected a key among {', '.join(settable)}, received {key!r}")
    kind = str(fields[key].type).replace(" ", "")
    raw = raw.strip()
    try:
        if kind == "bool":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return key, lowered in ("true", "1", "yes")
        if kind == "int":
            return key, int(raw.replace("_", ""))
        if kind in ("float", "float|None"):
            if kind.endswith("None") and raw.lower() == "none":
                return key, None
            value = float(raw)
            if value != value or abs(value) == float("inf"):
                raise ValueError
            return key, value
        return key, raw
    except ValueError:
        raise UsageError(f"--set {key}: expected a {kind.replace('|', ' or ')} value, received {raw!r}") from None


def _extra_value(raw: str):
    """A TOML value (`8`, `0.5`, `true`, `"text"`, `[1, 2]`), else the text as it is."""
    from ..pipelines.config_file import tomllib

    if tomllib is not None:
        try:
            parsed = tomllib.loads(f"value = {raw}")
        except tomllib.TOMLDecodeError:
            return raw
        if list(parsed) == ["value"]:
            return parsed["value"]
    return raw
