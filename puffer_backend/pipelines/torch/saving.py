"""Torch agents and optimizers to and from the one checkpoint format (pipelines.checkpoint)."""
from __future__ import annotations

import torch

from ..checkpoint import Checkpoint
from .learner import optimizer_arrays

__all__ = ["agent_checkpoint", "load_agent_params"]


def agent_checkpoint(backend: str, step: int, update: int, agent: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, state: dict | None = None) -> Checkpoint:
    """The checkpoint of a torch-learner run: the agent's state dict as params (a user's
    policy: its own state dict), Adam's state, the sampling generator's state and `state`
    (e.g. the normalization statistics, pipelines.normalize)."""
    params = {name: value.detach().cpu().numpy().copy() for name, value in agent.state_dict().items()}
    optimizer_state, facts = optimizer_arrays(optimizer)
    return Checkpoint(backend, step, update, params=params, optimizer=optimizer_state,
                      state={"generator": generator.get_state().numpy(), **(state or {})}, info=facts)


def load_agent_params(agent: torch.nn.Module, checkpoint: Checkpoint) -> None:
    """Load a checkpoint's params into `agent` (strict: every name must match)."""
    agent.load_state_dict({name: torch.from_numpy(value) for name, value in checkpoint.params.items()})
