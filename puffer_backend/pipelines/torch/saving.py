"""Torch agents and optimizers to and from the one checkpoint format (pipelines.checkpoint)."""
from __future__ import annotations

import numpy as np
import torch

from ...spec.errors import bad_value
from ..checkpoint import Checkpoint
from .learner import load_optimizer_arrays, optimizer_arrays
from .policy import Agent

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
                      info={**facts, "generator_device": generator.device.type, **(info or {})})


def load_agent_params(agent: torch.nn.Module, checkpoint: Checkpoint) -> None:
    """Load a checkpoint's params into `agent`, on whatever device the agent is (the
    checkpoint holds numpy arrays, saved from any device): every name and shape must match,
    else a one-line ValueError naming `checkpoint` (the built-in agent: a run of a user's
    policy needs that policy) or `policy` (a user's module)."""
    expected = agent.state_dict()
    argument = "checkpoint" if isinstance(agent, Agent) else "policy"
    if set(expected) != set(checkpoint.params):
        missing = sorted(set(expected) - set(checkpoint.params))
        unexpected = sorted(set(checkpoint.params) - set(expected))
        if isinstance(agent, Agent):
            hint = ("; a run of your own policy: pass that module as policy= (from Python)" if unexpected
                    else "")
            raise bad_value(argument, f"the built-in agent's params ({_names(expected)})",
                            f"params {_names(checkpoint.params)}{hint}")
        raise bad_value(argument, f"a module whose state_dict names are the checkpoint's ({_names(checkpoint.params)})",
                        f"one that lacks {_names(unexpected)}" if unexpected else f"one that also has {_names(missing)}")
    for name, value in expected.items():
        saved = np.shape(checkpoint.params[name])
        if saved != tuple(value.shape):
            raise bad_value(argument, f"{name} of shape {tuple(value.shape)} (the policy's)",
                            f"shape {saved} in the checkpoint")
    agent.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in checkpoint.params.items()})


def _names(names) -> str:
    names = sorted(names)
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def restore_learner(agent: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    checkpoint: Checkpoint) -> bool:
    """Put a run's agent weights, optimizer state and sampling generator back as `checkpoint`
    saved them (bit for bit), on the devices of `agent` and `generator`: the torch half of
    resuming a run. Returns False when the generator's state was saved from another kind of
    device (a CPU and a CUDA generator's states differ) and was left as it is. ValueError
    naming `checkpoint` (or `policy`) when one of them is missing or does not fit."""
    load_agent_params(agent, checkpoint)
    if checkpoint.update and not checkpoint.optimizer:
        raise bad_value("checkpoint", "the optimizer's state (optimizer/...)", "a checkpoint without it")
    load_optimizer_arrays(optimizer, checkpoint.optimizer, checkpoint.info)
    if "generator" not in checkpoint.state:
        raise bad_value("checkpoint", "the sampling generator's state state/generator", "a checkpoint without it")
    if checkpoint.info.get("generator_device", "cpu") != generator.device.type:  # older checkpoints: CPU
        return False
    generator.set_state(torch.from_numpy(np.array(checkpoint.state["generator"], dtype=np.uint8)))
    return True
