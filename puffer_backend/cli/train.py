"""`puffer-backend train`: check every argument, create (or resume) the run folder, run a pipeline, report.

Settings are layered (pipelines.config_file): TrainConfig's defaults < the env's preset <
`--config FILE` < the flags and `--set`. `--resume RUN` starts from RUN's config.json
instead, and only what a resumed run may change (pipelines.resume) may differ.

Whose mistake an error is, is decided by its type: a `BadArgumentError` (spec.errors) that a
pipeline raises before it records its first row refuses the user's settings (one line, exit
status 2, naming the flag that sets the field it names); any other exception, or one raised
later, is a bug and keeps its traceback.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..pipelines.checkpoint import CHECKPOINT_FILE, Checkpoint, read_checkpoint_info
from ..pipelines.config import CONFIG_FILE, TrainConfig, config_field, load_config, logger_names, write_config
from ..pipelines.config_file import Setting, file_settings, layered_config, relabel_error
from ..pipelines.named_policy import import_policy
from ..pipelines.presets import CONTINUOUS_CONTROL, env_target, preset_name
from ..pipelines.resume import check_resumable
from ..pipelines.run_folder import LOCK_FILE, lock_run_folder
from ..pipelines.training_run import NonFiniteError
from ..spec.errors import BadArgumentError
from .backends import check_env, check_installed, pipeline_module
from .errors import EXIT_INTERRUPTED, PROG, RunFailed, UsageError
from .parser import FIELD_FLAGS, FLAG_DESTS, parse_override
from .progress import Progress
from .runs import RunLogger, create_run_dir, default_run_name, is_folder_name, is_main_process, require_run_folder

__all__ = ["run", "config_from_args"]


def config_from_args(args, base: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig that `args` describe: `base` (default: TrainConfig() and the env's
    preset), then `--config`, then the flags and `--set`; validated by TrainConfig.validate
    (the only validation), whose error names the file and key, the flag or the `--set` that
    set the field."""
    settings = _settings(args)
    try:
        return layered_config(settings, base=base, preset=base is None)
    except ValueError as error:
        raise UsageError(str(_named_by_flag(error))) from None


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
        if field == "logger" and value is not None:  # repeated --logger flags add up
            value = ",".join(logger_names(",".join(value)))
        if value is not None:
            settings.append(Setting(FIELD_FLAGS[field], field, value))
    if getattr(args, "no_early_stop", False):
        settings.append(Setting("--no-early-stop", "target_return", None))
    for text in args.overrides:
        key, value = parse_override(text)
        table = {"extra": "extra", "policy_kwargs": "policy"}.get(key)
        label = f"--set {table}.{next(iter(value))}" if table else f"--set {key}"
        settings.append(Setting(label, key, value))
    return settings


def _flag(field: str) -> str:
    """The flag that sets a TrainConfig field: its own, or `--set <field>`."""
    tables = {"extra": "--set extra.NAME", "policy_kwargs": "--set policy.KEY"}
    return FIELD_FLAGS.get(field) or tables.get(field) or f"--set {field}"


def _named_by_flag(error: ValueError) -> ValueError:
    """A `config.<field>` error that no setting claimed, renamed with the field's flag."""
    field = config_field(error)
    return error if field is None else error.renamed(_flag(field))


def _resumed_config(args, held: contextlib.ExitStack) -> tuple[TrainConfig, Path, Checkpoint]:
    """(config, run folder, checkpoint header) of `--resume RUN`: RUN's config with the flags,
    --config and --set applied, checked to be resumable; RUN locked before it is read (held
    until `held` closes). UsageError otherwise."""
    for flag, value in (("--name", args.name), ("--out", args.out)):
        if value is not None:
            raise UsageError(f"{flag}: expected no {flag} with --resume (the run continues in its own folder), "
                             f"received {value!r}")
    run_dir = require_run_folder(args.resume, CONFIG_FILE, label="--resume")
    _lock(run_dir, held, "--resume")
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
        raise UsageError(str(_named_by_flag(relabel_error(error, args_settings)))) from None
    return config, run_dir, checkpoint


