"""`puffer-backend eval RUN [--video out.mp4]`: the mean return of a saved run's greedy policy,
and a video of its episodes."""
from __future__ import annotations

from ..pipelines import PIPELINES
from ..pipelines.config import CONFIG_FILE, load_config
from ..spec.errors import BadArgumentError
from .backends import check_installed, factory_path, pipeline_module
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
    if args.video is not None:
        _check_video_path(args.video)
    check_installed(config.backend)
    factory_path(config.env_id)
    pipeline = pipeline_module(config.backend)
    try:
        if args.video is None:
            mean_return = float(pipeline.evaluate(run_dir, episodes=args.episodes, seed=args.seed))
        else:
            video = pipeline.record_video(run_dir, args.video, episodes=args.episodes, seed=args.seed)
    except FileNotFoundError as error:  # the one checkpoint format's loader names the missing file
        raise UsageError(f"RUN: {run_dir} has no checkpoint to evaluate ({error.filename or error})") from None
    except BadArgumentError as error:  # an env without frames, a factory that no longer imports; else a bug
        raise UsageError(f"{'--video' if args.video else 'RUN'}: {error}") from None
    if args.video is not None:
        returns = video["returns"]
        mean_return = sum(returns) / len(returns)
        print(f"mean_return {mean_return:.2f}  episodes {args.episodes}  run {run_dir}  video {args.video} "
              f"({video['frames']} frames)", flush=True)
        return 0
    print(f"mean_return {mean_return:.2f}  episodes {args.episodes}  run {run_dir}", flush=True)
    return 0


def _check_video_path(text: str) -> None:
    """Before any import: the suffix, the folder and the writer's packages (pipelines.video)."""
    from ..pipelines.video import check_video_path

    try:
        check_video_path(text)
    except BadArgumentError as error:
        raise UsageError(str(error.renamed("--video"))) from None
