"""The jax pipeline's program: PPO's rollout and update as one jitted chunk of updates.

`make_program(config)` returns a `PPOProgram`: `init_state(key) -> RunnerState` and
`train_updates(state, n)`, `n` updates as one jitted loop, keys threaded explicitly,
PureJaxRL-style; one compiled program serves every chunk length of a run. `make_program`
reads in the order the program runs, one section each, marked as in PureJaxRL's ppo.py:

    SET UP                env, policy, mesh, sizes, optimizer (Python, once)
    INIT                  the runner state: params, optimizer state, envs, statistics, keys
    COLLECT TRAJECTORIES  num_steps steps of this device's envs (lax.scan)
    CALCULATE ADVANTAGES  the time-limit bootstrap and GAE (learner.advantages_and_returns)
    UPDATE NETWORK        update_epochs epochs > num_minibatches minibatch steps (lax.scan)
    UPDATE STEP           one update: the three above, with the episode statistics
    CHUNK LOOP            `n` update steps (lax.fori_loop), one metrics row each
    SHARD AND JIT         the loop as a shard_map over the mesh; init and loop jitted

Recurrent (`config.recurrent`, recurrent.py): the runner state carries the LSTM state and the
next start flags (`memory`); the rollout resets the state where an episode ended, and the
update re-runs sets of whole envs from the rollout's first state (`segment_minibatches`).

Data parallel: the loop is a `shard_map` over a 1-d mesh of all devices (axis `data`). Envs
(and so the batch) are split across devices, params and optimizer state are replicated,
gradients are averaged with `pmean`. One device is the same program. Several hosts: call
`jax.distributed.initialize()` before; see docs/pipelines-jax.md.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ... import jax_impl
from ...spec.errors import bad_type, bad_value
from ..config import TrainConfig, check_positive_int
from ..envs.factory import resolve_factory
from ..envs.gymnax_vec import GymnaxEnv, VecEnv, action_mask, check_normalizable, make_env
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
    memory: Any = None   # (h, c, start) of a recurrent policy (recurrent.py), split over devices


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    logprob: jax.Array
    value: jax.Array
    reward: jax.Array      # normalized under norm_reward
    done: jax.Array
    env_reward: Any = None  # the env's own reward under norm_reward (for the episode statistics)


class PPOProgram(NamedTuple):
    """One PPO run as `make_program` builds it: its jitted functions, its plan, where it runs.

    Every chunk length runs the one compiled program `train_updates`; `train_chunk` and
    `trainer_for` are that program at a fixed length."""

    init_state: Callable
    """`init_state(key) -> RunnerState`, jitted: the run's first state, placed as `state_shardings`."""
    train_updates: Callable
    """`train_updates(state, n) -> (state, metrics)`, jitted: `n` updates (an int32 scalar, 1 to
    `chunk_updates`); metrics `(chunk_updates, len(METRICS))` float32, NaN past row `n`. The
    state argument is donated. `train_updates.lower(state, n).compile()` compiles it ahead."""
    train_chunk: Callable
    """`train_chunk(state) -> (state, metrics (chunk_updates, len(METRICS)))`: `chunk_updates` updates."""
    trainer_for: Callable
    """`trainer_for(n) -> (state -> (state, metrics (n, len(METRICS))))`: `n` updates, 1 to
    `chunk_updates` (else ValueError)."""
    chunk_updates: int
    """The most updates one call runs."""
    chunk_plan: tuple
    """The chunk lengths that make up the whole run (plan_chunks)."""
    num_updates: int
    """The updates of the whole run."""
    mesh: Mesh
    """The devices that envs and the batch are split over (axis `data`)."""
    state_shardings: RunnerState
    """A NamedSharding for each part of the runner state: split over `mesh` or replicated."""
    gymnax_env: GymnaxEnv
    """The env the program steps."""
    policy: JaxPolicy
    """The policy it trains."""