def run(args) -> int:
    if getattr(args, "seeds", None) is not None:  # a group of runs, one per seed
        from . import seeds

        return seeds.run(args, args.seeds, _check_before_import, _check_pipeline_env, _usage_error)
    with contextlib.ExitStack() as held:  # the run folder's lock, from the first look at it to the end
        return _run(args, held)


def _run(args, held: contextlib.ExitStack) -> int:
    config, run_dir, checkpoint = _configure(args, held)
    _check_before_import(args, config, resumed=checkpoint is not None)
    pipeline = pipeline_module(config.backend)  # imports torch/JAX: after every cheap check
    device = _check_pipeline_env(pipeline, config)
    main_process = is_main_process()
    config, run_dir, scratch = _run_folder(config, run_dir, main_process, held)
    if main_process:
        _print_start_lines(args, config, run_dir, checkpoint, device)
    logger = _run_logger(args, config, run_dir, checkpoint, main_process)
    summary = _train(pipeline, config, logger, resumed=checkpoint is not None, main_process=main_process,
                     scratch=scratch)
    if summary is None:  # Ctrl-C: the partial run is kept, and was reported
        return EXIT_INTERRUPTED
    _report_summary(summary, logger, run_dir, main_process)
    return 0


def _configure(args, held: contextlib.ExitStack) -> tuple[TrainConfig, Path | None, Checkpoint | None]:
    """(config, run folder, checkpoint header) of `--resume RUN`, whose folder `held` then
    locks; (config, None, None) of a new run."""
    if args.resume is not None:
        return _resumed_config(args, held)
    return config_from_args(args), None, None


def _lock(run_dir: Path, held: contextlib.ExitStack, flag: str) -> None:
    """Lock the run folder until `held` closes (main process only: other torchrun ranks write
    nothing there); a folder another process trains in is a UsageError naming `flag`."""
    if not is_main_process():
        return
    try:
        held.enter_context(lock_run_folder(run_dir))
    except BadArgumentError as error:
        raise UsageError(str(error.renamed(flag))) from None


def _check_before_import(args, config: TrainConfig, *, resumed: bool) -> None:
    """Every check that needs no framework: the env id (named by the setting that chose it),
    --out and --name, the tensorboard package, the backend's framework, no resume under torchrun."""
    labels = [] if resumed else [setting.label for setting in _settings(args) if setting.field == "env_id"]
    check_env(config.backend, config.env_id, labels[-1] if labels else "--env")
    if not resumed:
        _check_out(config.out_dir, config.run_name)
    if "tensorboard" in config.loggers:
        from .tensorboard_log import tensorboard_missing

        if tensorboard_missing():
            raise UsageError("--logger tensorboard: needs the tensorboard package, which is not installed "
                             "(pip install 'puffer-backend[tensorboard]')")
    if "wandb" in config.loggers:
        from .wandb_log import wandb_missing

        if wandb_missing():
            raise UsageError("--logger wandb: needs the wandb package, which is not installed "
                             "(pip install 'puffer-backend[wandb]')")
    check_installed(config.backend)
    if resumed and _world_size(config) > 1:
        raise UsageError("--resume: expected a single process, received a torchrun job "
                         f"(WORLD_SIZE={_world_size(config)}); resuming under torchrun is not supported")


