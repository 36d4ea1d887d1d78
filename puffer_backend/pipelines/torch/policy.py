"""The CleanRL-shaped PPO agent of the torch and mixed pipelines, built on `torch_impl`.

The agent reads flat observation rows of the sample dtype (what PufferLib's emulation, or
`puffer_backend.spec.pack_batch`, produces), unpacks them with `nativize_tensor`, and samples
with `sample_logits`: this library's `pufferlib.pytorch` API, imported as
`puffer_backend.torch_impl` directly. The shim is for users' code; the pipelines use this
library's extensions (`deterministic=`, `generator=`, `nativize_dtype(space)`), which
PufferLib's own `pufferlib.pytorch` lacks, so they must not resolve to it when PufferLib is
installed.

Structured and pixel observations (pipelines.networks, `network`): each image leaf goes
through its own CNN encoder, shared by the actor and the critic (as CleanRL's Atari agent
shares its NatureCNN: the convolutions are most of the compute, and the critic's gradient
trains them too); the encoders' features and the other leaves, flattened, in leaf order,
feed the two separate tanh MLPs of the flat agent. An observation without an image leaf (or
`network="mlp"`) is the flat agent exactly, with its fused rollout step.

Action masks: a Discrete agent whose layout has a top-level leaf `action_mask` of one entry
per action samples from the allowed actions only (`> 0.5` = allowed), in every call; a row
that allows no action allows every action (`mask_from_leaf`, as the jax pipeline's).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.distributions import Normal

from puffer_backend import torch_impl
from puffer_backend.spec import Continuous, Discrete, MultiDiscrete, bad_type, flattened_tensor_size, leaves

from ..networks import Encoder, choose_encoders

__all__ = ["Agent", "ConvEncoder", "build_agent", "action_mask_path", "mask_from_leaf", "rollout_fn", "warm_up_compiled"]

MASK_LEAF = "action_mask"


class _TanhMLP(nn.Sequential):
    """`_mlp`'s Linear, Tanh, Linear, Tanh, Linear, run as its layers' own calls (F.linear,
    torch.tanh) in one module call: the same ops, without nn.Module's call overhead per layer
    (~20 us of the update's ~1 ms forward per minibatch on CartPole). The layers and their
    parameter names (`0.weight`, ...) are nn.Sequential's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, _, second, _, last = self
        x = torch.tanh(F.linear(x, first.weight, first.bias))
        x = torch.tanh(F.linear(x, second.weight, second.bias))
        return F.linear(x, last.weight, last.bias)


def _mlp(in_size: int, hidden: int, out_size: int, out_std: float) -> nn.Sequential:
    """CleanRL's 2-layer tanh MLP: orthogonal init, std sqrt(2) for hidden layers, zero biases."""
    init = torch_impl.layer_init
    return _TanhMLP(
        init(nn.Linear(in_size, hidden)), nn.Tanh(),
        init(nn.Linear(hidden, hidden)), nn.Tanh(),
        init(nn.Linear(hidden, out_size), std=out_std),
    )


class ConvEncoder(nn.Module):
    """The CNN of one image leaf (pipelines.networks.Encoder): `(batch, height, width, channels)`
    in, any dtype, `(batch, encoder.out_size)` float32 out. Orthogonal init (std sqrt(2)),
    zero biases, as CleanRL's Atari agent. `scale` multiplies the input first (1/255 for a
    uint8 leaf: pixels to [0, 1], as CleanRL's `x / 255.0`)."""

    def __init__(self, encoder: Encoder, scale: float | None = None):
        super().__init__()
        init = torch_impl.layer_init
        channels = encoder.shape[2]
        convs = []
        for out, kernel, stride in encoder.convs:
            convs.append(init(nn.Conv2d(channels, out, kernel, stride)))
            channels = out
        self.convs = nn.ModuleList(convs)
        self.dense = init(nn.Linear(encoder.flat_size, encoder.dense)) if encoder.dense is not None else None
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.scale is not None:
            x = x * self.scale
        x = x.permute(0, 3, 1, 2)  # channels last (the envs') to torch's NCHW
        for conv in self.convs:
            x = F.relu(conv(x))
        x = x.permute(0, 2, 3, 1).flatten(1)  # (height, width, channel) order, as the JAX encoder
        return F.relu(self.dense(x)) if self.dense is not None else x


def build_agent(env, hidden_size: int, network: str = "auto", recurrent: bool = False) -> "Agent":
    """The agent for an env that exposes `observation_layout` (a `nativize_dtype` layout of its
    packed rows) and `action_spec` (both pipelines' envs do). network: `config.network` (errors
    name it so); recurrent: `config.recurrent`, the LSTM agent of torch/recurrent.py."""
    choose_encoders([leaf.shape for _, leaf in leaves(env.observation_layout)], network, "config.network")
    if recurrent:
        from .recurrent import RecurrentAgent

        return RecurrentAgent(env.observation_layout, env.action_spec, hidden_size, network)
    return Agent(env.observation_layout, env.action_spec, hidden_size, network)


def mask_from_leaf(leaf: torch.Tensor) -> torch.Tensor:
    """The bool mask of an `action_mask` leaf (`> 0.5` = allowed); a row that allows no action
    (a jumanji Snake trapped by its own body, one step before it dies) allows every action, as
    the jax pipeline's `envs.gymnax_vec.action_mask`: a row without a distribution would make
    the update's log-probabilities NaN."""
    mask = leaf > 0.5
    return mask | ~mask.any(dim=-1, keepdim=True)


def action_mask_path(native_dtype, action_spec) -> tuple | None:
    """`("action_mask",)` when `native_dtype` has a top-level leaf `action_mask` with one entry
    per action of a Discrete `action_spec` (then every sample is masked by it), else None."""
    if not isinstance(action_spec, Discrete) or not isinstance(native_dtype, dict):
        return None
    leaf = native_dtype.get(MASK_LEAF)
    if isinstance(leaf, tuple) and len(leaf) == 4 and tuple(leaf[1]) == (action_spec.n,):
        return (MASK_LEAF,)
    return None


class Agent(nn.Module):
    """CleanRL's PPO agent: separate 2-layer tanh MLPs for the critic and the actor, over a CNN
    encoder per image leaf when the observation has any (module docstring).

    native_dtype: the observation layout from `torch_impl.nativize_dtype` (a Leaf or a
        nested dict of Leafs); observations are `(batch, width)` rows of the sample dtype.
    action_spec: a `puffer_backend.spec` action spec (Discrete, MultiDiscrete or Continuous).
    network: "auto", "mlp" or "cnn" (pipelines.networks); `self.network` is what was built,
        "mlp" or "cnn".
    `forward(obs, action=None)` returns `(action, logprob, entropy, value)`, each with a
    leading batch axis (value is `(batch,)`), as CleanRL's `get_action_and_value`.
    Raises TypeError naming `action_spec`, ValueError naming `network`.
    """

    def __init__(self, native_dtype, action_spec, hidden_size: int = 64, network: str = "auto"):
        super().__init__()
        if not isinstance(action_spec, (Discrete, MultiDiscrete, Continuous)):
            raise bad_type("action_spec", "a puffer_backend.spec Discrete, MultiDiscrete or Continuous", action_spec)
        # Functions, not the module: a module attribute would make the agent unpicklable.
        self._nativize_tensor, self._sample_logits = torch_impl.nativize_tensor, torch_impl.sample_logits
        self.native_dtype = native_dtype
        self.action_spec = action_spec
        self._single_leaf = isinstance(native_dtype, tuple) and not isinstance(native_dtype, dict)
        layout = leaves(native_dtype)
        encoders = choose_encoders([leaf.shape for _, leaf in layout], network)
        self.network = "cnn" if any(encoders) else "mlp"
        in_size = flattened_tensor_size(native_dtype) if self.network == "mlp" else sum(
            enc.out_size if enc is not None else math.prod(leaf.shape) for enc, (_, leaf) in zip(encoders, layout))
        self._build_heads(in_size, hidden_size, action_spec.logits_width)
        if isinstance(action_spec, Continuous):
            self.actor_logstd = nn.Parameter(torch.zeros(1, action_spec.logits_width))
        if self.network == "cnn":
            self.encoders = nn.ModuleDict({
                str(i): ConvEncoder(enc, 1.0 / 255.0 if leaf.dtype == torch.uint8 else None)
                for i, (enc, (_, leaf)) in enumerate(zip(encoders, layout)) if enc is not None})
            # (path, encoder key or None) per leaf, in row order
            self._parts = [(path, str(i) if enc is not None else None)
                           for i, (enc, (path, _)) in enumerate(zip(encoders, layout))]
        self._splits = action_spec.head_sizes if isinstance(action_spec, MultiDiscrete) else None
        self._mask_path = action_mask_path(native_dtype, action_spec)
        self._fused = None  # [(weight, bias)] x 3 for rollout_step, see refresh_rollout_weights
        # rollout_step's features of a float32 row that is the one leaf: the rows themselves
        self._rows_are_features = (self._single_leaf and self.network == "mlp" and self._mask_path is None
                                   and native_dtype[0] is torch.float32 and native_dtype[2] == 0
                                   and math.prod(native_dtype[1]) == native_dtype[3])
        self._row_width = native_dtype[3] if self._rows_are_features else None

    def _build_heads(self, in_size: int, hidden_size: int, logits_width: int) -> None:
        """What turns features into logits and values: CleanRL's two MLPs (the recurrent
        agent builds its own)."""
        self.critic = _mlp(in_size, hidden_size, 1, 1.0)
        self.actor = _mlp(in_size, hidden_size, logits_width, 0.01)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """Float32 features `(batch, MLP input)` from packed rows: the leaves flattened (the flat
        agent: `(batch, flattened_tensor_size)`), image leaves through their encoders."""
        return self._features(self._nativize_tensor(obs, self.native_dtype))

    def _features(self, native) -> torch.Tensor:
        if self._single_leaf and self.network == "mlp":
            return native.reshape(native.shape[0], -1).float()
        if self.network == "mlp":
            parts = [_get(native, path) for path, _ in leaves(self.native_dtype)]
            return torch.cat([p.reshape(p.shape[0], -1).float() for p in parts], dim=1)
        parts = []
        for path, key in self._parts:
            x = _get(native, path)
            parts.append(self.encoders[key](x) if key is not None else x.reshape(x.shape[0], -1).float())
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _mask(self, native) -> dict:
        """`sample_logits`'s mask keyword: {} without an action mask (the call stays as it was)."""
        if self._mask_path is None:
            return {}
        return {"mask": mask_from_leaf(_get(native, self._mask_path))}

    def distribution(self, x: torch.Tensor):
        """What `sample_logits` takes: logits, a tuple of logits per head, or a Normal."""
        return self._head(self.actor(x))

    def _head(self, out: torch.Tensor):
        if self._splits is not None:
            return torch.split(out, self._splits, dim=1)
        if isinstance(self.action_spec, Continuous):
            # sample_logits checks loc and scale itself (under the same validate_args flag):
            # torch.distributions' own check of them would cost ~14 us more per call.
            return Normal(out, self.actor_logstd.expand_as(out).exp(), validate_args=False)
        return out

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """Critic value `(batch,)` float32."""
        return self.critic(self.features(obs)).squeeze(1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor | None = None, *,
                deterministic: bool = False, generator: torch.Generator | None = None):
        native = self._nativize_tensor(obs, self.native_dtype)
        x, mask = self._features(native), self._mask(native)
        if deterministic:
            sampled, logprob, ent = self._sample_logits(self.distribution(x), action, deterministic=True, **mask)
        elif generator is not None:
            sampled, logprob, ent = self._sample_logits(self.distribution(x), action, generator=generator, **mask)
        else:
            sampled, logprob, ent = self._sample_logits(self.distribution(x), action, **mask)
        return sampled, logprob, ent, self.critic(x).squeeze(1)

    @torch.no_grad()
    def refresh_rollout_weights(self) -> None:
        """Rebuild the fused copy that `rollout_step` uses from the current weights. Call it
        after every optimizer step that precedes a rollout (the pipelines do, once per
        update): in-place optimizer kernels do not reliably bump version counters, so
        staleness cannot be detected automatically. Nothing to do for a CNN agent (its
        rollouts run `forward`)."""
        if self.network != "mlp":
            return
        a, c = self.actor, self.critic
        self._fused = [(torch.cat([a[0].weight, c[0].weight]), torch.cat([a[0].bias, c[0].bias])),
                       (torch.block_diag(a[2].weight, c[2].weight), torch.cat([a[2].bias, c[2].bias])),
                       (torch.block_diag(a[4].weight, c[4].weight), torch.cat([a[4].bias, c[4].bias]))]

    def rollout_step(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        """Inference fast path for rollouts: `(action, logprob, value)` as `forward` computes
        them, with actor and critic run as one block-diagonal MLP (3 matmuls instead of 6).
        The zero blocks add exact zeros, so results match `forward` to float rounding. Uses
        the weights as of the last `refresh_rollout_weights()`. Call under `torch.no_grad()`
        or `torch.inference_mode()`. A CNN agent runs `forward` (its encoders are shared:
        nothing to fuse)."""
        if self.network != "mlp":
            action, logprob, _, value = self(obs, generator=generator)
            return action, logprob, value
        if self._fused is None:
            self.refresh_rollout_weights()
        (w1, b1), (w2, b2), (w3, b3) = self._fused
        if (self._rows_are_features and type(obs) is torch.Tensor and obs.dtype == torch.float32 and obs.ndim == 2
                and obs.shape[1] == self._row_width and obs.is_contiguous()):
            x, mask = obs, {}  # what nativize_tensor and _features return for them: views of the rows
        else:
            native = self._nativize_tensor(obs, self.native_dtype)
            x, mask = self._features(native), self._mask(native)
        h = F.linear(x, w1, b1).tanh_()
        h = F.linear(h, w2, b2).tanh_()
        out = F.linear(h, w3, b3)
        width = self.action_spec.logits_width
        dist = self._head(out[:, :width])
        if generator is not None:
            action, logprob, _ = self._sample_logits(dist, generator=generator, **mask)
        else:
            action, logprob, _ = self._sample_logits(dist, **mask)
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

