"""The `puffer-backend` command: train a PPO pipeline, evaluate a saved run, compare runs."""
from .command import UsageError, build_parser, main

__all__ = ["main", "build_parser", "UsageError"]