def _check_out(out_dir: str, name: str | None) -> None:
    """Cheap early checks of --out and --name (the atomic check is create_run_dir's mkdir)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: expected a folder, received {out_dir!r} (an existing file)")
    if name is None:
        return
    if not is_folder_name(name):
        raise UsageError(f"--name: expected a folder name without path separators, received {name!r}")
    if (out / name).exists():
        raise UsageError(f"--name: run folder {out / name} already exists; choose another --name")


def _world_size(config: TrainConfig) -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1)) if config.backend == "torch" else 1


def _check_pipeline_env(pipeline, config: TrainConfig) -> str | None:
    """The pipeline resolves the device and builds the env and says whether it can train
    them, before the run folder and the start line exist: a refusal is one line (`--device:
    ...`, `--env: ...`, or the `--set` that asked for what the env cannot do), decided as
    `_train` decides (`_usage_error`). Returns the resolved device (None for jax)."""
    try:
        check_device = getattr(pipeline, "check_device", None)
        device = check_device(config, _world_size(config)) if check_device is not None else None
        check = getattr(pipeline, "check_env", None)
        if check is not None:
            check(config)
        if config.policy is not None:  # imported here, after the pipeline's framework
            import_policy(config.policy)
    except BadArgumentError as error:
        raise _usage_error(error, config.backend) from None
    return device


def _usage_error(error: BadArgumentError, backend: str) -> UsageError:
    """A pipeline's refusal of the run's settings as the command reports it: named by the flag
    of the field the error names (`env_id`, the envs' name for it, or `config.<field>`), else
    by the backend that refused."""
    field = "env_id" if error.argument == "env_id" else config_field(error)
    if field is not None:
        return UsageError(str(error.renamed(_flag(field))))
    return UsageError(f"backend {backend}: {error}")


def _run_folder(config: TrainConfig, run_dir: Path | None, main_process: bool,
                held: contextlib.ExitStack) -> tuple[TrainConfig, Path, Path | None]:
    """(config, run folder, scratch folder to remove at the end or None). A resumed run keeps
    its folder (config.json is rewritten with the checkpoints); the main process creates a new
    run's folder, locks it until `held` closes and writes its config.json; other torchrun
    ranks write no files, so they get a private folder in case the pipeline writes."""
    if run_dir is not None:
        return config, run_dir, None
    if not main_process:
        scratch = Path(tempfile.mkdtemp(prefix="puffer-backend-rank"))
        return config, scratch, scratch
    run_dir = _new_run_dir(config, config.run_name)
    _lock(run_dir, held, "--name")
    config = dataclasses.replace(config, run_name=run_dir.name)
    write_config(run_dir, config)
    return config, run_dir, None


def _new_run_dir(config: TrainConfig, name: str | None) -> Path:
    try:
        return create_run_dir(config.out_dir, name or default_run_name(config), unique=name is None)
    except FileExistsError as error:
        raise UsageError(f"--name: {error}") from None
    except OSError as error:
        raise UsageError(f"--out: cannot create a run folder under {config.out_dir!r} ({error.strerror})") from None


def _print_start_lines(args, config: TrainConfig, run_dir: Path, checkpoint: Checkpoint | None,
                       device: str | None = None) -> None:
    """On stderr: the --compile note for jax (even with --quiet), then, unless --quiet, what runs
    where (the GPU, when the run trains on one) and what the preset and the target chose."""
    if config.compile and config.backend == "jax":
        print(f"{PROG}: note: --compile applies to the torch policy (torch, mixed); the jax pipeline is "
              "always jitted", file=sys.stderr)
    if args.quiet:
        return
    planned, per_update = _planned_steps(config)
    rounded = f" ({config.total_steps} rounded to whole updates of {per_update})" \
        if planned != config.total_steps else ""
    if checkpoint is not None:
        print(f"{PROG}: resuming {config.backend} on {config.env_id} at step {checkpoint.step} of {planned}{rounded}, "
              f"seed {config.seed} -> {run_dir}", file=sys.stderr, flush=True)
    else:
        print(f"{PROG}: training {config.backend} on {config.env_id} for {planned} steps{rounded}, "
              f"seed {config.seed} -> {run_dir}", file=sys.stderr, flush=True)
    if device is not None and device != "cpu":
        print(f"{PROG}: on {device} (--device {config.device})", file=sys.stderr, flush=True)
    for line in _setting_notes(config):
        print(f"{PROG}: {line}", file=sys.stderr, flush=True)


def _planned_steps(config: TrainConfig) -> tuple[int, int]:
    """(steps the pipeline will run, steps per update): whole updates only, and under torchrun
    one update is a batch on every rank."""
    world = _world_size(config)
    return config.num_updates_for(world) * config.steps_per_update(world), config.steps_per_update(world)


def _setting_notes(config: TrainConfig) -> list[str]:
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


def _run_logger(args, config: TrainConfig, run_dir: Path, checkpoint: Checkpoint | None,
                main_process: bool) -> RunLogger:
    """The logger handed to the pipeline, with the progress display (main process only)."""
    start_step = checkpoint.step if checkpoint is not None else 0
    progress = Progress(_planned_steps(config)[0], mode="off" if args.quiet else args.progress,
                        initial_step=start_step) if main_process else None
    title = f"{run_dir.name}: {config.backend} PPO on {config.env_id}, seed {config.seed}"
    return RunLogger(run_dir, progress=progress, write=main_process, title=title, target=config.target_return,
                     tensorboard="tensorboard" in config.loggers, wandb="wandb" in config.loggers, config=config,
                     resume_step=start_step if checkpoint is not None else None)


def _train(pipeline, config: TrainConfig, logger: RunLogger, *, resumed: bool, main_process: bool,
           scratch: Path | None) -> dict | None:
    """The pipeline's summary, or None after Ctrl-C (the partial run kept and reported). A
    bad-argument error before the first row is the user's (UsageError, and a new run's folder
    holding only config.json is removed); any other exception, or one after it, is a bug."""
    run_dir = logger.run_dir
    finished, rows_before = False, len(logger.records)
    try:
        summary = pipeline.train(config, logger, resume=True) if resumed else pipeline.train(config, logger)
        finished = True
    except BadArgumentError as error:
        if len(logger.records) > rows_before:  # it trained with these settings: not the user's mistake
            raise
        logger.close()
        if main_process and not resumed and set(os.listdir(run_dir)) <= {CONFIG_FILE, LOCK_FILE}:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise _usage_error(error, config.backend) from None
    except NonFiniteError as error:
        logger.close()
        raise RunFailed(f"{error} (run {run_dir})") from None
    except KeyboardInterrupt:
        # The pipelines finish the update under way, save its checkpoint, then re-raise.
        logger.close()
        if main_process:
            _report_interrupt(logger)
        return None
    finally:
        if not finished:
            logger.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return dict(summary or {})


def _report_interrupt(logger: RunLogger) -> None:
    """On stderr: the step reached and how to evaluate or continue the partial run."""
    run_dir = logger.run_dir
    step = logger.records[-1]["step"] if logger.records else 0
    saved = (run_dir / CHECKPOINT_FILE).is_file()
    kept = (f"checkpoint saved; evaluate it with `{PROG} eval {run_dir}` or continue it with "
            f"`{PROG} train --resume {run_dir}`" if saved else "no checkpoint")
    print(f"{PROG}: interrupted at step {step}; partial run kept in {run_dir} ({kept})", file=sys.stderr)


def _report_summary(summary: dict, logger: RunLogger, run_dir: Path, main_process: bool) -> None:
    """summary.json and the curve (logger.close), then the summary line on stdout."""
    logger.close(summary)
    if main_process:
        if logger.plot_error:
            print(f"{PROG}: note: {logger.plot_error}", file=sys.stderr)
        print(_summary_line(summary, logger, run_dir), flush=True)


def _summary_line(summary: dict, logger, run_dir) -> str:
    """The pipeline's summary (pipelines.training_run) in one line."""
    from .progress import format_number

    steps, sps, mean_return = summary["steps"], summary["sps"], summary["mean_return"]
    reached = ""
    if "steps_to_target" in summary:
        first = summary["steps_to_target"]
        reached = f"  target reached at step {int(first)}" if first is not None else "  target not reached"
    return (f"done: steps {int(steps)}  sps {format_number(sps, 0)}  mean_return {format_number(mean_return)}  "
            f"time {float(summary['wall_time']):.1f}s{reached}  run {run_dir}")
