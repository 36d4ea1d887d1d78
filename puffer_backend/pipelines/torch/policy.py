"""The CleanRL-shaped PPO agent of the torch and mixed pipelines, built on `torch_impl`.

The agent reads flat observation rows of the sample dtype (what PufferLib's emulation, or
`puffer_backend.spec.pack_batch`, produces), unpacks them with `nativize_tensor`, and samples
with `sample_logits`: this library's `pufferlib.pytorch` API, imported as
`puffer_backend.torch_impl` directly. The shim is for users' code; the pipelines use this
library's extensions (`deterministic=`, `generator=`, `nativize_dtype(space)`), which
PufferLib's own `pufferlib.pytorch` lacks, so they must not resolve to it when PufferLib is
installed.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.distributions import Normal

from puffer_backend import torch_impl
from puffer_backend.spec import Continuous, Discrete, MultiDiscrete, bad_type, flattened_tensor_size, leaves

__all__ = ["Agent", "build_agent", "rollout_fn", "warm_up_compiled"]


def _mlp(in_size: int, hidden: int, out_size: int, out_std: float) -> nn.Sequential:
    """CleanRL's 2-layer tanh MLP: orthogonal init, std sqrt(2) for hidden layers, zero biases."""
    init = torch_impl.layer_init
    return nn.Sequential(
        init(nn.Linear(in_size, hidden)), nn.Tanh(),
        init(nn.Linear(hidden, hidden)), nn.Tanh(),
        init(nn.Linear(hidden, out_size), std=out_std),
    )


def build_agent(env, hidden_size: int) -> "Agent":
    """The agent for an env that exposes `observation_layout` (a `nativize_dtype` layout of its
    packed rows) and `action_spec` (both pipelines' envs do)."""
    return Agent(env.observation_layout, env.action_spec, hidden_size)


