"""The jax learner: advantages, the clipped PPO loss, one optimizer step, the optimizer.

The same PPO as the torch learner (CleanRL's loss; the rules both learners share from
pipelines.rules: Adam's settings, the learning-rate schedule, gradient clipping, advantage
normalization; the advantage rule of pipelines.gae with time limits bootstrapped), written
as pure functions that run inside `jit` and `shard_map`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ... import jax_impl
from ..config import TrainConfig
from ..gae import gae_jax
from ..rules import ADAM_BETAS, ADAM_EPS, clip_coefficient, learning_rate_at, normalized_advantages
from .policy import apply_policy, policy_dist

__all__ = ["make_optimizer", "clip_by_global_norm", "truncated_values", "advantages_and_returns", "ppo_loss",
           "minibatch_step", "FlatAdam", "FlatState", "flat_adam", "flat_minibatch_step"]

ADAM_B1, ADAM_B2 = ADAM_BETAS


def _learning_rate(config: TrainConfig, num_updates: int):
    """The learning rate as a function of the optimizer step count (or a constant):
    pipelines.rules' schedule, stepped once per update."""
    if not config.anneal_lr:
        return config.learning_rate
    steps_per_update = config.update_epochs * config.num_minibatches

    def lr(count):
        return learning_rate_at(count // steps_per_update + 1, num_updates, config.learning_rate)
    return lr


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
    """optax's `clip_by_global_norm` with pipelines.rules' formula (torch's): every gradient
    scaled by `min(1, max_norm / (norm + 1e-6))`. Stateless (its state is optax's EmptyState,
    as optax's own clip has, so checkpoints keep their tree)."""
    def update(updates, state, params=None):
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(updates)))
        scale = clip_coefficient(norm, max_norm)
        return jax.tree.map(lambda g: g * scale, updates), state
    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(config: TrainConfig, num_updates: int):
    """optax: the gradient clip, then Adam, lr by the schedule (pipelines.rules' settings)."""
    return optax.chain(clip_by_global_norm(config.max_grad_norm),
                       optax.adam(_learning_rate(config, num_updates), b1=ADAM_B1, b2=ADAM_B2, eps=ADAM_EPS))


class FlatState(NamedTuple):
    """make_optimizer's params and Adam moments as flat float32 vectors `(size,)`, plus the step count."""
    params: jax.Array
    mu: jax.Array
    nu: jax.Array
    count: jax.Array  # () int32


class FlatAdam(NamedTuple):
    """make_optimizer's optimizer on flat vectors: the same clip and Adam arithmetic in a
    few whole-vector ops instead of a dozen per parameter leaf (on XLA:CPU each small op
    costs more than its arithmetic: about a third of a minibatch step).

    pack(params, opt_state) -> FlatState; unpack(FlatState, opt_state) -> (params, opt_state)
    in make_optimizer's trees; step(FlatState, grad `(size,)`) -> FlatState; unravel(flat) -> params.
    """
    pack: Callable
    unpack: Callable
    step: Callable
    unravel: Callable


def _unravel_for(params) -> Callable:
    """ravel_pytree's `unravel` for trees shaped like `params`, from an abstract trace: built
    from the shapes alone, where concrete zeros would run a dozen small programs at start-up."""
    unravel = []

    def ravel(tree):
        flat, fn = ravel_pytree(tree)
        unravel.append(fn)  # static: the leaves' sizes and shapes, no tracer
        return flat

    jax.eval_shape(ravel, params)
    return unravel[0]


def flat_adam(config: TrainConfig, num_updates: int, params) -> FlatAdam | None:
    """A FlatAdam for params shaped like `params` (a tree of float32 arrays or their
    `jax.ShapeDtypeStruct`s), stepping as `make_optimizer(config, num_updates)`; None when
    some leaf is not float32 (then use optax)."""
    leaves = jax.tree.leaves(params)
    if not leaves or any(x.dtype != jnp.float32 for x in leaves):
        return None
    unravel = _unravel_for(params)
    lr = _learning_rate(config, num_updates)
    max_norm = config.max_grad_norm

    def pack(params, opt_state) -> FlatState:
        _, (adam, _) = opt_state
        flat = lambda tree: ravel_pytree(tree)[0]  # noqa: E731
        return FlatState(flat(params), flat(adam.mu), flat(adam.nu), adam.count)

    def unpack(state: FlatState, opt_state):
        clip, (adam, schedule) = opt_state
        adam = adam._replace(count=state.count, mu=unravel(state.mu), nu=unravel(state.nu))
        if "count" in getattr(schedule, "_fields", ()):  # both counts advance once per step
            schedule = schedule._replace(count=state.count)
        return unravel(state.params), (clip, (adam, schedule))

    def step(state: FlatState, grad) -> FlatState:
        grad = grad * clip_coefficient(jnp.sqrt(jnp.sum(grad * grad)), max_norm)
        rate = lr(state.count) if callable(lr) else lr  # the schedule reads the count before the step
        count = state.count + 1
        mu = ADAM_B1 * state.mu + (1.0 - ADAM_B1) * grad
        nu = ADAM_B2 * state.nu + (1.0 - ADAM_B2) * grad * grad
        t = count.astype(jnp.float32)
        update = (mu / (1.0 - ADAM_B1 ** t)) / (jnp.sqrt(nu / (1.0 - ADAM_B2 ** t)) + ADAM_EPS)
        return FlatState(state.params - rate * update, mu, nu, count)

    return FlatAdam(pack, unpack, step, unravel)


