"""The jax pipeline's program: rollout and update of PPO as one jitted chunk of updates.

`make_program(config)` builds `init(key) -> RunnerState` and `chunk(n)`: `n` updates as one
jitted `lax.scan` (updates > rollout steps, epochs > minibatches), keys threaded explicitly,
PureJaxRL-style. Data parallel: the chunk is a `shard_map` over a 1-d mesh of all local
devices (axis `data`). Envs (and so the batch) are split across devices, params and
optimizer state are replicated, gradients are averaged with `pmean`. One device is the same
program. Several hosts: call `jax.distributed.initialize()` before; see docs/pipelines-jax.md.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ... import jax_impl
from ...spec.errors import bad_type, bad_value
from ..config import TrainConfig, check_positive_int
from ..envs.gymnax_vec import EnvSpec, VecEnv, make_env
from ..episodes import JaxEpisodeStats, jax_stats_init, jax_stats_mean, jax_stats_update
from .learner import advantages_and_returns, make_optimizer, minibatch_step
from .policy import apply_fused, apply_policy, fuse_policy, init_params, policy_dist

__all__ = ["AXIS", "METRICS", "RunnerState", "PPOProgram", "make_mesh", "make_program", "metrics_dict", "plan_chunks"]

AXIS = "data"  # the mesh axis that envs and the batch are split over


class RunnerState(NamedTuple):
    params: Any
    opt_state: Any
    env_state: Any       # per env, split over devices
    obs: jax.Array       # (num_envs, obs_dim), split over devices
    stats: JaxEpisodeStats  # running returns split over devices; the recent-returns ring replicated
    keys: jax.Array      # (num_devices, 2): one PRNG key per device
    update: jax.Array    # () int32: updates done so far


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    logprob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array


class PPOProgram(NamedTuple):
    """The pieces of one PPO run: `init(key) -> RunnerState` (placed on `mesh`) and
    `run_chunk(state) -> (state, metrics (chunk_updates, len(METRICS)))`, jitted, running
    `chunk_updates` updates; `chunk(n)` is the same for `n` updates (one jitted function per
    length). `chunk_plan` lists the chunk lengths that make up the whole run
    (`plan_chunks(num_updates, chunk_updates)`)."""
    init: Any
    run_chunk: Any
    chunk: Any
    mesh: Mesh
    spec: EnvSpec
    chunk_updates: int
    num_updates: int
    state_shardings: Any
    chunk_plan: tuple


def make_mesh(devices=None) -> Mesh:
    """A 1-d mesh over `devices` (default: all devices, all hosts) with axis `data`."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (AXIS,))


def _check_config(config):
    if not isinstance(config, TrainConfig):
        raise bad_type("config", "a TrainConfig", config)
    config.validate()


def _state_specs():
    """PartitionSpecs: env data split over `data`, everything else replicated."""
    split, rep = P(AXIS), P()
    stats = JaxEpisodeStats(running=split, recent=rep, count=rep)
    return RunnerState(params=rep, opt_state=rep, env_state=split, obs=split, stats=stats, keys=split, update=rep)


