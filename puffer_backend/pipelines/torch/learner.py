"""Rollout storage and the clipped PPO update of the torch learner (torch and mixed pipelines).

The math is CleanRL's ppo.py line for line (clipped value loss, one Adam optimizer over actor
and critic), with the rules both learners share from pipelines.rules (Adam's settings, the
learning-rate schedule, gradient clipping, advantage normalization) and the advantages of
pipelines.gae (time limits bootstrapped);
the speed comes from preallocated buffers (on the run's device), one shuffle per epoch instead
of one gather per minibatch, GAE on numpy views of the torch buffers (no autograd, no per-step
tensors; a host copy per rollout off the CPU), and
parameters and gradients kept as views of one flat tensor for the optimizer and the clip.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...spec.errors import bad_value
from ..gae import gae_numpy
from ..rules import ADAM_BETAS, ADAM_EPS, clip_coefficient, learning_rate_at, normalized_advantages

__all__ = ["RolloutBuffer", "minibatch_loss", "ppo_loss_terms", "ppo_update", "update_losses", "step_optimizer", "optimizer_arrays", "load_optimizer_arrays", "make_optimizer",
           "flatten_parameters", "clip_gradients_", "fused_adam_step", "anneal_learning_rate", "parameters_finite"]


class RolloutBuffer:
    """Preallocated `(num_steps, num_envs, ...)` storage for one rollout.

    obs: packed rows of the sample dtype; actions: int64 (discrete) or float32 (continuous);
    logprobs, values, rewards: float32; dones: float32, 1.0 where the episode ended at step t;
    limit_values: float32, V(final obs) where step t hit a time limit, 0 elsewhere (the
    convention of pipelines.gae). advantages and returns are filled by `finish`.
    """

    def __init__(self, num_steps: int, num_envs: int, obs_width: int, obs_dtype: torch.dtype,
                 action_shape: tuple, action_dtype: torch.dtype, device: torch.device | str = "cpu"):
        t, n = num_steps, num_envs
        self.device = torch.device(device)
        on = {"device": self.device}
        self.obs = torch.zeros((t, n, obs_width), dtype=obs_dtype, **on)
        self.actions = torch.zeros((t, n, *action_shape), dtype=action_dtype, **on)
        self.logprobs = torch.zeros((t, n), **on)
        self.rewards = torch.zeros((t, n), **on)
        self.dones = torch.zeros((t, n), **on)
        self.values = torch.zeros((t, n), **on)
        self.limit_values = torch.zeros((t, n), **on)
        self.advantages = torch.zeros((t, n), **on)
        self.returns = torch.zeros((t, n), **on)
        # Each step's rows as views made once: a copy_ into a ready view costs less than
        # indexing per step (and than numpy views on CPU), on any device.
        self._rows = [(self.obs[i], self.actions[i], self.logprobs[i], self.values[i]) for i in range(t)]

    def store_step(self, t: int, obs: torch.Tensor, action: torch.Tensor, logprob: torch.Tensor,
                   value: torch.Tensor) -> None:
        """Write step t's observation rows, actions, log-probabilities and values (tensors on the
        buffer's device: no host synchronization)."""
        obs_rows, actions, logprobs, values = self._rows[t]
        obs_rows.copy_(obs)
        actions.copy_(action)
        logprobs.copy_(logprob)
        values.copy_(value)

    def store_end(self, end, limit_values: torch.Tensor | None) -> None:
        """Take a rollout's rewards and dones (envs.contract.RolloutEnd) and the critic's values of its
        time limits' final observations `(k,)` (None when there were none)."""
        self.rewards.copy_(end.rewards)
        self.dones.copy_(end.dones)
        self.limit_values.zero_()
        if limit_values is not None:
            self.limit_values[end.time_limits] = limit_values

    def finish(self, last_value: torch.Tensor, gamma: float, gae_lambda: float):
        """Fill advantages and returns in place (pipelines.gae, time limits bootstrapped);
        `last_value` is V of the observation after the last step, `(num_envs,)`. Off the CPU
        the scan runs on a host copy (one copy each way per rollout, the same arithmetic)."""
        if self.device.type == "cpu":
            gae_numpy(self.rewards.numpy(), self.values.numpy(), self.dones.numpy(), last_value.numpy(), gamma,
                      gae_lambda, out=self.advantages.numpy(), limit_values=self.limit_values.numpy())
        else:
            rewards, values, dones, limits = torch.stack(
                [self.rewards, self.values, self.dones, self.limit_values]).cpu().numpy()
            advantages = gae_numpy(rewards, values, dones, last_value.cpu().numpy(), gamma, gae_lambda,
                                   limit_values=limits)
            self.advantages.copy_(torch.from_numpy(advantages))
        torch.add(self.advantages, self.values, out=self.returns)


def flatten_parameters(model: nn.Module) -> nn.Parameter:
    """Make every parameter of `model` a view of one flat Parameter, and every gradient a view of
    that Parameter's gradient; returns the flat Parameter.

    An optimizer over the flat Parameter alone does the same arithmetic as over the model's
    tensors, but as one tensor: Adam's step, the gradient norm and the clip are a few ops
    instead of a few per tensor (per-op overhead, not arithmetic, is the cost for these
    small networks). Backward accumulates in place into the gradient views; reset them with
    `zero_grad(set_to_none=False)` (set_to_none would detach the views).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise bad_value("model", "a module with trainable parameters", "one with none")
    dtypes = {(p.dtype, p.device) for p in params}
    if len(dtypes) != 1:
        raise bad_value("model", "parameters of one dtype and device", str(sorted(map(str, dtypes))))
    flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    flat.grad = torch.zeros_like(flat)
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.data = flat.data[offset:offset + n].view_as(p)
            p.grad = flat.grad[offset:offset + n].view_as(p)
            offset += n
    return flat


def clip_gradients_(grads: list, max_norm: float) -> torch.Tensor:
    """Scale `grads` in place by pipelines.rules' clip coefficient of their global L2 norm (the
    formula of `nn.utils.clip_grad_norm_`; for one flat gradient a few ops instead of its
    per-call Python). Returns the norm before clipping."""
    if len(grads) == 1:
        norm = torch.linalg.vector_norm(grads[0])
    else:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = clip_coefficient(norm, max_norm)
    for grad in grads:
        grad.mul_(scale)
    return norm


def make_optimizer(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """Adam (pipelines.rules' settings) over the model's parameters flattened into one tensor
    (`flatten_parameters`), with the fused CPU kernel: the same algorithm in a few calls per
    step."""
    return torch.optim.Adam([flatten_parameters(model)], lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS,
                            fused=True)


def anneal_learning_rate(optimizer, update: int, num_updates: int, learning_rate: float) -> float:
    """Set the learning rate of update `update` (counting from 1) by pipelines.rules' schedule."""
    lr = learning_rate_at(update, num_updates, learning_rate)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def minibatch_loss(model: nn.Module, obs, actions, old_logprob, adv, ret, old_value, config):
    """CleanRL's clipped PPO loss on one minibatch: (loss, pg_loss, v_loss, entropy, approx_kl,
    clipfrac), all 0-d; only `loss` carries a gradient. One function, so that `--compile` can
    compile the forward, the loss and (through AOTAutograd) their backward as one graph."""
    _, newlogprob, entropy, newvalue = model(obs, actions)
    return ppo_loss_terms(newlogprob, entropy, newvalue, old_logprob, adv, ret, old_value, config)


def ppo_loss_terms(newlogprob, entropy, newvalue, old_logprob, adv, ret, old_value, config):
    """`minibatch_loss` from the policy's outputs on the minibatch (`(rows,)` each): the same
    tuple. The recurrent update computes them from a re-run segment (torch/recurrent.py)."""
    clip = config.clip_coef
    logratio = newlogprob - old_logprob
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip).float().mean()
    if config.norm_adv:
        adv = normalized_advantages(adv)
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
    if config.clip_vloss:
        v_unclipped = (newvalue - ret) ** 2
        v_clipped = old_value + torch.clamp(newvalue - old_value, -clip, clip)
        v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - ret) ** 2).mean()
    else:
        v_loss = 0.5 * ((newvalue - ret) ** 2).mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - config.ent_coef * entropy_loss + v_loss * config.vf_coef
    return loss, pg_loss.detach(), v_loss.detach(), entropy_loss.detach(), approx_kl, clipfrac


