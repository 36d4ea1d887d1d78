"""A user's torch policy in the torch and mixed pipelines (docs/pipelines-custom.md).

The interface, PufferLib's shape: a `torch.nn.Module` with
    policy(obs) -> (dist_input, value)
obs: `(batch, width)` rows, as the pipeline's env gives them (torch: the packed rows of the
sample dtype, to unpack with `nativize_tensor(obs, nativize_dtype(observation_space))`;
mixed: float32 rows of the flattened gymnax observation, normalized when `norm_obs`).
dist_input: what `torch_impl.sample_logits` takes: logits `(batch, n)` for Discrete
actions, a tuple of head logits for MultiDiscrete, a `torch.distributions.Normal` over
`(batch, width)` for Box actions. value: `(batch,)` or `(batch, 1)`. An optional
`get_value(obs) -> value` is used for the bootstrap values when present.
`UserPolicy` wraps it into what the learner calls (`forward(obs, action)` returning
action, logprob, entropy and value; `get_value`; `rollout_step`): the plain path, without
the built-in agent's fused rollout MLP. Given the env's observation layout, it masks every
sample by the observation's `action_mask` leaf as the built-in agent does (torch/policy.py):
the policy's logits need not mask themselves.
"""
from __future__ import annotations

import torch
from torch import nn

from puffer_backend import torch_impl
from puffer_backend.spec import Continuous, bad_type, bad_value

from ..rules import ADAM_BETAS, ADAM_EPS
from .policy import action_mask_path, mask_from_leaf

__all__ = ["UserPolicy", "check_policy_actions", "check_dist_width", "make_user_optimizer"]


class UserPolicy(nn.Module):
    """Drives `policy(obs) -> (dist_input, value)` with the calls the learner makes."""

    def __init__(self, policy: nn.Module, observation_layout=None, action_spec=None):
        super().__init__()
        if not isinstance(policy, nn.Module):
            raise bad_type("policy", "a torch.nn.Module with policy(obs) -> (dist_input, value)", policy)
        self.policy = policy
        # Functions, not the module: a module attribute would make the wrapper unpicklable.
        self._sample_logits, self._nativize_tensor = torch_impl.sample_logits, torch_impl.nativize_tensor
        self._layout, self._mask_path = None, None
        if observation_layout is not None:
            self.use_action_mask(observation_layout, action_spec)

    def use_action_mask(self, observation_layout, action_spec) -> None:
        """Mask every sample by the observation's top-level `action_mask` leaf (`> 0.5` =
        allowed) when `observation_layout` (the env's `nativize_dtype` layout) has one with an
        entry per action of a Discrete `action_spec`; otherwise sample as the policy says."""
        self._layout = observation_layout
        self._mask_path = action_mask_path(observation_layout, action_spec)

    def forward(self, obs: torch.Tensor, action: torch.Tensor | None = None, *,
                deterministic: bool = False, generator: torch.Generator | None = None):
        dist, value = self.policy(obs)
        mask = {}
        if self._mask_path is not None:
            mask = {"mask": mask_from_leaf(self._nativize_tensor(obs, self._layout)[self._mask_path[0]])}
        if deterministic:
            sampled, logprob, entropy = self._sample_logits(dist, action, deterministic=True, **mask)
        elif generator is not None:
            sampled, logprob, entropy = self._sample_logits(dist, action, generator=generator, **mask)
        else:
            sampled, logprob, entropy = self._sample_logits(dist, action, **mask)
        return sampled, logprob, entropy, _values(value, obs.shape[0])

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs) `(batch,)`: the policy's `get_value` when it has one, else its second output."""
        get_value = getattr(self.policy, "get_value", None)
        value = get_value(obs) if get_value is not None else self.policy(obs)[1]
        return _values(value, obs.shape[0])

    def refresh_rollout_weights(self) -> None:
        """Nothing to refresh: a user's policy has no fused rollout copy."""

    def rollout_step(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        action, logprob, _, value = self(obs, generator=generator)
        return action, logprob, value


def _values(value, batch: int) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or tuple(value.shape) not in ((batch,), (batch, 1)):
        raise bad_value("policy", f"a value of shape ({batch},) or ({batch}, 1) as its second output",
                        f"{type(value).__name__} of shape {tuple(getattr(value, 'shape', ()))}")
    return value.reshape(batch)


def check_policy_actions(model: UserPolicy, obs: torch.Tensor, action_spec) -> None:
    """Run the policy once on `obs` and check its distribution's width (logits per action,
    per head, or the Normal's width) and its sampled actions (shape and dtype) against the
    env's action spec, so that a policy built for another action space fails here, with its
    reason, rather than training (an action without its logit is never taken) or failing
    inside the env. ValueError naming `policy`."""
    with torch.no_grad():
        dist, _ = model.policy(obs)
        check_dist_width(dist, obs.shape[0], action_spec)
        action, _, _, _ = model(obs)
    want_dtype = torch.float32 if isinstance(action_spec, Continuous) else torch.int64
    want_shape = (obs.shape[0], *action_spec.action_shape)
    if tuple(action.shape) != want_shape or action.dtype != want_dtype:
        head = ("a Normal over" if isinstance(action_spec, Continuous)
                else "logits (a tuple of head logits for MultiDiscrete) giving")
        raise bad_value("policy", f"{head} actions of shape {want_shape} {want_dtype} for the env's {action_spec}",
                        f"actions of shape {tuple(action.shape)} {action.dtype}")


def check_dist_width(dist, batch: int, action_spec) -> None:
    """`dist` (a policy's first output) has the widths `action_spec` asks for: logits
    `(batch, n)` for Discrete(n), one `(batch, n_i)` per head for MultiDiscrete, a Normal over
    `(batch, width)` for Continuous. ValueError naming `policy` otherwise."""
    if isinstance(action_spec, Continuous):
        want = (batch, action_spec.logits_width)
        loc = getattr(dist, "loc", None)
        got = tuple(loc.shape) if isinstance(loc, torch.Tensor) else None
        if got != want:
            raise bad_value("policy", f"a torch.distributions.Normal over {want} for the env's {action_spec}",
                            f"a Normal over {got}" if got is not None
                            else f"a tensor of shape {tuple(dist.shape)}, not a Normal" if isinstance(dist, torch.Tensor)
                            else f"a {type(dist).__name__}")
        return
    heads = action_spec.head_sizes
    want_shapes = [(batch, n) for n in heads]
    many = isinstance(dist, (tuple, list))
    got = ([tuple(getattr(head, "shape", ())) for head in dist] if many
           else [tuple(dist.shape)] if isinstance(dist, torch.Tensor) else None)
    if got != want_shapes:
        want = "logits of shape " + (str(want_shapes[0]) if len(heads) == 1 else
                                     f"{', '.join(map(str, want_shapes))} (a tuple, one per head)")
        shown = (f"a {type(dist).__name__}" if got is None
                 else f"logits of shape {', '.join(map(str, got)) if many else got[0]}")
        raise bad_value("policy", f"{want}: one logit per action of the env's {action_spec}", shown)


def make_user_optimizer(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """Adam (pipelines.rules' settings) over the parameters as they are (the built-in agent's flat
    parameter buffer needs one dtype and would replace the user's tensors with views)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise bad_value("policy", "a module with trainable parameters", "one with none")
    return torch.optim.Adam(params, lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS)
