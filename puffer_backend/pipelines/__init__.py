"""PPO training pipelines, one per backend, driven by the `puffer-backend` command.

Every pipeline module (torch_ppo, jax_ppo, mixed_ppo) exposes:
    train(config: TrainConfig, logger) -> dict
        Trains; calls `logger.record(step, **metrics)` once per update (or per chunk of
        updates when the loop runs under jit) with the keys in METRIC_KEYS; saves its
        checkpoint under `logger.run_dir`; returns a summary dict (steps, sps, mean_return).
    evaluate(run_dir, episodes=20, seed=0) -> float
        Loads the checkpoint that `train` saved (config in run_dir/config.json) and returns
        the mean episodic return of the greedy (deterministic) policy.
A logger is anything with `run_dir` (pathlib.Path) and `record(step, **metrics)`.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .config import TrainConfig

PIPELINES = {
    "torch": "puffer_backend.pipelines.torch.ppo",
    "jax": "puffer_backend.pipelines.jax.ppo",
    "mixed": "puffer_backend.pipelines.mixed.ppo",
}
METRIC_KEYS = ("mean_return", "sps", "policy_loss", "value_loss", "entropy", "approx_kl")
RETURN_WINDOW = 20  # mean_return averages this many most recent completed episodes

__all__ = ["TrainConfig", "PIPELINES", "METRIC_KEYS", "RETURN_WINDOW", "load_pipeline", "MemoryLogger"]


def load_pipeline(backend: str):
    """The pipeline module for `backend` (imports its framework)."""
    if backend not in PIPELINES:
        raise ValueError(f"backend: expected one of {sorted(PIPELINES)}, received {backend!r}")
    return importlib.import_module(PIPELINES[backend])


class MemoryLogger:
    """A logger that keeps records in memory: for tests and for library use without the CLI."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.records: list[dict] = []

    def record(self, step: int, **metrics) -> None:
        self.records.append({"step": int(step), **{k: float(v) for k, v in metrics.items()}})
