"""Torch agents and optimizers to and from the one checkpoint format (pipelines.checkpoint)."""
from __future__ import annotations

import numpy as np
import torch

from ..checkpoint import Checkpoint
from .learner import load_optimizer_arrays, optimizer_arrays

__all__ = ["agent_checkpoint", "load_agent_params", "restore_learner"]


def agent_checkpoint(backend: str, step: int, update: int, agent: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, *, state: dict | None = None, info: dict | None = None) -> Checkpoint:
    """The checkpoint of a torch-learner run: the agent's state dict as params (a user's
    policy: its own state dict), Adam's state, the sampling generator's state, and the
    pipeline's own `state` arrays and `info` facts (episode statistics, env state, the
    normalization statistics of pipelines.normalize, the clock): what a resumed run needs."""
    params = {name: value.detach().cpu().numpy().copy() for name, value in agent.state_dict().items()}
    optimizer_state, facts = optimizer_arrays(optimizer)
    return Checkpoint(backend, step, update, params=params, optimizer=optimizer_state,
                      state={"generator": generator.get_state().numpy(), **(state or {})},
                      info={**facts, **(info or {})})


def load_agent_params(agent: torch.nn.Module, checkpoint: Checkpoint) -> None:
    """Load a checkpoint's params into `agent` (strict: every name must match)."""
    agent.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in checkpoint.params.items()})


def restore_learner(agent: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    checkpoint: Checkpoint) -> None:
    """Put a run's agent weights, optimizer state and sampling generator back as `checkpoint`
    saved them (bit for bit): the torch half of resuming a run."""
    load_agent_params(agent, checkpoint)
    load_optimizer_arrays(optimizer, checkpoint.optimizer, checkpoint.info)
    generator.set_state(torch.from_numpy(np.array(checkpoint.state["generator"], dtype=np.uint8)))
