"""The `puffer-backend` command: train a PPO pipeline, evaluate a saved run, compare runs.

    puffer-backend [train] [--backend torch|jax|mixed] [--env ID] [--steps N] [--seed S]
                   [--num-envs E] [--out DIR] [--name NAME] [--compile] [--quiet] ...
    puffer-backend eval RUN [--episodes K] [--seed S]
    puffer-backend compare RUN... [--out PNG] [--metric KEY] [--x step|wall_time]

Every argument is checked before torch or JAX is imported; a bad one prints one line on
stderr and exits with status 2. Results go to stdout, progress to stderr.
"""
from __future__ import annotations

import argparse
import dataclasses
import decimal
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from .. import __version__
from ..pipelines import PIPELINES, TrainConfig, load_pipeline
from ..pipelines.envs import REQUIRED_MODULES, SUPPORTED_ENVS, missing_modules

__all__ = ["main", "build_parser", "UsageError"]

PROG = "puffer-backend"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Fields `--set` may not touch: they have their own flags, or are bookkeeping.
_OWN_FLAGS = {"backend": "--backend", "env_id": "--env", "total_steps": "--steps", "seed": "--seed",
              "num_envs": "--num-envs", "out_dir": "--out", "run_name": "--name", "compile": "--compile",
              "target_return": "--target-return", "extra": None}
_ARGUMENT_ERROR = re.compile(r"^[\w.\[\]']+: expected ")  # the spec layer's bad_type/bad_value wording
_POSITIVE_FIELDS = ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "hidden_size")


class UsageError(Exception):
    """A bad argument: reported as one line on stderr with exit status 2, no traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the whole usage block; one line is enough
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text!r}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, received {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `puffer-backend` command (subcommands train, eval, compare)."""
    parser = _Parser(prog=PROG, description="Train, evaluate and compare PPO runs built on puffer_backend. "
                     "With no subcommand, `train` is run.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{train,eval,compare}")

    envs = "; ".join(f"{b}: {', '.join(ids)}" for b, ids in SUPPORTED_ENVS.items())
    train = commands.add_parser("train", help="train PPO and save a run folder",
                                description="Train PPO (CleanRL's CartPole hyperparameters) and save a run "
                                "folder <out>/<name> with config.json, metrics.csv, curve.png and a checkpoint.",
                                epilog=f"Environments per backend -- {envs}.")
    train.add_argument("--backend", choices=tuple(PIPELINES), default="mixed",
                       help="torch: gymnasium envs + torch policy; jax: gymnax, whole loop under jit; "
                       "mixed: gymnax env under jit + torch policy (default: mixed)")
    train.add_argument("--env", default="CartPole-v1", metavar="ID", help="environment id (default: CartPole-v1)")
    train.add_argument("--steps", type=_positive_int, default=TrainConfig.total_steps, metavar="N",
                       help=f"environment steps over all envs; 500k, 1M and 5e5 work too (default: {TrainConfig.total_steps})")
    train.add_argument("--seed", type=_seed, default=0, metavar="S", help="random seed (default: 0)")
    train.add_argument("--num-envs", type=_positive_int, default=TrainConfig.num_envs, metavar="E",
                       help=f"parallel environments (default: {TrainConfig.num_envs})")
    train.add_argument("--out", default="runs", metavar="DIR", help="parent folder of run folders (default: runs)")
    train.add_argument("--name", default=None, metavar="NAME",
                       help="run folder name (default: <backend>-<env>-s<seed>-<timestamp>); an existing "
                       "folder is an error, never overwritten")
    train.add_argument("--target-return", type=_finite_float, default=None, metavar="R",
                       help="stop early once the mean of the 20 latest episodic returns reaches R")
    train.add_argument("--compile", action="store_true", help="torch.compile the torch policy (torch, mixed)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="override any other TrainConfig field, e.g. --set learning_rate=3e-4 (repeatable)")
    shown = train.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="no progress display (the summary line stays)")
    shown.add_argument("--progress", choices=("auto", "bar", "plain"), default="auto",
                       help="auto: a bar on a terminal, plain lines otherwise (default: auto)")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="report a saved run's mean return",
                                   description="Load RUN's checkpoint and report the mean episodic return "
                                   "of its greedy policy.")
    evaluate.add_argument("run", metavar="RUN", help="a run folder written by `train`")
    evaluate.add_argument("--episodes", type=_positive_int, default=20, metavar="K",
                          help="episodes to average (default: 20)")
    evaluate.add_argument("--seed", type=_seed, default=0, metavar="S", help="environment seed (default: 0)")
    evaluate.set_defaults(handler=_eval)

    compare = commands.add_parser("compare", help="overlay several runs' learning curves in one PNG",
                                  description="Overlay the learning curves of several runs in one PNG, "
                                  "one line per run, legend by run name.")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `train`")
    compare.add_argument("--out", default="compare.png", metavar="PNG", help="output image (default: compare.png)")
    compare.add_argument("--metric", default="mean_return", metavar="KEY",
                         help="metrics.csv column to plot (default: mean_return)")
    compare.add_argument("--x", choices=("step", "wall_time"), default="step",
                         help="x axis: environment steps or wall time in seconds (default: step)")
    compare.set_defaults(handler=_compare)
    return parser


