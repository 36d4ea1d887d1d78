"""`puffer-backend train`: check every argument, create the run folder, run a pipeline, report."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ..pipelines.checkpoint import CHECKPOINT_FILE
from ..pipelines.config import TrainConfig, write_config
from ..pipelines.episodes import first_step_reaching
from ..pipelines.presets import CONTINUOUS_CONTROL, preset_name
from .backends import check_env, check_installed, pipeline_module
from .errors import EXIT_INTERRUPTED, PROG, UsageError
from .parser import FIELD_FLAGS, parse_override

__all__ = ["run", "config_from_args"]

_ARGUMENT_ERROR = re.compile(r"^[\w.\[\]']+: expected ")  # the spec layer's bad_type/bad_value wording
_CONFIG_ERROR = re.compile(r"^config\.(\w+): ")


def explicit_fields(args) -> dict:
    """The TrainConfig fields the user set on the command line: flags that were given and
    every `--set` (flags left at None are not set, so the env's preset decides them)."""
    fields = {"seed": args.seed, "compile": args.compile, "out_dir": args.out, "run_name": args.name}
    for field, value in (("total_steps", args.steps), ("num_envs", args.num_envs), ("vec", args.vec),
                         ("target_return", args.target_return)):
        if value is not None:
            fields[field] = value
    if args.no_early_stop:
        fields["target_return"] = None
    fields.update(parse_override(text) for text in args.overrides)
    return fields


def config_from_args(args) -> TrainConfig:
    """The TrainConfig that `args` describe: TrainConfig's defaults < the env's preset <
    what the user set (`TrainConfig.for_env`), validated by `TrainConfig.validate` (the only
    validation); its error is reported with the flag that set the field."""
    try:
        config = TrainConfig.for_env(args.env, args.backend, **explicit_fields(args))
    except ValueError as error:
        message = str(error)
        match = _CONFIG_ERROR.match(message)
        if match is None:
            raise
        field = match.group(1)
        flag = FIELD_FLAGS.get(field) or f"--set {field}"
        raise UsageError(f"{flag}: {message[match.end():]}") from None
    return config


def run(args) -> int:
    check_env(args.backend, args.env)
    config = config_from_args(args)
    _check_out(config.out_dir, args.name)
    check_installed(config.backend)
    pipeline = pipeline_module(config.backend)  # imports torch/JAX: after every cheap check
    _check_pipeline_env(pipeline, config)

    from .progress import Progress
    from .runs import RunLogger, is_main_process

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
        for line in _setting_notes(config, args):
            print(f"{PROG}: {line}", file=sys.stderr, flush=True)
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
        # The pipelines finish the update under way, save its checkpoint, then re-raise.
        logger.close()
        if main_process:
            step = logger.records[-1]["step"] if logger.records else 0
            saved = (run_dir / CHECKPOINT_FILE).is_file()
            kept = (f"checkpoint saved; evaluate it with `{PROG} eval {run_dir}`" if saved
                    else "no checkpoint")
            print(f"{PROG}: interrupted at step {step}; partial run kept in {run_dir} ({kept})", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if not finished:
            logger.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = dict(summary or {})
    summary.setdefault("wall_time", logger.elapsed)
    if config.target_return is not None:
        summary.setdefault("steps_to_target", first_step_reaching(logger.records, config.target_return))
    logger.close(summary)
    if main_process:
        if logger.plot_error:
            print(f"{PROG}: note: {logger.plot_error}", file=sys.stderr)
        print(_summary_line(summary, logger, run_dir), flush=True)
    return 0


def _check_pipeline_env(pipeline, config: TrainConfig) -> None:
    """The pipeline builds the env and says whether it can train it, before the run folder
    and the start line exist: a refusal is one line (`--env: ...`, or the `--set` that asked
    for what the env cannot do)."""
    check = getattr(pipeline, "check_env", None)
    if check is None:
        return
    try:
        check(config)
    except (TypeError, ValueError) as error:
        message = str(error)
        if message.startswith("env_id: "):
            raise UsageError("--env: " + message[len("env_id: "):]) from None
        match = _CONFIG_ERROR.match(message)
        if match is not None:
            flag = FIELD_FLAGS.get(match.group(1)) or f"--set {match.group(1)}"
            raise UsageError(f"{flag}: {message[match.end():]}") from None
        raise


def _setting_notes(config: TrainConfig, args) -> list[str]:
    """What the env's preset chose and when the run stops, for the start lines."""
    notes = []
    name = preset_name(config.env_id)
    if name:
        shown = ", ".join(f"{k}={getattr(config, k)}" for k in CONTINUOUS_CONTROL if k != "total_steps")
        notes.append(f"{name} preset for {config.env_id} (CleanRL's ppo_continuous_action): {shown}; "
                     "--set KEY=VALUE changes any of them")
    if config.target_return is not None:
        source = (f"{config.env_id}'s reward_threshold" if args.target_return is None else "--target-return")
        notes.append(f"stops once the mean return of the 20 latest episodes reaches {config.target_return:g} "
                     f"({source}; --no-early-stop runs all steps)")
    return notes


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
    world = max(1, world)
    return config.num_updates_for(world) * config.steps_per_update(world), config.steps_per_update(world)


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
