"""Process set-up shared by the torch and mixed pipelines: threads, seeding, the torchrun process group."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

__all__ = ["torch_threads", "unchecked_values", "seed_everything", "DistInfo", "init_distributed"]


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


@contextlib.contextmanager
def unchecked_values():
    """Run with torch_impl's value checks off (`set_default_validate_args(False)`): the rollout
    and the update sample and re-score the policy's own outputs on every step, where a check
    would cost a reduction per call; a NaN they let through reaches the losses, where the
    run stops (pipelines.training_run). The old setting is restored."""
    from puffer_backend import torch_impl

    old = torch_impl.default_validate_args()
    torch_impl.set_default_validate_args(False)
    try:
        yield
    finally:
        torch_impl.set_default_validate_args(old)


def seed_everything(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Seed Python, numpy and torch; returns a torch Generator on `device` for sampling and
    shuffling (a draw on a device takes a generator of that device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


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

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's flags, on every rank (one broadcast), so that all ranks leave the training
        loop at the same update; the flags themselves on a single process."""
        if self.world_size == 1:
            return flags
        values = torch.tensor([int(bool(f)) for f in flags])
        torch.distributed.broadcast(values, src=0)
        return tuple(bool(v) for v in values.tolist())


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
