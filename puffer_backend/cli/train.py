"""`puffer-backend train`: check every argument, create (or resume) the run folder, run a pipeline, report.

Settings are layered (pipelines.config_file): TrainConfig's defaults < the env's preset <
`--config FILE` < the flags and `--set`. `--resume RUN` starts from RUN's config.json
instead, and only what a resumed run may change (pipelines.resume) may differ.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ..pipelines.checkpoint import CHECKPOINT_FILE, Checkpoint, read_checkpoint_info
from ..pipelines.config import CONFIG_FILE, TrainConfig, load_config, write_config
from ..pipelines.config_file import Setting, file_settings, layered_config, relabel_error
from ..pipelines.episodes import first_step_reaching
from ..pipelines.presets import CONTINUOUS_CONTROL, env_target, preset_name
from ..pipelines.resume import check_resumable
from .backends import check_env, check_installed, pipeline_module
from .errors import EXIT_INTERRUPTED, PROG, UsageError
from .parser import FIELD_FLAGS, FLAG_DESTS, parse_override

__all__ = ["run", "config_from_args"]

_ARGUMENT_ERROR = re.compile(r"^[\w.\[\]']+: expected ")  # the spec layer's bad_type/bad_value wording
_CONFIG_ERROR = re.compile(r"^config\.(\w+): ")


def config_from_args(args, base: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig that `args` describe: `base` (default: TrainConfig() and the env's
    preset), then `--config`, then the flags and `--set`; validated by TrainConfig.validate
    (the only validation), whose error names the file and key, the flag or the `--set` that
    set the field."""
    settings = _settings(args)
    try:
        return layered_config(settings, base=base, preset=base is None)
    except ValueError as error:
        raise UsageError(_flag_message(str(error))) from None


def _settings(args) -> list[Setting]:
    settings = []
    if getattr(args, "config", None):
        try:
            settings += file_settings(args.config)
        except FileNotFoundError:
            raise UsageError(f"--config: expected a TOML file, received {args.config!r} (no such file)") from None
        except IsADirectoryError:
            raise UsageError(f"--config: expected a TOML file, received {args.config!r} (a folder)") from None
        except ValueError as error:
            raise UsageError(str(error)) from None
    for field, dest in FLAG_DESTS.items():
        value = getattr(args, dest, None)
        if value is not None:
            settings.append(Setting(FIELD_FLAGS[field], field, value))
    if getattr(args, "no_early_stop", False):
        settings.append(Setting("--no-early-stop", "target_return", None))
    for text in args.overrides:
        key, value = parse_override(text)
        settings.append(Setting(f"--set {key}", key, value))
    return settings


def _flag_message(message: str) -> str:
    """A `config.<field>: ...` message that no setting claimed, reworded with the field's flag."""
    match = _CONFIG_ERROR.match(message)
    if match is None:
        return message
    field = match.group(1)
    return f"{FIELD_FLAGS.get(field) or f'--set {field}'}: {message[match.end():]}"


def _resumed_config(args) -> tuple[TrainConfig, Path, Checkpoint]:
    """(config, run folder, checkpoint header) of `--resume RUN`: RUN's config with the flags,
    --config and --set applied, checked to be resumable. UsageError otherwise."""
    for flag, value in (("--name", args.name), ("--out", args.out)):
        if value is not None:
            raise UsageError(f"{flag}: expected no {flag} with --resume (the run continues in its own folder), "
                             f"received {value!r}")
    from .runs import require_run_folder

    run_dir = require_run_folder(args.resume, CONFIG_FILE, label="--resume")
    try:
        saved = load_config(run_dir)
        info = read_checkpoint_info(run_dir)
    except FileNotFoundError:
        raise UsageError(f"--resume: expected a run folder holding {CHECKPOINT_FILE}, received {args.resume!r} "
                         "without it (it stopped before its first checkpoint: start it again)") from None
    except (ValueError, TypeError, KeyError) as error:
        raise UsageError(f"--resume: {error}") from None
    where = Setting("--resume", "out_dir", str(run_dir.parent)), Setting("--resume", "run_name", run_dir.name)
    args_settings = _settings(args) + list(where)
    try:
        config = layered_config(args_settings, base=saved, preset=False)
        checkpoint = Checkpoint(info.get("backend"), int(info["step"]), int(info["update"]))
        check_resumable(saved, config, checkpoint)
    except ValueError as error:
        raise UsageError(_flag_message(str(relabel_error(error, args_settings)))) from None
    return config, run_dir, checkpoint