def make_program(config: TrainConfig, *, mesh: Mesh | None = None, chunk_updates: int | None = None) -> PPOProgram:
    """Builds the jitted PPO chunk for `config` on `mesh` (default: all devices).

    Raises ValueError for an unknown env id, a non-positive size, a num_minibatches that
    does not divide the batch, or a num_envs not divisible by the device count.
    """
    _check_config(config)
    spec = make_env(config.env_id)
    mesh = make_mesh() if mesh is None else mesh
    n_dev = mesh.size
    if config.num_envs % n_dev:
        raise bad_value("num_envs", f"a multiple of the device count {n_dev} (envs are split over devices)",
                        repr(config.num_envs))
    local_envs = config.num_envs // n_dev
    local_batch = local_envs * config.num_steps
    if local_batch % config.num_minibatches:
        raise bad_value("num_minibatches", f"a divisor of the per-device batch {local_batch}", repr(config.num_minibatches))
    num_updates = config.num_updates
    if chunk_updates is None and "chunk_updates" in config.extra:
        chunk_updates = check_positive_int("config.extra['chunk_updates']", config.extra["chunk_updates"])
    chunk_updates = min(int(chunk_updates or _default_chunk(num_updates)), num_updates)
    plan = plan_chunks(num_updates, chunk_updates)
    tx = make_optimizer(config, num_updates)
    venv_local = VecEnv(spec, local_envs)

    def env_action(action):
        if spec.discrete:
            return action
        return jnp.clip(action, spec.action_low, spec.action_high)  # the loss sees the raw sample

    # An env is truncated at most once per max_episode_steps steps: at most this many
    # truncated rows per rollout (all rows when the env has no known limit). The bootstrap
    # evaluates the critic on these gathered rows only (learner.truncated_values).
    truncation_slots = local_envs * (math.ceil(config.num_steps / spec.max_episode_steps)
                                     if spec.max_episode_steps else config.num_steps)

    def rollout(params, fused, env_state, obs, key):
        # Every env random draw and reset state of the rollout in one batched call (see
        # VecEnv.draw_pool): the scan body keeps only the transition, the policy and a select.
        key, k_pool, k_act = jax.random.split(key, 3)
        pool = venv_local.draw_pool(k_pool, config.num_steps)
        # One batched split for the rollout's action keys: a split per step would run
        # threefry (a rolled loop on CPU) inside every step.
        act_keys = jax.random.split(k_act, config.num_steps)

        def step(carry, t):
            env_state, obs = carry
            out, value = apply_fused(fused, obs, spec.policy_width)
            action, logprob, _ = jax_impl.sample_logits(act_keys[t], policy_dist(params, out))
            res = venv_local.step_from_pool(pool, t, env_state, env_action(action))
            step_out = Transition(obs, action, logprob, value, res.reward, res.done)
            return (res.state, res.obs), (step_out, res.final_obs, res.truncated)

        (env_state, obs), (traj, final_obs, truncated) = jax.lax.scan(
            step, (env_state, obs), jnp.arange(config.num_steps))
        return env_state, obs, key, traj, final_obs, truncated

    def learn(params, opt_state, batch, key):
        def epoch(carry, _):
            params, opt_state, key = carry
            key, k_perm, k_loss = jax.random.split(key, 3)
            perm = jax.random.permutation(k_perm, local_batch)
            mbs = jax.tree.map(lambda x: x[perm].reshape((config.num_minibatches, -1) + x.shape[1:]), batch)

            def minibatch(carry, mb):
                params, opt_state, aux = minibatch_step(carry[0], carry[1], mb, k_loss, config, tx, AXIS)
                return (params, opt_state), aux

            (params, opt_state), aux = jax.lax.scan(minibatch, (params, opt_state), mbs)
            return (params, opt_state, key), aux

        (params, opt_state, key), aux = jax.lax.scan(epoch, (params, opt_state, key), None, config.update_epochs)
        return params, opt_state, aux.reshape(-1, 4).mean(axis=0)

    def one_update(state: RunnerState):
        key = state.keys[0]
        fused = fuse_policy(state.params)  # actor and critic as one MLP: half the matmuls per step
        env_state, obs, key, traj, final_obs, truncated = rollout(state.params, fused, state.env_state, state.obs, key)
        _, last_value = apply_policy(state.params, obs)
        adv, ret = advantages_and_returns(lambda o: apply_fused(fused, o, spec.policy_width)[1], traj.reward,
                                          traj.value, traj.done, truncated, final_obs, last_value, config,
                                          truncation_slots)
        # Episode bookkeeping sees every device's envs, in global env order, and the env's own rewards.
        gather = lambda x: jax.lax.all_gather(x, AXIS, axis=1, tiled=True)  # noqa: E731
        stats = jax_stats_update(state.stats, traj.reward, traj.done, gather=gather)
        flat = lambda x: x.reshape((local_batch,) + x.shape[2:])  # noqa: E731
        batch = tuple(map(flat, (traj.obs, traj.action, traj.logprob, traj.value, adv, ret)))
        key, k_learn = jax.random.split(key)
        params, opt_state, losses = learn(state.params, state.opt_state, batch, k_learn)
        new = RunnerState(params, opt_state, env_state, obs, stats, key[None], state.update + 1)
        metrics = jnp.concatenate([jax_stats_mean(stats)[None], stats.count.astype(jnp.float32)[None], losses])
        return new, metrics

    specs = _state_specs()
    chunks = {}

    def chunk(length: int):
        # A fixed-length scan, no lax.cond to stop at num_updates: a conditional around the
        # update made the whole loop about 1.7x slower on XLA:CPU.
        if length not in chunks:
            def local_chunk(state: RunnerState):
                return jax.lax.scan(lambda st, _: one_update(st), state, None, length)
            chunks[length] = jax.jit(
                jax.shard_map(local_chunk, mesh=mesh, in_specs=(specs,), out_specs=(specs, P()), check_vma=False),
                donate_argnums=0,
            )
        return chunks[length]

    shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, P))
    venv_all = VecEnv(spec, config.num_envs)

    def init_state(key):
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = init_params(k_params, spec, config.hidden_size)
        obs, env_state = venv_all.reset(k_env)
        return RunnerState(params, tx.init(params), env_state, obs,
                           jax_stats_init(config.num_envs),
                           jax.random.split(k_run, n_dev), jnp.zeros((), jnp.int32))

    # out_shardings must mirror the state tree; a prefix per field is enough for jit.
    init = jax.jit(init_state, out_shardings=shardings)
    return PPOProgram(init, chunk(chunk_updates), chunk, mesh, spec, chunk_updates, num_updates, shardings, plan)


def plan_chunks(num_updates: int, chunk_updates: int, done: int = 0) -> tuple:
    """The lengths of the chunks that run updates `done + 1 .. num_updates`: chunks end at the
    multiples of `chunk_updates` and at `num_updates`, wherever the run starts. So a run
    resumed after a chunk runs the same chunks as the rest of an uninterrupted run, and one
    resumed elsewhere (after raising total_steps) joins that plan at its next boundary."""
    plan = []
    while done < num_updates:
        end = min((done // chunk_updates + 1) * chunk_updates, num_updates)
        plan.append(end - done)
        done = end
    return tuple(plan)


def _default_chunk(num_updates: int) -> int:
    """About 25 chunks per run (about 64 updates at most), preferring the divisor of
    num_updates nearest that size (within a factor 2) so that no second program, for a
    shorter last chunk, has to be compiled."""
    target = max(1, min(64, math.ceil(num_updates / 25)))
    divisors = [d for d in range((target + 1) // 2, 2 * target + 1) if num_updates % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d)) if divisors else target


# What each update reports, in this order, in the chunk's `(updates, len(METRICS))` output.
METRICS = ("mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl")


def metrics_dict(metrics) -> dict:
    """A chunk's stacked metrics `(updates, len(METRICS))` -> {name: `(updates,)` numpy array}."""
    m = np.asarray(metrics)
    return {name: m[:, i] for i, name in enumerate(METRICS)}
