"""Plumbing shared by the torch and mixed pipelines: threads, seeding, checkpoints, DDP setup."""
from __future__ import annotations

import contextlib
import json
import os
import random
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from puffer_backend.spec import bad_value

from ..config import TrainConfig

__all__ = ["CHECKPOINT", "torch_threads", "seed_everything", "save_checkpoint", "load_checkpoint",
           "config_from_dict", "DistInfo", "init_distributed"]

CHECKPOINT = "checkpoint.pt"


@contextlib.contextmanager
def torch_threads(count: int):
    """Run with `count` intra-op threads: for 64-unit MLPs on small batches, thread hand-off
    costs more than the matmuls, so one thread is fastest; the old setting is restored."""
    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; returns a torch Generator for sampling and shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def config_from_dict(data: dict) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in known})


def save_checkpoint(run_dir, model: torch.nn.Module, config: TrainConfig, **meta) -> Path:
    """`run_dir/checkpoint.pt`: the model's state dict, the config and any extra metadata."""
    path = Path(run_dir) / CHECKPOINT
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"format": 1, "model": state, "config": config.to_dict(), **meta}, path)
    return path


def load_checkpoint(run_dir) -> tuple[dict, TrainConfig]:
    """(checkpoint dict, TrainConfig); config.json in run_dir wins over the stored copy."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise bad_value("run_dir", f"a run folder holding {CHECKPOINT}", f"{str(run_dir)!r} without it")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    data = dict(ckpt["config"])
    config_json = run_dir / "config.json"
    if config_json.is_file():
        data.update(json.loads(config_json.read_text()))
    return ckpt, config_from_dict(data)


class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 when not launched by torchrun)."""

    def __init__(self, rank: int = 0, world_size: int = 1, initialized_here: bool = False):
        self.rank, self.world_size, self.initialized_here = rank, world_size, initialized_here

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.initialized_here:
            torch.distributed.destroy_process_group()


def init_distributed() -> DistInfo:
    """Join the gloo process group when torchrun set WORLD_SIZE > 1 (RANK, MASTER_ADDR, ...)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    dist.init_process_group(backend="gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), initialized_here=True)
