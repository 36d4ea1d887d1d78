"""The PPO update's rules, each written once and used by both learners (torch and JAX).

CleanRL's ppo.py decides them; every function here is plain arithmetic on whatever array it
is given (Python numbers, torch tensors, JAX arrays, traced or not), so the torch learner
(pipelines.torch.learner) and the jax learner (pipelines.jax.learner) call the same formula:
- Adam's settings: betas (0.9, 0.999), eps 1e-5;
- the learning-rate schedule: linear from `learning_rate` to 0 over the run, stepped once
  per update (`learning_rate_at`);
- gradient clipping: every gradient scaled by `min(1, max_norm / (norm + 1e-6))`, norm the
  global L2 norm of all gradients (torch's `clip_grad_norm_`, which CleanRL calls);
- advantage normalization: per minibatch, `(adv - mean) / (std + 1e-8)` with the unbiased
  std (CleanRL's `adv.std()`), over the global minibatch when it is split over devices.
The time-limit bootstrap is pipelines.gae's, the save cadence and the run summary are
pipelines.training_run's. Framework-free; tested against torch's and optax's own
implementations and across the two learners (tests/pipelines/test_rules.py).
"""
from __future__ import annotations

__all__ = ["ADAM_BETAS", "ADAM_EPS", "GRAD_NORM_EPS", "ADVANTAGE_EPS", "learning_rate_at", "clip_coefficient",
           "normalized_advantages"]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-5
GRAD_NORM_EPS = 1e-6
ADVANTAGE_EPS = 1e-8


def learning_rate_at(update, num_updates: int, learning_rate: float, anneal: bool = True):
    """The learning rate of update `update` (counting from 1, an int or an integer array):
    `(1 - (update - 1) / num_updates) * learning_rate`, or `learning_rate` without annealing."""
    if not anneal:
        return learning_rate
    return (1.0 - (update - 1) / num_updates) * learning_rate


def clip_coefficient(norm, max_norm: float):
    """The factor that gradient clipping scales every gradient by, given their global L2 norm
    (a 0-d tensor or array): `min(1, max_norm / (norm + 1e-6))`."""
    return (max_norm / (norm + GRAD_NORM_EPS)).clip(max=1.0)


def _identity(x):
    return x


def normalized_advantages(adv, global_mean=_identity, rows: int | None = None):
    """`(adv - mean) / (std + 1e-8)` of a minibatch's advantages `(rows,)`, std unbiased.

    Split over devices (inside `shard_map`), `global_mean` averages a per-device mean over
    them (`jax.lax.pmean`) and `rows` is the global minibatch's size, so every device uses the
    global minibatch's statistics; by default this minibatch alone.
    """
    rows = adv.shape[0] if rows is None else rows
    mean = global_mean(adv.mean())
    var = global_mean(((adv - mean) ** 2).mean()) * (rows / (rows - 1))
    return (adv - mean) / (var ** 0.5 + ADVANTAGE_EPS)
