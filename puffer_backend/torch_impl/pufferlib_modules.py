"""The torch modules PufferLib 2.0's `pufferlib/pytorch.py` defines: `LSTM`, `BatchFirstLSTM`
and the experimental `PolicyPool` (3.0 dropped all three; code written for 2.0 still imports
them through `pufferlib.pytorch`). Where ours differ from 2.0's, `docs/torch.md` says why."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from ..spec import bad_value
from .pufferlib_compat import cycle_selector

__all__ = ["LSTM", "BatchFirstLSTM", "PolicyPool"]


class LSTM(nn.LSTM):
    """`nn.LSTM(input_size, hidden_size, num_layers)` (sequence first), every weight matrix
    orthogonal with gain sqrt(2) and every bias 0: `layer_init`'s defaults, matrix by matrix.

    PufferLib 2.0 calls `layer_init(self)`, which reads `self.weight`; an LSTM has none, so
    there the constructor raises AttributeError.
    """

    def __init__(self, input_size=128, hidden_size=128, num_layers=1):
        super().__init__(input_size, hidden_size, num_layers)
        with torch.no_grad():
            for name, parameter in self.named_parameters():
                if name.startswith("weight"):
                    nn.init.orthogonal_(parameter, float(np.sqrt(2)))
                else:
                    nn.init.constant_(parameter, 0.0)


class BatchFirstLSTM(nn.LSTM):
    """An `nn.LSTM` with `batch_first=True` whose state is batch first too.

    `forward(input, hx)`: input `(batch, time, input_size)`, `hx = (h, c)` each
    `(batch, num_layers, hidden_size)`; returns `(output, [h, c])` in the same layouts.
    Constructor arguments are nn.LSTM's (without `batch_first`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, batch_first=True, **kwargs)

    def forward(self, input, hx):  # noqa: A002 - nn.LSTM's own argument name
        h, c = hx
        output, (h, c) = super().forward(input, (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous()))
        return output, [h.transpose(0, 1), c.transpose(0, 1)]


class PolicyPool(nn.Module):
    """Several policies acting in one vectorized env (PufferLib 2.0's experimental utility).

    Agent `i` is served by policy `policy_selector(i, len(policies))`. `forward(obs, state=None,
    action=None)` runs each policy on its rows of `obs` (the rows of `vecenv.batch_mask`) and
    fills `(actions, logprobs, entropy, values)` buffers of `vecenv.num_agents` rows. A
    recurrent pool gets `state = (lstm_h, lstm_c)`, each `(layers, agents, hidden)`, calls
    `policy(ob, (h, c))` for `(action, logprob, entropy, value, (h, c))` and returns the
    updated state last; without state it calls `policy(ob)` for four outputs and returns
    `None` last. Policies whose `learner_mask` entry is false run under `torch.no_grad()`.
    `action` is accepted and unused, as in PufferLib.
    Raises ValueError naming `learner_mask` when it does not have one entry per policy.
    """

    def __init__(self, vecenv, policies, learner_mask, device, policy_selector=cycle_selector):
        super().__init__()
        if len(learner_mask) != len(policies):
            raise bad_value("learner_mask", f"one entry per policy ({len(policies)})",
                            f"{len(learner_mask)} entries")
        self.policy_map = torch.tensor([policy_selector(i, len(policies)) for i in range(vecenv.num_agents)])
        self.learner_mask = learner_mask
        self.policies = nn.ModuleList(policies)
        self.vecenv = vecenv
        self.lstm = getattr(policies[0], "lstm", None)  # all policies recurrent alike, as in PufferLib
        self.actions = torch.zeros(vecenv.num_agents, *vecenv.single_action_space.shape, dtype=torch.int64,
                                   device=device)
        self.logprobs = torch.zeros(vecenv.num_agents, device=device)
        self.entropy = torch.zeros(vecenv.num_agents, device=device)
        self.values = torch.zeros(vecenv.num_agents, device=device)

    def forward(self, obs, state=None, action=None):
        policy_map = self.policy_map[self.vecenv.batch_mask]
        for index, policy in enumerate(self.policies):
            rows = policy_map == index
            ob = obs[rows]
            if len(ob) == 0:
                continue
            # Learners keep autograd; PufferLib 2.0 has this the other way round.
            context = contextlib.nullcontext() if self.learner_mask[index] else torch.no_grad()
            with context:
                if state is not None:
                    lstm_h, lstm_c = state
                    atn, logprob, entropy, value, (h, c) = policy(ob, (lstm_h[:, rows], lstm_c[:, rows]))
                    lstm_h[:, rows] = h
                    lstm_c[:, rows] = c
                else:
                    atn, logprob, entropy, value = policy(ob)
            self.actions[rows] = atn
            self.logprobs[rows] = logprob
            self.entropy[rows] = entropy
            self.values[rows] = value.flatten()
        return self.actions, self.logprobs, self.entropy, self.values, state