class Agent(nn.Module):
    """CleanRL's PPO agent: separate 2-layer tanh MLPs for the critic and the actor.

    native_dtype: the observation layout from `torch_impl.nativize_dtype` (a Leaf or a
        nested dict of Leafs); observations are `(batch, width)` rows of the sample dtype.
    action_spec: a `puffer_backend.spec` action spec (Discrete, MultiDiscrete or Continuous).
    `forward(obs, action=None)` returns `(action, logprob, entropy, value)`, each with a
    leading batch axis (value is `(batch,)`), as CleanRL's `get_action_and_value`.
    """

    def __init__(self, native_dtype, action_spec, hidden_size: int = 64):
        super().__init__()
        if not isinstance(action_spec, (Discrete, MultiDiscrete, Continuous)):
            raise bad_type("action_spec", "a puffer_backend.spec Discrete, MultiDiscrete or Continuous", action_spec)
        # Functions, not the module: a module attribute would make the agent unpicklable.
        self._nativize_tensor, self._sample_logits = torch_impl.nativize_tensor, torch_impl.sample_logits
        self.native_dtype = native_dtype
        self.action_spec = action_spec
        self._single_leaf = isinstance(native_dtype, tuple) and not isinstance(native_dtype, dict)
        in_size = flattened_tensor_size(native_dtype)
        self.critic = _mlp(in_size, hidden_size, 1, 1.0)
        self.actor = _mlp(in_size, hidden_size, action_spec.logits_width, 0.01)
        if isinstance(action_spec, Continuous):
            self.actor_logstd = nn.Parameter(torch.zeros(1, action_spec.logits_width))
        self._splits = action_spec.head_sizes if isinstance(action_spec, MultiDiscrete) else None
        self._fused = None  # [(weight, bias)] x 3 for rollout_step, see refresh_rollout_weights

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """Flat float32 features `(batch, flattened_tensor_size)` from packed rows."""
        native = self._nativize_tensor(obs, self.native_dtype)
        if self._single_leaf:
            return native.reshape(native.shape[0], -1).float()
        parts = [_get(native, path) for path, _ in leaves(self.native_dtype)]
        return torch.cat([p.reshape(p.shape[0], -1).float() for p in parts], dim=1)

    def distribution(self, x: torch.Tensor):
        """What `sample_logits` takes: logits, a tuple of logits per head, or a Normal."""
        return self._head(self.actor(x))

    def _head(self, out: torch.Tensor):
        if self._splits is not None:
            return torch.split(out, self._splits, dim=1)
        if isinstance(self.action_spec, Continuous):
            return Normal(out, self.actor_logstd.expand_as(out).exp())
        return out

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """Critic value `(batch,)` float32."""
        return self.critic(self.features(obs)).squeeze(1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor | None = None, *,
                deterministic: bool = False, generator: torch.Generator | None = None):
        x = self.features(obs)
        if deterministic:
            sampled, logprob, ent = self._sample_logits(self.distribution(x), action, deterministic=True)
        elif generator is not None:
            sampled, logprob, ent = self._sample_logits(self.distribution(x), action, generator=generator)
        else:
            sampled, logprob, ent = self._sample_logits(self.distribution(x), action)
        return sampled, logprob, ent, self.critic(x).squeeze(1)

    @torch.no_grad()
    def refresh_rollout_weights(self) -> None:
        """Rebuild the fused copy that `rollout_step` uses from the current weights. Call it
        after every optimizer step that precedes a rollout (the pipelines do, once per
        update): in-place optimizer kernels do not reliably bump version counters, so
        staleness cannot be detected automatically."""
        a, c = self.actor, self.critic
        self._fused = [(torch.cat([a[0].weight, c[0].weight]), torch.cat([a[0].bias, c[0].bias])),
                       (torch.block_diag(a[2].weight, c[2].weight), torch.cat([a[2].bias, c[2].bias])),
                       (torch.block_diag(a[4].weight, c[4].weight), torch.cat([a[4].bias, c[4].bias]))]

    def rollout_step(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        """Inference fast path for rollouts: `(action, logprob, value)` as `forward` computes
        them, with actor and critic run as one block-diagonal MLP (3 matmuls instead of 6).
        The zero blocks add exact zeros, so results match `forward` to float rounding. Uses
        the weights as of the last `refresh_rollout_weights()`. Call under `torch.no_grad()`
        or `torch.inference_mode()`."""
        if self._fused is None:
            self.refresh_rollout_weights()
        (w1, b1), (w2, b2), (w3, b3) = self._fused
        x = self.features(obs)
        h = torch.tanh(F.linear(x, w1, b1))
        h = torch.tanh(F.linear(h, w2, b2))
        out = F.linear(h, w3, b3)
        width = self.action_spec.logits_width
        dist = self._head(out[:, :width])
        if generator is not None:
            action, logprob, _ = self._sample_logits(dist, generator=generator)
        else:
            action, logprob, _ = self._sample_logits(dist)
        return action, logprob, out[:, width]


def rollout_fn(agent: Agent, policy, compiled: bool, generator: torch.Generator):
    """`obs -> (action, logprob, value)` for rollouts: the fused fast path, or the compiled
    module's forward (torch.compile traces `forward`; it draws from the global RNG)."""
    if not compiled:
        return lambda obs: agent.rollout_step(obs, generator)  # refresh_rollout_weights per update

    def act(obs):
        action, logprob, _, value = policy(obs)
        return action, logprob, value
    return act


def warm_up_compiled(policy, loss_fn, model, obs: torch.Tensor, buf, config) -> None:
    """Run the graphs that torch.compile compiles at their first call, so that compile time is
    measured apart from training: the rollout step (inference mode, `obs`'s batch) and the
    update's compiled loss with its backward (a minibatch of `buf`'s rows). Leaves gradients
    behind, which the update zeroes before its first backward.

    The rollout must then call `policy` with inference tensors only (observations made under
    `torch.inference_mode()`, the reset's too): a normal tensor fails a guard, and that
    recompile, after the update's batch size, makes the batch dimension dynamic, which the
    sampler's `torch.rand` cannot trace."""
    with torch.inference_mode():
        policy(obs.clone())  # cloned under inference mode: an inference tensor, as in the rollout
    rows = config.minibatch_size
    columns = [x.reshape(-1)[:rows] for x in (buf.logprobs, buf.advantages, buf.returns, buf.values)]
    old_logprob, adv, ret, old_value = columns
    loss = loss_fn(model, buf.obs.reshape(-1, buf.obs.shape[-1])[:rows],
                   buf.actions.reshape(-1, *buf.actions.shape[2:])[:rows], old_logprob, adv, ret, old_value, config)[0]
    loss.backward()


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree

