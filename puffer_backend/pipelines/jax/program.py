"""The jax pipeline's program: rollout and update of PPO as one jitted chunk of updates.

`make_program(config)` builds `init(key) -> RunnerState` and `run(state, n)`: `n` updates
as one jitted loop (updates > rollout steps, epochs > minibatches), keys threaded explicitly,
PureJaxRL-style; one compiled program serves every chunk length of a run. Data parallel: the chunk is a `shard_map` over a 1-d mesh of all local
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
from ..envs.factory import resolve_factory
from ..envs.gymnax_vec import GymnaxEnv, VecEnv, make_env
from ..episodes import JaxEpisodeStats, jax_stats_init, jax_stats_mean, jax_stats_update
from ..normalize import RunningMoments, NormState, norm_init, norm_reset, norm_step
from .learner import advantages_and_returns, flat_adam, flat_minibatch_step, make_optimizer, minibatch_step
from .policy import JaxPolicy, make_policy

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
    norm: Any = None     # normalize.NormState under norm_obs / norm_reward: moments replicated, returns split


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    logprob: jax.Array
    value: jax.Array
    reward: jax.Array      # normalized under norm_reward
    done: jax.Array
    env_reward: Any = None  # the env's own reward under norm_reward (for the episode statistics)


class PPOProgram(NamedTuple):
    """The pieces of one PPO run: `init(key) -> RunnerState` (placed on `mesh`) and the one
    jitted training program `run(state, updates) -> (state, metrics (chunk_updates, len(METRICS)))`
    running `updates` (an int32 scalar, 1 to chunk_updates) updates; rows past `updates` are
    NaN. The state argument is donated. Every chunk length runs this one compiled program:
    `run_chunk(state)` runs `chunk_updates` updates, `chunk(n)(state)` runs `n` and returns
    their `n` rows. `chunk_plan` lists the chunk lengths that make up the whole run."""
    init: Any
    run: Any
    run_chunk: Any
    chunk: Any
    mesh: Mesh
    gymnax_env: GymnaxEnv
    chunk_updates: int
    num_updates: int
    state_shardings: Any
    chunk_plan: tuple
    policy: JaxPolicy


def make_mesh(devices=None) -> Mesh:
    """A 1-d mesh over `devices` (default: all devices, all hosts) with axis `data`."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (AXIS,))


def _check_config(config):
    if not isinstance(config, TrainConfig):
        raise bad_type("config", "a TrainConfig", config)
    config.validate()


def _state_specs(config: TrainConfig):
    """PartitionSpecs: env data split over `data`, everything else replicated."""
    split, rep = P(AXIS), P()
    stats = JaxEpisodeStats(running=split, recent=rep, count=rep)
    norm = None
    if config.norm_obs or config.norm_reward:
        moments = RunningMoments(rep, rep, rep)
        norm = NormState(moments if config.norm_obs else None, moments if config.norm_reward else None,
                         split if config.norm_reward else None)
    return RunnerState(params=rep, opt_state=rep, env_state=split, obs=split, stats=stats, keys=split, update=rep,
                       norm=norm)


