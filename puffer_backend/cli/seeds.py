"""Several seeds of one config: `puffer-backend train --seeds 0-15` and `train_seeds(config, seeds)`.

A group folder `<out>/<name>/` holds one run folder per seed, `s<seed>/` (config.json,
metrics.csv, summary.json, curve.png and the checkpoint, as a single run's), and
`group.json`: the per-seed final returns, their mean, 95% bootstrap confidence interval and
interquartile mean (pipelines.seed_stats), the steps to the target per seed when the config
has a target, the config (its seed aside) and the run folders. The jax pipeline trains all
seeds in one vmapped program (pipelines/jax/seeds.py); torch and mixed one after another.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path

from ..pipelines.config import TrainConfig, check_pipeline_config, write_config
from ..pipelines.seed_stats import GROUP_FILE, aggregate, check_seeds
from ..pipelines.training_run import NonFiniteError
from ..spec.errors import BadArgumentError, bad_type, bad_value
from .errors import EXIT_INTERRUPTED, PROG, RunFailed, UsageError
from .progress import Progress
from .runs import RunLogger, create_run_dir, default_run_name, is_folder_name

__all__ = ["train_seeds", "run", "default_group_name", "group_runs", "GROUP_FILE"]


def default_group_name(config: TrainConfig, seeds, now: datetime | None = None) -> str:
    """`<backend>-<env>-seeds<first>-<last>-<YYYYmmdd-HHMMSS>` (default_run_name's form)."""
    single = default_run_name(dataclasses.replace(config, seed=0), now)
    head, stamp = single.rsplit("-s0-", 1)
    seeds = list(seeds)
    return f"{head}-seeds{seeds[0]}-{seeds[-1]}-{stamp}"


def train_seeds(config: TrainConfig, seeds, *, out_dir=None, name: str | None = None, env=None, policy=None,
                progress: str = "off") -> dict:
    """Train `config` once per seed of `seeds` (ints, e.g. range(8)) into a new group folder
    `<out_dir>/<name>` (defaults: config.out_dir, default_group_name) and return group.json's
    content, plus `group_dir`. env, policy: as a pipeline's `train`. progress: the display
    of each run (cli.progress modes; "off" by default).
    Raises TypeError/ValueError for a bad config, seeds or name, FileExistsError when the
    folder exists, and what the pipeline raises."""
    if not isinstance(config, TrainConfig):
        raise bad_type("config", "a TrainConfig", config)
    check_pipeline_config(config, config.backend)
    seeds = check_seeds(seeds)
    from ..pipelines import load_pipeline

    pipeline = load_pipeline(config.backend)
    group_dir = _new_group(config, seeds, out_dir, name)
    return _train_group(pipeline, config, seeds, group_dir, env=env, policy=policy, progress=progress)


def _new_group(config: TrainConfig, seeds, out_dir, name) -> Path:
    if name is not None and not isinstance(name, str):
        raise bad_type("name", "a folder name (str) or None", name)
    if name is not None and not is_folder_name(name):
        raise bad_value("name", "a folder name without path separators", repr(name))
    return create_run_dir(config.out_dir if out_dir is None else out_dir, name or default_group_name(config, seeds),
                          unique=name is None)


def _train_group(pipeline, config, seeds, group_dir: Path, *, env=None, policy=None, progress="off",
                 report=None) -> dict:
    """Train every seed into `group_dir` (run folders s<seed>), write group.json; its content.
    report(seed, summary, logger): called after each run's files are written (the command's line)."""
    configs = [dataclasses.replace(config, seed=s, out_dir=str(group_dir), run_name=f"s{s}") for s in seeds]
    loggers = []
    for i, one in enumerate(configs):
        run_dir = create_run_dir(group_dir, one.run_name)
        write_config(run_dir, one)
        # Together under jax: the first run's display shows every seed's progress.
        shown = progress if i == 0 or not hasattr(pipeline, "train_seeds") else "off"
        loggers.append(RunLogger(run_dir, progress=Progress(one.num_updates * one.batch_size, mode=shown),
                                 title=f"{group_dir.name}/{run_dir.name}: {one.backend} PPO on {one.env_id}, "
                                       f"seed {one.seed}", target=one.target_return, config=one,
                                 tensorboard="tensorboard" in one.loggers, wandb="wandb" in one.loggers))
    extra = {k: v for k, v in (("env", env), ("policy", policy)) if v is not None}
    def finish(one, logger, summary):
        logger.close(summary)
        if report is not None:
            report(one.seed, summary, logger)

    try:
        if hasattr(pipeline, "train_seeds"):
            summaries = pipeline.train_seeds(config, seeds, loggers, **extra)
            for one, logger, summary in zip(configs, loggers, summaries):
                finish(one, logger, summary)
        else:
            summaries = []
            for one, logger in zip(configs, loggers):
                summaries.append(pipeline.train(one, logger, **extra))
                finish(one, logger, summaries[-1])  # its files and line now: a long group shows finished runs
    except BaseException:
        for logger in loggers:
            logger.close()
        raise
    group = {**aggregate(dict(zip(seeds, summaries))), "runs": [one.run_name for one in configs],
             "config": {k: v for k, v in config.to_dict().items() if k not in ("seed", "out_dir", "run_name")}}
    (group_dir / GROUP_FILE).write_text(json.dumps(group, indent=2, sort_keys=True) + "\n")
    return {**group, "group_dir": str(group_dir)}


def group_runs(folder) -> list[Path] | None:
    """The run folders of a group folder (its group.json's `runs`, those that exist), or None
    when `folder` is not a group folder."""
    folder = Path(folder)
    try:
        group = json.loads((folder / GROUP_FILE).read_text())
    except (OSError, ValueError):
        return None
    runs = group.get("runs") if isinstance(group, dict) else None
    if not isinstance(runs, list):
        return None
    return [folder / str(name) for name in runs if (folder / str(name)).is_dir()]


def run(args, seeds, check_before_import, check_pipeline_env, usage_error) -> int:
    """`train --seeds`: the checks of a single run (the train module's, passed in), then the group."""
    from .train import config_from_args

    for flag, value in (("--seed", args.seed), ("--resume", args.resume)):
        if value is not None:
            raise UsageError(f"--seeds: expected either {flag} or --seeds, received both ({flag} {value})")
    config = config_from_args(args)
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise UsageError(f"--seeds: expected a single process, received a torchrun job "
                         f"(WORLD_SIZE={os.environ['WORLD_SIZE']}); run the seeds without torchrun")
    check_before_import(args, config, resumed=False)
    from .backends import pipeline_module

    pipeline = pipeline_module(config.backend)
    check_pipeline_env(pipeline, config)
    try:
        group_dir = _new_group(config, seeds, None, config.run_name)
    except FileExistsError as error:
        raise UsageError(f"--name: {error}") from None
    except OSError as error:
        raise UsageError(f"--out: cannot create a folder under {config.out_dir!r} ({error.strerror})") from None
    how = "in one vmapped program" if hasattr(pipeline, "train_seeds") else "one after another"
    if not args.quiet:
        print(f"{PROG}: training {config.backend} on {config.env_id}, {len(seeds)} seeds ({_seed_text(seeds)}) "
              f"{how} -> {group_dir}", file=sys.stderr, flush=True)

    def report(seed, summary, logger):
        from .train import _summary_line

        print(_summary_line(summary, logger, logger.run_dir), flush=True)

    try:
        group = _train_group(pipeline, config, seeds, group_dir, progress="off" if args.quiet else args.progress,
                             report=report)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; the runs so far are kept in {group_dir} (no {GROUP_FILE})", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BadArgumentError as error:
        if not any((path / "metrics.csv").exists() for path in group_dir.iterdir() if path.is_dir()):
            shutil.rmtree(group_dir, ignore_errors=True)  # nothing trained: the user's settings
            raise usage_error(error, config.backend) from None
        raise
    except NonFiniteError as error:
        raise RunFailed(f"{error} (group {group_dir})") from None
    print(_group_line(group), flush=True)
    return 0


def _seed_text(seeds) -> str:
    return f"{seeds[0]}..{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2 \
        else ",".join(map(str, seeds))


def _group_line(group: dict) -> str:
    from .progress import format_number

    if group["mean"] is None:
        return f"group: {group['seeds']} seeds, no finished episode  group {group['group_dir']}"
    low, high = group["ci95"]
    reached = ""
    if "steps_to_target" in group:
        hits = [v for v in group["steps_to_target"].values() if v is not None]
        reached = f"  target reached by {len(hits)} of {group['seeds']}"
    return (f"group: {group['seeds']} seeds  mean_return {format_number(group['mean'])}  95% CI "
            f"[{format_number(low)}, {format_number(high)}]  IQM {format_number(group['iqm'])}{reached}  "
            f"group {group['group_dir']}")