def ppo_update(model: nn.Module, optimizer: torch.optim.Optimizer, buf: RolloutBuffer, config,
               generator: torch.Generator, loss_fn=minibatch_loss) -> dict:
    """`update_epochs` passes of clipped PPO over the flattened rollout.

    loss_fn: `minibatch_loss` or a compiled version of it (`--compile`).
    Returns the last minibatch's losses and approx_kl (what CleanRL logs) and the mean clipfrac.
    """
    batch = buf.rewards.numel()
    mb_size = batch // config.num_minibatches
    b_obs = buf.obs.reshape(batch, -1)
    b_actions = buf.actions.reshape(batch, *buf.actions.shape[2:])
    flat = torch.stack([buf.logprobs.reshape(-1), buf.advantages.reshape(-1),
                        buf.returns.reshape(-1), buf.values.reshape(-1)])
    params = [p for group in optimizer.param_groups for p in group["params"]]
    flat_param = _flat_parameter(params)
    clipfracs = []
    for _ in range(config.update_epochs):
        perm = torch.randperm(batch, generator=generator, device=generator.device)
        # One gather per epoch; minibatches are then contiguous slices (views).
        e_obs, e_actions, e_flat = b_obs[perm], b_actions[perm], flat[:, perm]
        for start in range(0, batch - mb_size + 1, mb_size):
            end = start + mb_size
            old_logprob, adv, ret, old_value = e_flat[:, start:end]
            loss, pg_loss, v_loss, entropy_loss, approx_kl, clipfrac = loss_fn(
                model, e_obs[start:end], e_actions[start:end], old_logprob, adv, ret, old_value, config)
            clipfracs.append(clipfrac)
            step_optimizer(optimizer, params, loss, config.max_grad_norm, flat_param)
    return update_losses(pg_loss, v_loss, entropy_loss, approx_kl, clipfracs)


def update_losses(pg_loss, v_loss, entropy_loss, approx_kl, clipfracs: list) -> dict:
    """What an update reports: the last minibatch's losses and approx_kl (as CleanRL logs them)
    and the mean clip fraction over its minibatches."""
    return {
        "policy_loss": pg_loss.item(),
        "value_loss": v_loss.item(),
        "entropy": entropy_loss.item(),
        "approx_kl": approx_kl.item(),
        "clipfrac": torch.stack(clipfracs).mean().item(),
    }


def _flat_parameter(params: list):
    """The flat Parameter of `make_optimizer` when the optimizer steps one, else None (any other list)."""
    return params[0] if len(params) == 1 and params[0].grad is not None else None


def step_optimizer(optimizer: torch.optim.Optimizer, params: list, loss: torch.Tensor, max_grad_norm: float,
                   flat_param=False) -> None:
    """Backward `loss`, clip the gradients (pipelines.rules), step. params: the optimizer's
    parameters; flat_param: `_flat_parameter(params)` (found here when not given)."""
    if flat_param is False:
        flat_param = _flat_parameter(params)
    if flat_param is not None:
        flat_param.grad.zero_()  # in place: the model's gradients are views of it
        loss.backward()
        clip_gradients_([flat_param.grad], max_grad_norm)
        if fused_adam_step(optimizer, flat_param):
            return
    else:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients_([p.grad for p in params if p.grad is not None], max_grad_norm)
    optimizer.step()


# The settings under which Adam.step(), for make_optimizer's one flat Parameter, is one
# `torch._fused_adam_` call and a step count increment.
_PLAIN_FUSED_ADAM = {"fused": True, "amsgrad": False, "maximize": False, "differentiable": False,
                     "capturable": False, "decoupled_weight_decay": False, "foreach": None}
# Every key of that Adam's param group: a torch that adds an option falls back to step().
_KNOWN_ADAM_KEYS = frozenset(_PLAIN_FUSED_ADAM) | {"params", "lr", "betas", "eps", "weight_decay"}