def run(args) -> int:
    resume = args.resume is not None
    if resume:
        config, run_dir, checkpoint = _resumed_config(args)
    else:
        config = config_from_args(args)
        checkpoint = None
    env_labels = [setting.label for setting in _settings(args) if setting.field == "env_id"] if not resume else []
    check_env(config.backend, config.env_id, env_labels[-1] if env_labels else "--env")
    if not resume:
        _check_out(config.out_dir, config.run_name)
    if config.logger == "tensorboard":
        from .tensorboard_log import tensorboard_missing

        if tensorboard_missing():
            raise UsageError("--logger tensorboard: needs the tensorboard package, which is not installed "
                             "(pip install 'puffer-backend[tensorboard]')")
    check_installed(config.backend)
    if resume and _world_size(config) > 1:
        raise UsageError("--resume: expected a single process, received a torchrun job "
                         f"(WORLD_SIZE={_world_size(config)}); resuming under torchrun is not supported")
    pipeline = pipeline_module(config.backend)  # imports torch/JAX: after every cheap check
    _check_pipeline_env(pipeline, config)

    from .progress import Progress
    from .runs import RunLogger, is_main_process

    main_process = is_main_process()
    scratch = None
    if resume:
        pass  # the run's folder; config.json is rewritten with the checkpoints
    elif main_process:
        run_dir = _new_run_dir(config, config.run_name)
        config = dataclasses.replace(config, run_name=run_dir.name)
        write_config(run_dir, config)
    else:  # other torchrun ranks: no files, no display; a private folder in case the pipeline writes
        scratch = run_dir = Path(tempfile.mkdtemp(prefix="puffer-backend-rank"))
    planned, per_update = _planned_steps(config)
    start_step = checkpoint.step if resume else 0
    if main_process and config.compile and config.backend == "jax":
        print(f"{PROG}: note: --compile applies to the torch policy (torch, mixed); the jax pipeline is "
              "always jitted", file=sys.stderr)
    if main_process and not args.quiet:
        rounded = f" ({config.total_steps} rounded to whole updates of {per_update})" \
            if planned != config.total_steps else ""
        if resume:
            print(f"{PROG}: resuming {config.backend} on {config.env_id} at step {start_step} of {planned}{rounded}, "
                  f"seed {config.seed} -> {run_dir}", file=sys.stderr, flush=True)
        else:
            print(f"{PROG}: training {config.backend} on {config.env_id} for {planned} steps{rounded}, "
                  f"seed {config.seed} -> {run_dir}", file=sys.stderr, flush=True)
        for line in _setting_notes(config, args):
            print(f"{PROG}: {line}", file=sys.stderr, flush=True)
    progress = Progress(planned, mode="off" if args.quiet else args.progress,
                        initial_step=start_step) if main_process else None

    title = f"{run_dir.name}: {config.backend} PPO on {config.env_id}, seed {config.seed}"
    logger = RunLogger(run_dir, progress=progress, write=main_process, title=title, target=config.target_return,
                       tensorboard=config.logger == "tensorboard", resume_step=start_step if resume else None)
    finished, rows_before = False, len(logger.records)
    try:
        summary = pipeline.train(config, logger, resume=True) if resume else pipeline.train(config, logger)
        finished = True
    except (ValueError, TypeError) as error:
        # A pipeline rejecting its config before any update (e.g. num_envs not a multiple of
        # the device count) is a bad argument; anything later, or worded otherwise, is a bug.
        if len(logger.records) > rows_before or not _ARGUMENT_ERROR.match(str(error)):
            raise
        logger.close()
        if main_process and not resume and set(os.listdir(run_dir)) <= {"config.json"}:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UsageError(f"backend {config.backend}: {error}") from None
    except KeyboardInterrupt:
        # The pipelines finish the update under way, save its checkpoint, then re-raise.
        logger.close()
        if main_process:
            step = logger.records[-1]["step"] if logger.records else 0
            saved = (run_dir / CHECKPOINT_FILE).is_file()
            kept = (f"checkpoint saved; evaluate it with `{PROG} eval {run_dir}` or continue it with "
                    f"`{PROG} train --resume {run_dir}`" if saved else "no checkpoint")
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


def _world_size(config: TrainConfig) -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1)) if config.backend == "torch" else 1


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
        source = (f"{config.env_id}'s reward_threshold" if config.target_return == env_target(config.env_id)
                  else "the target_return setting")
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
    world = _world_size(config)
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