def make_mesh(devices=None) -> Mesh:
    """A 1-d mesh over `devices` (default: all devices, all hosts) with axis `data`."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (AXIS,))


def _check_config(config):
    if not isinstance(config, TrainConfig):
        raise bad_type("config", "a TrainConfig", config)
    config.validate()


class _Sizes(NamedTuple):
    local_envs: int        # envs per device
    local_batch: int       # rollout rows per device and update
    num_updates: int
    chunk_updates: int     # the most updates one call runs
    truncation_slots: int  # a bound on the truncated rows of one device's rollout


def _sizes(config: TrainConfig, gymnax_env: GymnaxEnv, devices: int, chunk_updates: int | None) -> _Sizes:
    """The program's sizes on `devices` devices; ValueError for sizes that do not split."""
    if config.num_envs % devices:
        raise bad_value("num_envs", f"a multiple of the device count {devices} (envs are split over devices)",
                        repr(config.num_envs))
    local_envs = config.num_envs // devices
    local_batch = local_envs * config.num_steps
    if config.recurrent and local_envs % config.num_minibatches:
        raise bad_value("num_minibatches", f"a divisor of the per-device num_envs {local_envs} when recurrent "
                        "(minibatches are sets of whole envs)", repr(config.num_minibatches))
    if local_batch % config.num_minibatches:
        raise bad_value("num_minibatches", f"a divisor of the per-device batch {local_batch}", repr(config.num_minibatches))
    num_updates = config.num_updates
    if chunk_updates is None and "chunk_updates" in config.extra:
        chunk_updates = check_positive_int("config.extra['chunk_updates']", config.extra["chunk_updates"])
    chunk_updates = min(int(chunk_updates or _default_chunk(num_updates)), num_updates)
    # An env is truncated at most once per max_episode_steps steps: at most this many
    # truncated rows per rollout (all rows when the env has no known limit). The bootstrap
    # evaluates the critic on these gathered rows only (learner.truncated_values).
    truncation_slots = local_envs * (math.ceil(config.num_steps / gymnax_env.max_episode_steps)
                                     if gymnax_env.max_episode_steps else config.num_steps)
    return _Sizes(local_envs, local_batch, num_updates, chunk_updates, truncation_slots)


def _state_partitions(config: TrainConfig) -> RunnerState:
    """The runner state's PartitionSpecs: env data split over `data`, everything else replicated."""
    split, rep = P(AXIS), P()
    stats = JaxEpisodeStats(running=split, recent=rep, count=rep)
    norm = None
    if config.norm_obs or config.norm_reward:
        moments = RunningMoments(rep, rep, rep)
        norm = NormState(moments if config.norm_obs else None, moments if config.norm_reward else None,
                         split if config.norm_reward else None)
    return RunnerState(params=rep, opt_state=rep, env_state=split, obs=split, stats=stats, keys=split, update=rep,
                       norm=norm, memory=(split, split, split) if config.recurrent else None)


