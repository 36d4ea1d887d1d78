"""The `puffer-backend` command: train a PPO pipeline, evaluate a saved run, compare runs.

    puffer-backend [train] [--backend torch|jax|mixed] [--env ID] [--steps N] [--seed S]
                   [--num-envs E] [--out DIR] [--name NAME] [--compile] [--quiet] ...
    puffer-backend train --seeds 0-15|0,3,7 [the options above but --seed]
    puffer-backend eval RUN [--episodes K] [--seed S]
    puffer-backend compare RUN... [--out IMAGE] [--metric KEY] [--x step|wall_time]

Every argument is checked before torch or JAX is imported; a bad one prints one line on
stderr and exits with status 2. Results go to stdout, progress to stderr.
"""
from __future__ import annotations

import gc
import sys

from . import compare, evaluate, train
from .errors import EXIT_FAILED, EXIT_USAGE, PROG, RunFailed, UsageError
from .parser import build_parser

__all__ = ["main"]

COMMANDS = {"train": train.run, "eval": evaluate.run, "compare": compare.run}


def main(argv=None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status.

    Called without `argv` (the `puffer-backend` script, `python -m puffer_backend`), the
    process ends when it returns: what it imported is left out of the cycle collection at
    exit (`gc.freeze`), which would otherwise take 0.5-1.5 s after a jax run (jax, flax,
    gymnax and matplotlib are hundreds of thousands of objects) and frees nothing the OS
    does not free anyway."""
    if argv is None:
        try:
            return _main(sys.argv[1:])
        finally:
            gc.freeze()
    return _main(list(argv))


def _main(argv: list) -> int:
    argv = list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["train", *argv]  # bare `puffer-backend [options]` trains
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as error:
        print(str(error) if str(error).startswith(PROG) else f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RunFailed as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_FAILED