def make_program(config: TrainConfig, *, mesh: Mesh | None = None, chunk_updates: int | None = None, env=None,
                 policy=None) -> PPOProgram:
    """Builds the jitted PPO chunk for `config` on `mesh` (default: all devices).

    env: a user's gymnax factory `() -> (env, env_params)` (else config.env_id names a gymnax
    id or a `package.module:function` factory); policy: a user's flax module or (init, apply)
    pair (policy.py), else the built-in actor-critic.
    Raises ValueError for an env it cannot train (naming env_id), a non-positive size, a
    num_minibatches that does not divide the batch, or a num_envs not divisible by the
    device count.
    """
    _check_config(config)
    gymnax_env = make_env(config.env_id, resolve_factory(config.env_id, env))
    pol = make_policy(gymnax_env, config.hidden_size, policy)
    mesh = make_mesh() if mesh is None else mesh
    n_dev = mesh.size
    if config.num_envs % n_dev:
        raise bad_value("num_envs", f"a multiple of the device count {n_dev} (envs are split over devices)",
                        repr(config.num_envs))
    # On one device there is nothing to reduce over: no collectives in the program (on
    # XLA:CPU each one is a rendezvous costing more than a small kernel).
    axis = AXIS if n_dev > 1 else None
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
    venv_local = VecEnv(gymnax_env, local_envs)

    # An env is truncated at most once per max_episode_steps steps: at most this many
    # truncated rows per rollout (all rows when the env has no known limit). The bootstrap
    # evaluates the critic on these gathered rows only (learner.truncated_values).
    truncation_slots = local_envs * (math.ceil(config.num_steps / gymnax_env.max_episode_steps)
                                     if gymnax_env.max_episode_steps else config.num_steps)

    def rollout(policy_step, env_state, obs, norm, key):
        # Every env random draw and reset state of the rollout in one batched call (see
        # VecEnv.draw_pool): the scan body keeps only the transition, the policy and a select.
        key, k_pool, k_act = jax.random.split(key, 3)
        pool = venv_local.draw_pool(k_pool, config.num_steps)
        # One batched split for the rollout's action keys: a split per step would run
        # threefry (a rolled loop on CPU) inside every step.
        act_keys = jax.random.split(k_act, config.num_steps)

        def step(carry, t):
            env_state, obs, norm = carry
            dist, value = policy_step(obs)
            action, logprob, _ = jax_impl.sample_logits(act_keys[t], dist)
            # The env gets the clipped action, the loss scores the raw draw (as CleanRL).
            res = venv_local.step_from_pool(pool, t, env_state, gymnax_env.env_action(action))
            norm, next_obs, final_obs, reward = norm_step(norm, res.obs, res.final_obs, res.reward, res.terminated,
                                                          config.gamma, axis)
            env_reward = res.reward if config.norm_reward else None
            step_out = Transition(obs, action, logprob, value, reward, res.done, env_reward)
            return (res.state, next_obs, norm), (step_out, final_obs, res.truncated)

        (env_state, obs, norm), (traj, final_obs, truncated) = jax.lax.scan(
            step, (env_state, obs, norm), jnp.arange(config.num_steps))
        return env_state, obs, norm, key, traj, final_obs, truncated

    # The optimizer runs on flat vectors inside an update (learner.FlatAdam); the runner
    # state keeps optax's trees. Params that are not all float32 keep optax's per-leaf step.
    adam = flat_adam(config, num_updates, jax.eval_shape(pol.init, jax.random.PRNGKey(0),
                                                         jnp.zeros((1, gymnax_env.obs_dim), jnp.float32)))

    def learn(params, opt_state, batch, key):
        def epoch(carry, _):
            opt, key = carry
            key, k_perm, k_loss = jax.random.split(key, 3)
            perm = jax.random.permutation(k_perm, local_batch)
            mbs = jax.tree.map(lambda x: x[perm].reshape((config.num_minibatches, -1) + x.shape[1:]), batch)

            def minibatch(opt, mb):
                if adam is not None:
                    return flat_minibatch_step(opt, mb, k_loss, config, adam, axis, pol.apply)
                params, opt_state, aux = minibatch_step(*opt, mb, k_loss, config, tx, axis, pol.apply)
                return (params, opt_state), aux

            opt, aux = jax.lax.scan(minibatch, opt, mbs)
            return (opt, key), aux

        opt = (params, opt_state) if adam is None else adam.pack(params, opt_state)
        (opt, key), aux = jax.lax.scan(epoch, (opt, key), None, config.update_epochs)
        params, opt_state = opt if adam is None else adam.unpack(opt, opt_state)
        return params, opt_state, aux.reshape(-1, 4).mean(axis=0)

    def one_update(state: RunnerState):
        key = state.keys[0]
        policy_step = pol.rollout(state.params)  # built once per update (the fused MLP for the built-in policy)
        env_state, obs, norm, key, traj, final_obs, truncated = rollout(policy_step, state.env_state, state.obs,
                                                                        state.norm, key)
        _, last_value = pol.apply(state.params, obs)
        adv, ret = advantages_and_returns(lambda o: policy_step(o)[1], traj.reward, traj.value, traj.done, truncated,
                                          final_obs, last_value, config, truncation_slots)
        # Episode bookkeeping sees every device's envs, in global env order, and the env's own rewards.
        gather = None if axis is None else (lambda x: jax.lax.all_gather(x, axis, axis=1, tiled=True))
        own = traj.reward if traj.env_reward is None else traj.env_reward
        stats = jax_stats_update(state.stats, own, traj.done, gather=gather)
        flat = lambda x: x.reshape((local_batch,) + x.shape[2:])  # noqa: E731
        batch = tuple(map(flat, (traj.obs, traj.action, traj.logprob, traj.value, adv, ret)))
        key, k_learn = jax.random.split(key)
        params, opt_state, losses = learn(state.params, state.opt_state, batch, k_learn)
        new = RunnerState(params, opt_state, env_state, obs, stats, key[None], state.update + 1, norm)
        metrics = jnp.concatenate([jax_stats_mean(stats)[None], stats.count.astype(jnp.float32)[None], losses])
        return new, metrics

    specs = _state_specs(config)

    def local_run(state: RunnerState, updates):
        # One program for every chunk length: a loop with a traced trip count (no lax.cond
        # around the update, which made the whole loop about 1.7x slower on XLA:CPU), its
        # metrics written into a fixed `(chunk_updates, len(METRICS))` buffer.
        def body(i, carry):
            state, rows = carry
            state, row = one_update(state)
            return state, jax.lax.dynamic_update_index_in_dim(rows, row, i, 0)

        rows = jnp.full((chunk_updates, len(METRICS)), jnp.nan, jnp.float32)
        return jax.lax.fori_loop(0, updates, body, (state, rows))

    run = jax.jit(jax.shard_map(local_run, mesh=mesh, in_specs=(specs, P()), out_specs=(specs, P()),
                                check_vma=False), donate_argnums=0)

    def chunk(length: int):
        if not 1 <= length <= chunk_updates:
            raise bad_value("length", f"an int from 1 to chunk_updates {chunk_updates}", repr(length))
        count = jnp.asarray(length, jnp.int32)

        def run_length(state: RunnerState):
            state, rows = run(state, count)
            return state, rows[:length]
        return run_length

    shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, P))
    venv_all = VecEnv(gymnax_env, config.num_envs)

    def init_state(key):
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = pol.init(k_params, jnp.zeros((1, gymnax_env.obs_dim), jnp.float32))
        obs, env_state = venv_all.reset(k_env)
        norm, obs = norm_reset(norm_init(gymnax_env.obs_dim, config.num_envs, config.norm_obs, config.norm_reward), obs)
        return RunnerState(params, tx.init(params), env_state, obs,
                           jax_stats_init(config.num_envs),
                           jax.random.split(k_run, n_dev), jnp.zeros((), jnp.int32), norm)

    # out_shardings must mirror the state tree; a prefix per field is enough for jit.
    init = jax.jit(init_state, out_shardings=shardings)
    return PPOProgram(init, run, chunk(chunk_updates), chunk, mesh, gymnax_env, chunk_updates, num_updates, shardings, plan,
                      pol)


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