def main(argv=None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["train", *argv]  # bare `puffer-backend [options]` trains
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as error:
        print(str(error) if str(error).startswith(PROG) else f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


# --- train -------------------------------------------------------------------------------------

def _check_env(backend: str, env_id: str) -> None:
    """An env id the backend's pipeline cannot train on is a UsageError."""
    if env_id not in SUPPORTED_ENVS[backend]:
        others = [b for b, ids in SUPPORTED_ENVS.items() if env_id in ids]
        hint = f" ({env_id} is available with --backend {'/'.join(others)})" if others else ""
        raise UsageError(f"--env: expected one of {', '.join(SUPPORTED_ENVS[backend])} for backend "
                         f"{backend}, received {env_id!r}{hint}")


def _check_installed(backend: str) -> None:
    """A framework the backend needs and cannot find is a UsageError, decided without importing it."""
    missing = missing_modules(backend)
    if missing:
        raise UsageError(f"backend {backend}: needs {', '.join(REQUIRED_MODULES[backend])}; not installed: "
                         f"{', '.join(missing)} (pip install 'puffer-backend[{_extras(backend)}]')")


def _extras(backend: str) -> str:
    return {"torch": "torch,examples", "jax": "jax,examples"}.get(backend, "torch,jax,examples")


def _load_pipeline(backend: str):
    """The pipeline module; a module that cannot be imported is a UsageError (installation problem)."""
    try:
        return load_pipeline(backend)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == __package__.split(".")[0]:
            raise UsageError(f"backend {backend}: module {error.name} is not available in this "
                             "installation") from None
        raise UsageError(f"backend {backend}: importing its pipeline needs {error.name!r}, which is not "
                         f"installed (pip install 'puffer-backend[{_extras(backend)}]')") from None


def _parse_override(text: str, fields: dict) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep:
        raise UsageError(f"--set: expected KEY=VALUE, received {text!r}")
    if key in _OWN_FLAGS:
        flag = _OWN_FLAGS[key]
        raise UsageError(f"--set: {key} is set with {flag}" if flag else f"--set: {key} cannot be set here")
    if key not in fields:
        settable = sorted(k for k in fields if k not in _OWN_FLAGS)
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


def _config_from_args(args) -> TrainConfig:
    config = TrainConfig(backend=args.backend, env_id=args.env, total_steps=args.steps, seed=args.seed,
                         num_envs=args.num_envs, compile=args.compile, target_return=args.target_return,
                         out_dir=args.out, run_name=args.name)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    updates = dict(_parse_override(text, fields) for text in args.overrides)
    config = dataclasses.replace(config, **updates)
    for key in _POSITIVE_FIELDS:
        if getattr(config, key) <= 0:
            raise UsageError(f"{key}: expected a positive integer, received {getattr(config, key)!r}")
    if config.batch_size % config.num_minibatches:
        raise UsageError(f"num_minibatches: expected a divisor of the batch size num_envs x num_steps = "
                         f"{config.batch_size}, received {config.num_minibatches}")
    for key in ("learning_rate", "gamma", "gae_lambda", "clip_coef", "max_grad_norm"):
        if not getattr(config, key) > 0:
            raise UsageError(f"{key}: expected a positive number, received {getattr(config, key)!r}")
    return config


def _train(args) -> int:
    _check_env(args.backend, args.env)
    config = _config_from_args(args)
    _check_out(config.out_dir, args.name)
    _check_installed(config.backend)
    pipeline = _load_pipeline(config.backend)  # imports torch/JAX: after every cheap check

    from .progress import Progress
    from .runs import RunLogger, is_main_process, write_config

    main_process = is_main_process()
    scratch = None
    if main_process:
        run_dir = _new_run_dir(config, args.name)
        config = dataclasses.replace(config, run_name=run_dir.name)
        write_config(run_dir, config)
    else:  # other torchrun ranks: no files, no display; a private folder in case the pipeline writes
        scratch = run_dir = Path(tempfile.mkdtemp(prefix="puffer-backend-rank"))
    planned, per_update = _planned_steps(config)
    if main_process and config.compile and config.backend == "jax":
        print(f"{PROG}: note: --compile applies to the torch policy (torch, mixed); the jax pipeline is "
              "always jitted", file=sys.stderr)
    if main_process and not args.quiet:
        rounded = f" ({config.total_steps} rounded to whole updates of {per_update})" \
            if planned != config.total_steps else ""
        print(f"{PROG}: training {config.backend} on {config.env_id} for {planned} steps{rounded}, "
              f"seed {config.seed} -> {run_dir}", file=sys.stderr, flush=True)
    progress = Progress(planned, mode="off" if args.quiet else args.progress) if main_process else None

    title = f"{run_dir.name}: {config.backend} PPO on {config.env_id}, seed {config.seed}"
    logger = RunLogger(run_dir, progress=progress, write=main_process, title=title, target=config.target_return)
    finished = False
    try:
        summary = pipeline.train(config, logger)
        finished = True
    except (ValueError, TypeError) as error:
        # A pipeline rejecting its config before any update (e.g. num_envs not a multiple of
        # the device count) is a bad argument; anything later, or worded otherwise, is a bug.
        if logger.records or not _ARGUMENT_ERROR.match(str(error)):
            raise
        logger.close()
        if main_process and set(os.listdir(run_dir)) <= {"config.json"}:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UsageError(f"backend {config.backend}: {error}") from None
    except KeyboardInterrupt:
        logger.close()
        if main_process:
            step = logger.records[-1]["step"] if logger.records else 0
            print(f"{PROG}: interrupted at step {step}; partial run kept in {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if not finished:
            logger.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = dict(summary or {})
    summary.setdefault("wall_time", logger.elapsed)
    if config.target_return is not None:
        summary.setdefault("steps_to_target", _steps_to(logger.records, config.target_return))
    logger.close(summary)
    if main_process:
        if logger.plot_error:
            print(f"{PROG}: note: {logger.plot_error}", file=sys.stderr)
        print(_summary_line(summary, logger, run_dir), flush=True)
    return 0


def _new_run_dir(config: TrainConfig, name: str | None) -> Path:
    from .runs import create_run_dir, default_run_name

    try:
        return create_run_dir(config.out_dir, name or default_run_name(config), unique=name is None)
    except FileExistsError as error:
        raise UsageError(f"--name: {error}") from None
    except OSError as error:
        raise UsageError(f"--out: cannot create a run folder under {config.out_dir!r} ({error.strerror})") from None


def _planned_steps(config: TrainConfig) -> tuple[int, int]:
    """(steps the pipeline will run, steps per update): whole updates only, and under torchrun
    one update is a batch on every rank."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1) if config.backend == "torch" else 1
    per_update = config.batch_size * max(1, world)
    return max(1, config.total_steps // per_update) * per_update, per_update


def _check_out(out_dir: str, name: str | None) -> None:
    """Cheap early checks of --out and --name (the atomic check is create_run_dir's mkdir)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: expected a folder, received {out_dir!r} (an existing file)")
    if name is None:
        return
    from .runs import is_folder_name

    if not is_folder_name(name):
        raise UsageError(f"--name: expected a folder name without path separators, received {name!r}")
    if (out / name).exists():
        raise UsageError(f"--name: run folder {out / name} already exists; choose another --name")


def _summary_line(summary: dict, logger, run_dir) -> str:
    from .progress import format_number

    last = logger.records[-1] if logger.records else {}
    steps = summary.get("steps", last.get("step", 0))
    sps = summary.get("sps", last.get("sps"))
    mean_return = summary.get("mean_return", last.get("mean_return"))
    reached = ""
    if "steps_to_target" in summary:
        first = summary["steps_to_target"]
        reached = f"  target reached at step {int(first)}" if first is not None else "  target not reached"
    return (f"done: steps {int(steps)}  sps {format_number(sps, 0)}  mean_return {format_number(mean_return)}  "
            f"time {float(summary['wall_time']):.1f}s{reached}  run {run_dir}")


def _steps_to(records: list[dict], target: float) -> int | None:
    """The first recorded step whose mean return reached `target` (None if none did)."""
    for row in records:
        if row.get("mean_return", float("nan")) >= target:
            return row["step"]
    return None


# --- eval ----------------------------------------------------------------------------------------

def _run_folder(text: str, needs: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise UsageError(f"RUN: expected a run folder, received {text!r} (no such folder)")
    if not (path / needs).is_file():
        raise UsageError(f"RUN: expected a run folder holding {needs}, received {text!r} (no {needs})")
    return path


def _eval(args) -> int:
    from .runs import CONFIG_FILE, load_config

    run_dir = _run_folder(args.run, CONFIG_FILE)
    try:
        config = load_config(run_dir)
    except (ValueError, TypeError) as error:
        raise UsageError(f"RUN: {error}") from None
    if config.backend not in PIPELINES:
        raise UsageError(f"RUN: expected a config.json with backend one of {sorted(PIPELINES)}, "
                         f"received {config.backend!r}")
    _check_installed(config.backend)
    pipeline = _load_pipeline(config.backend)
    try:
        mean_return = float(pipeline.evaluate(run_dir, episodes=args.episodes, seed=args.seed))
    except FileNotFoundError as error:
        raise UsageError(f"RUN: {run_dir} has no checkpoint to evaluate ({error.filename or error})") from None
    print(f"mean_return {mean_return:.2f}  episodes {args.episodes}  run {run_dir}", flush=True)
    return 0


# --- compare -------------------------------------------------------------------------------------

def _compare(args) -> int:
    import importlib.util

    from .runs import METRICS_FILE, read_metrics

    folders = [_run_folder(text, METRICS_FILE) for text in args.runs]
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("compare: needs matplotlib, which is not installed (pip install matplotlib)")
    names = _run_names(folders)
    runs = []
    for name, folder in zip(names, folders):
        columns = read_metrics(folder)
        for key in (args.metric, args.x):
            if key not in columns:
                raise UsageError(f"--metric: expected a column of {folder / METRICS_FILE} "
                                 f"({', '.join(columns)}), received {key!r}")
        runs.append((name, columns))
    from .plots import plot_compare

    try:
        path = plot_compare(runs, args.out, metric=args.metric, x=args.x)
    except OSError as error:
        raise UsageError(f"--out: cannot write {args.out!r} ({error.strerror})") from None
    print(f"wrote {path} ({len(runs)} runs, {args.metric} by {args.x})", flush=True)
    return 0


def _run_names(folders: list[Path]) -> list[str]:
    """Legend labels: the folder names, with the parent added where two names collide."""
    names = [folder.resolve().name for folder in folders]
    return [f"{folder.resolve().parent.name}/{name}" if names.count(name) > 1 else name
            for folder, name in zip(folders, names)]


if __name__ == "__main__":
    sys.exit(main())