def make_program(config: TrainConfig, *, mesh: Mesh | None = None, chunk_updates: int | None = None, env=None,
                 policy=None) -> PPOProgram:
    """Builds the jitted PPO program for `config` on `mesh` (default: all devices).

    env: a user's gymnax factory `() -> (env, env_params)` (else config.env_id names a gymnax
    id or a `package.module:function` factory); policy: a user's flax module or (init, apply)
    pair (policy.py), else the built-in actor-critic. chunk_updates: the most updates one
    call runs (default: config.extra's, else about 1/25 of the run).
    Raises ValueError for an env it cannot train (naming env_id), a non-positive size, a
    num_minibatches that does not divide the batch, or a num_envs not divisible by the
    device count.
    """
    # SET UP
    _check_config(config)
    gymnax_env = make_env(config.env_id, resolve_factory(config.env_id, env))
    check_normalizable(gymnax_env, config.norm_obs)
    pol = make_policy(gymnax_env, config.hidden_size, policy, network=config.network, recurrent=config.recurrent)
    recurrent = config.recurrent
    mesh = make_mesh() if mesh is None else mesh
    n_dev = mesh.size
    sizes = _sizes(config, gymnax_env, n_dev, chunk_updates)
    # On one device there is nothing to reduce over: no collectives in the program (on
    # XLA:CPU each one is a rendezvous costing more than a small kernel).
    axis = AXIS if n_dev > 1 else None
    tx = make_optimizer(config, sizes.num_updates)
    # The optimizer runs on flat vectors inside an update (learner.FlatAdam); the runner
    # state keeps optax's trees. Params that are not all float32 keep optax's per-leaf step.
    # Abstract: the key and the rows are made inside the trace (eager ones would each be a program to load).
    adam = flat_adam(config, sizes.num_updates, jax.eval_shape(
        lambda: pol.init(jax.random.PRNGKey(0), jnp.zeros((1, gymnax_env.obs_dim), jnp.float32))))
    # An env's action mask (jumanji's `action_mask`) is read from the rows the policy sees.
    mask_fn = None if gymnax_env.mask_slice is None else functools.partial(action_mask, gymnax_env)
    venv_all = VecEnv(gymnax_env, config.num_envs)  # the first state: every device's envs
    venv_local = VecEnv(gymnax_env, sizes.local_envs)  # inside the shard_map: this device's envs

    # INIT
    def init_state(key) -> RunnerState:
        """Fresh params and optimizer state, every env reset, one PRNG key per device."""
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = pol.init(k_params, jnp.zeros((1, gymnax_env.obs_dim), jnp.float32))
        obs, env_state = venv_all.reset(k_env)
        norm, obs = norm_reset(norm_init(gymnax_env.obs_dim, config.num_envs, config.norm_obs, config.norm_reward), obs)
        memory = None
        if recurrent:  # fresh envs: every episode starts
            memory = (*pol.initial_state(config.num_envs), jnp.ones((config.num_envs,), jnp.float32))
        return RunnerState(params, tx.init(params), env_state, obs,
                           jax_stats_init(config.num_envs),
                           jax.random.split(k_run, n_dev), jnp.zeros((), jnp.int32), norm, memory)

    # COLLECT TRAJECTORIES
    def collect_trajectories(policy_step, env_state, obs, norm, memory, key):
        """num_steps steps of this device's envs -> (env_state, obs, norm, memory, key, traj,
        final_obs, truncated, steps), the last four `(num_steps, local_envs, ...)`. A recurrent
        policy_step is `(obs, (h, c), start) -> (dist, value, (h, c))`, carried in `memory`;
        steps: the start flag each step used and the state it reached, else None."""
        # Every env random draw and reset state of the rollout in one batched call (see
        # VecEnv.draw_pool): the scan body keeps only the transition, the policy and a select.
        key, k_pool, k_act = jax.random.split(key, 3)
        pool = venv_local.draw_pool(k_pool, config.num_steps)
        # One batched split for the rollout's action keys: a split per step would run
        # threefry (a rolled loop on CPU) inside every step.
        act_keys = jax.random.split(k_act, config.num_steps)

        def env_step(carry, t):
            env_state, obs, norm, memory = carry
            if memory is None:
                dist, value = policy_step(obs)
                step = None
            else:
                dist, value, (h, c) = policy_step(obs, memory[:2], memory[2])
                step = (memory[2], h, c)
            action, logprob, _ = jax_impl.sample_logits(act_keys[t], dist, mask=None if mask_fn is None else mask_fn(obs))
            # The env gets the clipped action, the loss scores the raw draw (as CleanRL).
            res = venv_local.step_from_pool(pool, t, env_state, gymnax_env.env_action(action))
            norm, next_obs, final_obs, reward = norm_step(norm, res.obs, res.final_obs, res.reward, res.terminated,
                                                          config.gamma, axis)
            env_reward = res.reward if config.norm_reward else None
            transition = Transition(obs, action, logprob, value, reward, res.done, env_reward)
            if memory is not None:  # the next step starts an episode where this one ended
                memory = (h, c, res.done.astype(jnp.float32))
            return (res.state, next_obs, norm, memory), (transition, final_obs, res.truncated, step)

        (env_state, obs, norm, memory), (traj, final_obs, truncated, steps) = jax.lax.scan(
            env_step, (env_state, obs, norm, memory), jnp.arange(config.num_steps))
        return env_state, obs, norm, memory, key, traj, final_obs, truncated, steps

    # CALCULATE ADVANTAGES
    def calculate_advantages(params, policy_step, traj: Transition, final_obs, truncated, last_obs, memory, steps):
        """(advantages, returns) `(num_steps, local_envs)`: time limits bootstrapped with the
        critic's value of `final_obs`, then GAE from the value of `last_obs`. A recurrent
        policy's values continue from its state: the carried one for `last_obs`, the one each
        step reached for its final observation (carried beside it in the gathered rows)."""
        if memory is None:
            _, last_value = pol.apply(params, last_obs)
            return advantages_and_returns(lambda o: policy_step(o)[1], traj.reward, traj.value, traj.done, truncated,
                                          final_obs, last_value, config, sizes.truncation_slots)
        _, last_value, _ = policy_step(last_obs, memory[:2], memory[2])
        d, hidden = gymnax_env.obs_dim, pol.hidden_size

        def value_fn(rows):
            state = (rows[:, d:d + hidden], rows[:, d + hidden:])
            return policy_step(rows[:, :d], state, jnp.zeros((rows.shape[0],), jnp.float32))[1]

        rows = jnp.concatenate([final_obs, steps[1], steps[2]], axis=-1)
        return advantages_and_returns(value_fn, traj.reward, traj.value, traj.done, truncated, rows, last_value,
                                      config, sizes.truncation_slots)

    def segment_minibatches(batch, perm):
        """A recurrent batch as num_minibatches sets of whole envs (`perm` shuffles the envs):
        ((obs, starts, h0, c0) of each set's segment, then its rows `(steps * envs, ...)`)."""
        (obs, starts, h0, c0), *rows = batch
        count = config.num_minibatches

        def by_envs(x):  # (steps, envs, ...) -> (count, steps, envs / count, ...)
            x = x[:, perm]
            return jnp.swapaxes(x.reshape((x.shape[0], count, -1) + x.shape[2:]), 0, 1)

        def initial(x):  # (envs, hidden) -> (count, envs / count, hidden)
            return x[perm].reshape((count, -1) + x.shape[1:])

        segment = (by_envs(obs), by_envs(starts), initial(h0), initial(c0))
        rows = [by_envs(x) for x in rows]
        return (segment, *(x.reshape((count, -1) + x.shape[3:]) for x in rows))

    # What the loss runs the policy on: rows, or (recurrent) whole segments re-run from their first state.
    apply, loss_mask_fn = (None, None) if recurrent else (pol.apply, mask_fn)
    if recurrent:
        def apply(params, segment):
            obs, starts, h0, c0 = segment
            return pol.unroll(params, obs, (h0, c0), starts)

        if mask_fn is not None:
            def loss_mask_fn(segment):
                return mask_fn(segment[0].reshape(-1, segment[0].shape[-1]))

    # UPDATE NETWORK
    def update_network(params, opt_state, batch, key):
        """update_epochs passes over `batch`, each num_minibatches minibatch steps in a fresh
        order -> (params, opt_state, the update's loss terms `(len(LOSSES),)`: reported_losses)."""
        def update_epoch(carry, _):
            opt, key = carry
            key, k_perm, k_loss = jax.random.split(key, 3)
            if recurrent:
                minibatches = segment_minibatches(batch, jax.random.permutation(k_perm, sizes.local_envs))
            else:
                perm = jax.random.permutation(k_perm, sizes.local_batch)
                minibatches = jax.tree.map(lambda x: x[perm].reshape((config.num_minibatches, -1) + x.shape[1:]),
                                           batch)

            def update_minibatch(opt, minibatch):
                if adam is not None:
                    return flat_minibatch_step(opt, minibatch, k_loss, config, adam, axis, apply, loss_mask_fn)
                params, opt_state, aux = minibatch_step(*opt, minibatch, k_loss, config, tx, axis, apply, loss_mask_fn)
                return (params, opt_state), aux

            opt, aux = jax.lax.scan(update_minibatch, opt, minibatches)
            return (opt, key), aux

        opt = (params, opt_state) if adam is None else adam.pack(params, opt_state)
        (opt, key), aux = jax.lax.scan(update_epoch, (opt, key), None, config.update_epochs)
        params, opt_state = opt if adam is None else adam.unpack(opt, opt_state)
        return params, opt_state, reported_losses(aux)

    # UPDATE STEP
    def update_step(state: RunnerState):
        """One update on this device's envs -> (state, its metrics row `(len(METRICS),)`)."""
        key = state.keys[0]
        if recurrent:
            policy_step = functools.partial(pol.step, state.params)
        else:
            policy_step = pol.rollout(state.params)  # built once per update (the fused MLP for the built-in policy)
        env_state, obs, norm, memory, key, traj, final_obs, truncated, steps = collect_trajectories(
            policy_step, state.env_state, state.obs, state.norm, state.memory, key)
        adv, ret = calculate_advantages(state.params, policy_step, traj, final_obs, truncated, obs, memory, steps)
        # Episode bookkeeping sees every device's envs, in global env order, and the env's own rewards.
        gather = None if axis is None else (lambda x: jax.lax.all_gather(x, axis, axis=1, tiled=True))
        own = traj.reward if traj.env_reward is None else traj.env_reward
        stats = jax_stats_update(state.stats, own, traj.done, gather=gather)
        flat = lambda x: x.reshape((sizes.local_batch,) + x.shape[2:])  # noqa: E731
        if recurrent:  # whole segments: from the rollout's first state, with each step's start flag
            batch = ((traj.obs, steps[0], *state.memory[:2]), traj.action, traj.logprob, traj.value, adv, ret)
        else:
            batch = tuple(map(flat, (traj.obs, traj.action, traj.logprob, traj.value, adv, ret)))
        key, k_learn = jax.random.split(key)
        params, opt_state, losses = update_network(state.params, state.opt_state, batch, k_learn)
        new = RunnerState(params, opt_state, env_state, obs, stats, key[None], state.update + 1, norm, memory)
        metrics = jnp.concatenate([jax_stats_mean(stats)[None], stats.count.astype(jnp.float32)[None], losses])
        return new, metrics

    # CHUNK LOOP
    def train_updates_on_device(state: RunnerState, updates):
        """`updates` update steps on this device's part of the state -> (state, metrics rows)."""
        # One program for every chunk length: a loop with a traced trip count (no lax.cond
        # around the update, which made the whole loop about 1.7x slower on XLA:CPU), its
        # metrics written into a fixed `(chunk_updates, len(METRICS))` buffer.
        def loop_body(i, carry):
            state, rows = carry
            state, row = update_step(state)
            return state, jax.lax.dynamic_update_index_in_dim(rows, row, i, 0)

        rows = jnp.full((sizes.chunk_updates, len(METRICS)), jnp.nan, jnp.float32)
        return jax.lax.fori_loop(0, updates, loop_body, (state, rows))

    # SHARD AND JIT
    partitions = _state_partitions(config)
    shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), partitions, is_leaf=lambda x: isinstance(x, P))
    # out_shardings must mirror the state tree; a prefix per field is enough for jit.
    init = jax.jit(init_state, out_shardings=shardings)
    train_updates = jax.jit(jax.shard_map(train_updates_on_device, mesh=mesh, in_specs=(partitions, P()),
                                          out_specs=(partitions, P()), check_vma=False), donate_argnums=0)

    def trainer_for(length: int):
        if not 1 <= length <= sizes.chunk_updates:
            raise bad_value("length", f"an int from 1 to chunk_updates {sizes.chunk_updates}", repr(length))
        count = np.int32(length)

        def train_length(state: RunnerState):
            state, rows = train_updates(state, count)
            return state, rows[:length]
        return train_length

    return PPOProgram(init_state=init, train_updates=train_updates, train_chunk=trainer_for(sizes.chunk_updates),
                      trainer_for=trainer_for, chunk_updates=sizes.chunk_updates,
                      chunk_plan=plan_chunks(sizes.num_updates, sizes.chunk_updates), num_updates=sizes.num_updates,
                      mesh=mesh, state_shardings=shardings, gymnax_env=gymnax_env, policy=pol)


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
LOSSES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")  # learner.ppo_loss's aux, in order


def reported_losses(aux: jax.Array) -> jax.Array:
    """What an update reports from its minibatches' loss terms `(..., len(LOSSES))` in the order
    they ran: the last minibatch's losses and approx_kl and the mean clipfrac, the rule of
    pipelines.metrics that the torch learner follows too (`torch.learner.update_losses`)."""
    terms = aux.reshape(-1, len(LOSSES))
    return jnp.concatenate([terms[-1, :-1], terms[:, -1:].mean(axis=0)])


METRICS = ("mean_return", "episodes", *LOSSES)


def metrics_dict(metrics) -> dict:
    """A chunk's stacked metrics `(updates, len(METRICS))` -> {name: `(updates,)` numpy array}."""
    m = np.asarray(metrics)
    return {name: m[:, i] for i, name in enumerate(METRICS)}