def fused_adam_step(optimizer: torch.optim.Optimizer, flat_param) -> bool:
    """`optimizer.step()` of make_optimizer's Adam as the two kernel calls it makes, without
    its per-call Python (hooks, grouping by device, argument checks: ~0.1 ms, ten times the
    arithmetic for this flat Parameter of a few thousand floats): the same kernel on the same
    tensors, so the same bits. Returns False, doing nothing, for any other optimizer or setting
    (and before the first step, which creates the state); the caller then calls step()."""
    if type(optimizer) is not torch.optim.Adam or not hasattr(torch, "_fused_adam_"):
        return False
    if len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    state = optimizer.state.get(flat_param)
    if not state or "step" not in state or not group.keys() <= _KNOWN_ADAM_KEYS:
        return False
    if any(group.get(k) != v for k, v in _PLAIN_FUSED_ADAM.items()):
        return False
    lr = group["lr"]
    if isinstance(lr, torch.Tensor) or flat_param.grad is None or flat_param.grad.is_sparse:
        return False
    beta1, beta2 = group["betas"]
    step = state["step"]
    with torch.no_grad():  # step() runs without autograd too
        torch._foreach_add_([step], 1)
        torch._fused_adam_([flat_param], [flat_param.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [step],
                           amsgrad=False, lr=lr, beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                           eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)
    return True


def parameters_finite(optimizer: torch.optim.Optimizer) -> bool:
    """Whether every parameter the optimizer steps is finite (one reduction for the flat Parameter)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def optimizer_arrays(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """(arrays, facts) of an optimizer's state for a checkpoint: per parameter index its state
    tensors as numpy (`"0/exp_avg"`, ...), and the param groups' hyperparameters (JSON)."""
    state = optimizer.state_dict()
    arrays = {f"{index}/{name}": value.detach().cpu().numpy().copy()
              for index, entries in state["state"].items() for name, value in entries.items()
              if isinstance(value, torch.Tensor)}
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
              for group in state["param_groups"]]
    return arrays, {"optimizer": type(optimizer).__name__, "param_groups": groups}


def load_optimizer_arrays(optimizer: torch.optim.Optimizer, arrays: dict, facts: dict) -> None:
    """Restore what `optimizer_arrays` saved into an optimizer over the same parameters: the
    state tensors (copied: Adam's moments and its step count) and the groups' hyperparameters.
    Raises ValueError when the saved state is of another optimizer or another parameter count."""
    if facts.get("optimizer") != type(optimizer).__name__:
        raise bad_value("checkpoint", f"the state of a {type(optimizer).__name__} optimizer",
                        f"one of {facts.get('optimizer')!r}")
    current = optimizer.state_dict()
    saved_groups = facts.get("param_groups", [])
    if len(saved_groups) != len(current["param_groups"]):
        raise bad_value("checkpoint", f"{len(current['param_groups'])} optimizer parameter groups",
                        str(len(saved_groups)))
    groups = [{**group, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()},
               "params": group["params"]} for group, saved in zip(current["param_groups"], saved_groups)]
    params = [p for group in current["param_groups"] for p in group["params"]]
    shapes = [tuple(p.shape) for group in optimizer.param_groups for p in group["params"]]
    state: dict = {}
    for key, value in arrays.items():
        index, _, name = key.partition("/")
        if not index.isdigit() or int(index) not in params:
            raise bad_value("checkpoint", f"optimizer state of parameters 0 to {len(params) - 1}",
                            f"optimizer/{key}")
        if np.ndim(value) and np.shape(value) != shapes[params.index(int(index))]:
            raise bad_value("checkpoint", f"optimizer/{key} of shape {shapes[params.index(int(index))]}",
                            f"shape {np.shape(value)}")
        state.setdefault(int(index), {})[name] = torch.tensor(value)  # a copy: checkpoint arrays may be read-only
    names = {frozenset(entries) for entries in state.values()}
    if state and (len(state) != len(params) or len(names) != 1):
        # A partial state would restart some moments from zero without a word.
        raise bad_value("checkpoint", f"the same optimizer state for each of the {len(params)} parameters",
                        f"state for {len(state)} of them, with names {sorted(map(sorted, names))}")
    optimizer.load_state_dict({"state": state, "param_groups": groups})
