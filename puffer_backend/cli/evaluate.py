"""`puffer-backend eval RUN`: the mean return of a saved run's greedy policy."""
from __future__ import annotations

from ..pipelines import PIPELINES
from ..pipelines.config import CONFIG_FILE, load_config
from .backends import check_installed, pipeline_module
from .errors import UsageError
from .runs import require_run_folder

__all__ = ["run"]


def run(args) -> int:
    run_dir = require_run_folder(args.run, CONFIG_FILE)
    try:
        config = load_config(run_dir)
    except (ValueError, TypeError) as error:
        raise UsageError(f"RUN: {error}") from None
    if config.backend not in PIPELINES:
        raise UsageError(f"RUN: expected a config.json with backend one of {sorted(PIPELINES)}, "
                         f"received {config.backend!r}")
    check_installed(config.backend)
    pipeline = pipeline_module(config.backend)
    try:
        mean_return = float(pipeline.evaluate(run_dir, episodes=args.episodes, seed=args.seed))
    except FileNotFoundError as error:  # the one checkpoint format's loader names the missing file
        raise UsageError(f"RUN: {run_dir} has no checkpoint to evaluate ({error.filename or error})") from None
    print(f"mean_return {mean_return:.2f}  episodes {args.episodes}  run {run_dir}", flush=True)
    return 0