def truncated_values(value_fn, final_obs, truncated, max_rows: int):
    """`value_fn(final_obs)` where `truncated`, 0 elsewhere: `(time, envs)`.

    value_fn maps `(rows, obs_dim)` to `(rows,)`; it runs on `max_rows` gathered rows, not
    on all of them, so `max_rows` must bound the number of truncated entries (an env
    truncates at most once per episode-length limit).
    """
    flat = truncated.reshape(-1)
    rows = min(flat.shape[0], max_rows)
    index = jnp.nonzero(flat, size=rows, fill_value=0)[0]
    values = value_fn(final_obs.reshape((-1,) + final_obs.shape[2:])[index])
    used = jnp.arange(rows) < flat.sum()  # the padding repeats index 0: add nothing there
    out = jnp.zeros(flat.shape, values.dtype).at[index].add(jnp.where(used, values, 0.0))
    return out.reshape(truncated.shape)


def advantages_and_returns(value_fn, rewards, values, dones, truncated, final_obs, last_value, config: TrainConfig,
                           max_truncations: int):
    """(advantages, returns) `(time, envs)` of a rollout by pipelines.gae's rule: GAE with
    `dones` (terminated or truncated), each time limit (`truncated`) bootstrapped with
    `value_fn(final_obs)`. `max_truncations` bounds the truncated entries (see truncated_values)."""
    # One batched critic pass after the rollout (per step, XLA:CPU's per-op overhead costs
    # more than the arithmetic), on the truncated rows only.
    limit_values = truncated_values(value_fn, final_obs, truncated, max_truncations)
    adv = gae_jax(rewards, values, dones, last_value, config.gamma, config.gae_lambda, limit_values)
    return adv, adv + values


def _builtin_apply(params, obs):
    out, value = apply_policy(params, obs)
    return policy_dist(params, out), value


def ppo_loss(params, minibatch, key, config: TrainConfig, axis_name: str | None = None, apply=None, mask_fn=None):
    """CleanRL's PPO loss on one minibatch; returns (loss, (pg_loss, v_loss, entropy, approx_kl,
    clipfrac)), clipfrac: the fraction of samples with |ratio - 1| > clip_coef (as the torch learner's).

    minibatch: (obs, action, old_logprob, old_value, advantage, return), leading axis batch.
    axis_name: inside `shard_map`, the mesh axis over which the advantages are normalized
    (the statistics of the global minibatch); None normalizes over this minibatch alone.
    apply: `(params, obs) -> (dist_input, value)` (policy.JaxPolicy.apply); None: the built-in policy.
    mask_fn: `obs -> mask` of an env with an action mask (the rollout sampled under it), else None.
    """
    obs, action, old_logprob, old_value, adv, ret = minibatch
    dist, value = (apply or _builtin_apply)(params, obs)
    mask = None if mask_fn is None else mask_fn(obs)
    _, logprob, entropy = jax_impl.sample_logits(key, dist, action, mask=mask)
    logratio = logprob - old_logprob
    ratio = jnp.exp(logratio)
    if config.norm_adv:
        if axis_name is None:
            adv = normalized_advantages(adv)
        else:  # the global minibatch's statistics, on every device
            adv = normalized_advantages(adv, lambda x: jax.lax.pmean(x, axis_name),
                                        adv.shape[0] * jax.lax.axis_size(axis_name))
    pg_loss = jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1 - config.clip_coef, 1 + config.clip_coef)).mean()
    if config.clip_vloss:
        clipped = old_value + jnp.clip(value - old_value, -config.clip_coef, config.clip_coef)
        v_loss = 0.5 * jnp.maximum((value - ret) ** 2, (clipped - ret) ** 2).mean()
    else:
        v_loss = 0.5 * ((value - ret) ** 2).mean()
    ent = entropy.mean()
    loss = pg_loss - config.ent_coef * ent + config.vf_coef * v_loss
    approx_kl = ((ratio - 1.0) - logratio).mean()
    clipfrac = (jnp.abs(ratio - 1.0) > config.clip_coef).astype(jnp.float32).mean()
    return loss, (pg_loss, v_loss, ent, approx_kl, jax.lax.stop_gradient(clipfrac))


def minibatch_step(params, opt_state, minibatch, key, config: TrainConfig, tx, axis_name: str | None = None,
                   apply=None, mask_fn=None):
    """One optimizer step on one minibatch -> (params, opt_state, stacked loss terms `(5,)`).

    Inside `shard_map` with `axis_name`, each device holds its slice of the minibatch and the
    gradient is averaged over devices (`pmean`): the gradient of the whole minibatch's loss.
    apply, mask_fn: as ppo_loss's.
    """
    (_, aux), grads = jax.value_and_grad(ppo_loss, has_aux=True)(params, minibatch, key, config, axis_name, apply,
                                                                 mask_fn)
    aux = jnp.stack(aux)
    if axis_name is not None:
        grads = jax.lax.pmean(grads, axis_name)
        aux = jax.lax.pmean(aux, axis_name)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, aux


def flat_minibatch_step(state: FlatState, minibatch, key, config: TrainConfig, adam: FlatAdam,
                        axis_name: str | None = None, apply=None, mask_fn=None):
    """minibatch_step on flat params: -> (FlatState, stacked loss terms `(5,)`). The same
    loss, gradient average over `axis_name` and optimizer step (FlatAdam)."""
    def loss(flat):
        return ppo_loss(adam.unravel(flat), minibatch, key, config, axis_name, apply, mask_fn)

    (_, aux), grad = jax.value_and_grad(loss, has_aux=True)(state.params)
    aux = jnp.stack(aux)
    if axis_name is not None:
        grad = jax.lax.pmean(grad, axis_name)
        aux = jax.lax.pmean(aux, axis_name)
    return adam.step(state, grad), aux
