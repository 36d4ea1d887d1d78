"""The `puffer-backend` command and its plumbing.

command.py   main(): parse, dispatch, turn a UsageError into one line and exit status 2
parser.py    the argument parser and the `--set KEY=VALUE` reader
train.py / evaluate.py / compare.py   one subcommand each
backends.py  which backends and envs exist and are installed, decided before any framework import
seeds.py     train --seeds and train_seeds: a group folder of per-seed runs and group.json
runs.py      run folders: RunLogger (metrics.csv, summary.json, curve.png), names, reading metrics back
progress.py  the progress display (a bar on a terminal, plain lines elsewhere)
plots.py     learning-curve figures (matplotlib's Agg canvas, no pyplot)
"""
from .command import main
from .errors import UsageError
from .parser import build_parser

__all__ = ["main", "build_parser", "UsageError"]
