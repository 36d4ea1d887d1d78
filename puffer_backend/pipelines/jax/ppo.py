"""PPO in JAX, PureJaxRL-style: gymnax envs, rollout and update under one `jax.jit`.

`make_train(config)` returns `train(key) -> (state, metrics)`, the whole run jitted over
nested `lax.scan` (updates > rollout steps, epochs > minibatches), keys threaded explicitly.
`train(config, logger)` runs the same update function in chunks of updates (one jitted
call per chunk, metrics stacked and recorded per update afterwards), so progress shows
while the run stays on the device; compile time is measured apart from steps/s.

Data parallel: the run is a `shard_map` over a 1-d mesh of all local devices (axis
`data`). Envs (and so the batch) are split across devices, params and optimizer state are
replicated, gradients are averaged with `pmean`. One device is the same program.
Several hosts: call `jax.distributed.initialize()` before `train`; see docs/pipelines-jax.md.
"""
from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ... import jax_impl
from ...spec.errors import bad_type, bad_value
from ..config import TrainConfig
from ..envs.gymnax_vec import EnvSpec, VecEnv, make_env
from ..episodes import RETURN_WINDOW, JaxEpisodeStats, jax_stats_init, jax_stats_mean, jax_stats_update
from .policy import (CHECKPOINT_NPZ, apply_fused, apply_policy, fuse_policy, init_params, load_checkpoint,
                         policy_dist, save_checkpoint)

__all__ = ["AXIS", "RunnerState", "PPOProgram", "make_mesh", "compute_gae", "truncated_values", "ppo_loss", "minibatch_step", "make_optimizer", "make_program", "make_train", "train", "evaluate"]

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
    `run_chunk(state) -> (state, metrics (chunk_updates, 5))`, jitted, running `chunk_updates`
    updates; `chunk(n)` is the same for `n` updates (one jitted function per length).
    `chunk_plan` lists the chunk lengths that make up the whole run."""
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


def make_optimizer(config: TrainConfig, num_updates: int):
    """optax: clip_by_global_norm then Adam (eps 1e-5), lr linearly annealed per update to 0."""
    steps_per_update = config.update_epochs * config.num_minibatches
    if config.anneal_lr:
        def lr(count):  # linear to 0 over the run, stepped once per update (as CleanRL)
            return config.learning_rate * (1.0 - (count // steps_per_update) / num_updates)
    else:
        lr = config.learning_rate
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))


def compute_gae(rewards, values, dones, last_value, gamma: float, gae_lambda: float):
    """Generalized advantage estimation over a rollout, `(time, envs)` arrays in time order.

    dones[t] says the episode ended at step t (no bootstrap across it; a time-limit end is
    expected to have its bootstrap folded into rewards[t] already). last_value `(envs,)` is
    V of the observation after the last step. Returns (advantages, returns), both `(time, envs)`.
    """
    def back(carry, t):
        next_adv, next_value = carry
        reward, value, done = t
        nonterminal = 1.0 - done.astype(jnp.float32)
        delta = reward + gamma * next_value * nonterminal - value
        adv = delta + gamma * gae_lambda * nonterminal * next_adv
        return (adv, value), adv

    _, adv = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), (rewards, values, dones), reverse=True)
    return adv, adv + values


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


def ppo_loss(params, minibatch, key, config: TrainConfig, axis_name: str | None = None):
    """CleanRL's PPO loss on one minibatch; returns (loss, (pg_loss, v_loss, entropy, approx_kl)).

    minibatch: (obs, action, old_logprob, old_value, advantage, return), leading axis batch.
    axis_name: inside `shard_map`, the mesh axis over which the advantages are normalized
    (the statistics of the global minibatch); None normalizes over this minibatch alone.
    """
    obs, action, old_logprob, old_value, adv, ret = minibatch
    out, value = apply_policy(params, obs)
    _, logprob, entropy = jax_impl.sample_logits(key, policy_dist(params, out), action)
    logratio = logprob - old_logprob
    ratio = jnp.exp(logratio)
    if config.norm_adv:
        mean_fn = (lambda x: x) if axis_name is None else (lambda x: jax.lax.pmean(x, axis_name))
        mean = mean_fn(adv.mean())
        var = mean_fn(((adv - mean) ** 2).mean())
        adv = (adv - mean) / (jnp.sqrt(var) + 1e-8)
    pg_loss = jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1 - config.clip_coef, 1 + config.clip_coef)).mean()
    if config.clip_vloss:
        clipped = old_value + jnp.clip(value - old_value, -config.clip_coef, config.clip_coef)
        v_loss = 0.5 * jnp.maximum((value - ret) ** 2, (clipped - ret) ** 2).mean()
    else:
        v_loss = 0.5 * ((value - ret) ** 2).mean()
    ent = entropy.mean()
    loss = pg_loss - config.ent_coef * ent + config.vf_coef * v_loss
    approx_kl = ((ratio - 1.0) - logratio).mean()
    return loss, (pg_loss, v_loss, ent, approx_kl)


def minibatch_step(params, opt_state, minibatch, key, config: TrainConfig, tx, axis_name: str | None = None):
    """One optimizer step on one minibatch -> (params, opt_state, stacked loss terms `(4,)`).

    Inside `shard_map` with `axis_name`, each device holds its slice of the minibatch and the
    gradient is averaged over devices (`pmean`): the gradient of the whole minibatch's loss.
    """
    (_, aux), grads = jax.value_and_grad(ppo_loss, has_aux=True)(params, minibatch, key, config, axis_name)
    aux = jnp.stack(aux)
    if axis_name is not None:
        grads = jax.lax.pmean(grads, axis_name)
        aux = jax.lax.pmean(aux, axis_name)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, aux


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
    if chunk_updates is None:
        chunk_updates = int(config.extra.get("chunk_updates", 0)) or _default_chunk(num_updates)
    chunk_updates = min(int(chunk_updates), num_updates)
    plan = (chunk_updates,) * (num_updates // chunk_updates)
    plan += (num_updates % chunk_updates,) * bool(num_updates % chunk_updates)
    tx = make_optimizer(config, num_updates)
    venv_local = VecEnv(spec, local_envs)

    def env_action(action):
        if spec.discrete:
            return action
        return jnp.clip(action, spec.action_low, spec.action_high)  # the loss sees the raw sample

    # An env is truncated at most once per max_episode_steps steps: at most this many
    # truncated rows per rollout (all rows when the env has no known limit).
    truncation_slots = local_envs * (math.ceil(config.num_steps / spec.max_episode_steps)
                                     if spec.max_episode_steps else config.num_steps)

    def rollout(params, env_state, obs, key):
        # Every env random draw and reset state of the rollout in one batched call (see
        # VecEnv.draw_pool): the scan body keeps only the transition, the policy and a select.
        key, k_pool, k_act = jax.random.split(key, 3)
        pool = venv_local.draw_pool(k_pool, config.num_steps)
        # One batched split for the rollout's action keys: a split per step would run
        # threefry (a rolled loop on CPU) inside every step.
        act_keys = jax.random.split(k_act, config.num_steps)
        fused = fuse_policy(params)  # half the matmuls per step

        def step(carry, t):
            env_state, obs = carry
            out, value = apply_fused(fused, obs, spec.policy_width)
            action, logprob, _ = jax_impl.sample_logits(act_keys[t], policy_dist(params, out))
            res = venv_local.step_from_pool(pool, t, env_state, env_action(action))
            step_out = Transition(obs, action, logprob, value, res.reward, res.done)
            return (res.state, res.obs), (step_out, res.final_obs, res.truncated)

        (env_state, obs), (traj, final_obs, truncated) = jax.lax.scan(
            step, (env_state, obs), jnp.arange(config.num_steps))
        # A time-limit end is not a terminal state: bootstrap it with V(final_obs), folded into
        # the reward so that GAE can treat every end as terminal. One batched critic pass after
        # the scan (per step, XLA:CPU's per-op overhead costs more than the arithmetic), on the
        # truncated rows only, gathered to a fixed size that no rollout can exceed.
        final_value = truncated_values(lambda o: apply_fused(fused, o, spec.policy_width)[1],
                                       final_obs, truncated, truncation_slots)
        bootstrap = config.gamma * final_value
        raw_reward = traj.reward
        traj = traj._replace(reward=raw_reward + bootstrap)
        return env_state, obs, key, traj, raw_reward

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
        env_state, obs, key, traj, raw_reward = rollout(state.params, state.env_state, state.obs, key)
        _, last_value = apply_policy(state.params, obs)
        adv, ret = compute_gae(traj.reward, traj.value, traj.done, last_value, config.gamma, config.gae_lambda)
        # Episode bookkeeping sees every device's envs, in global env order.
        gather = lambda x: jax.lax.all_gather(x, AXIS, axis=1, tiled=True)  # noqa: E731
        stats = jax_stats_update(state.stats, raw_reward, traj.done, gather=gather)
        flat = lambda x: x.reshape((local_batch,) + x.shape[2:])  # noqa: E731
        batch = tuple(map(flat, (traj.obs, traj.action, traj.logprob, traj.value, adv, ret)))
        key, k_learn = jax.random.split(key)
        params, opt_state, losses = learn(state.params, state.opt_state, batch, k_learn)
        new = RunnerState(params, opt_state, env_state, obs, stats, key[None], state.update + 1)
        metrics = jnp.concatenate([jax_stats_mean(stats)[None], losses])
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
                           jax_stats_init(config.num_envs, RETURN_WINDOW),
                           jax.random.split(k_run, n_dev), jnp.zeros((), jnp.int32))

    # out_shardings must mirror the state tree; a prefix per field is enough for jit.
    init = jax.jit(init_state, out_shardings=shardings)
    return PPOProgram(init, chunk(chunk_updates), chunk, mesh, spec, chunk_updates, num_updates, shardings, plan)


def _default_chunk(num_updates: int) -> int:
    """About 25 chunks per run (about 64 updates at most), preferring the divisor of
    num_updates nearest that size (within a factor 2) so that no second program, for a
    shorter last chunk, has to be compiled."""
    target = max(1, min(64, math.ceil(num_updates / 25)))
    divisors = [d for d in range((target + 1) // 2, 2 * target + 1) if num_updates % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d)) if divisors else target


def _metrics_dict(metrics) -> dict:
    """Stacked chunk metrics `(updates, 5)` -> dict of per-update arrays."""
    m = np.asarray(metrics)
    return {"mean_return": m[:, 0], "policy_loss": m[:, 1], "value_loss": m[:, 2], "entropy": m[:, 3], "approx_kl": m[:, 4]}


def make_train(config: TrainConfig, *, mesh: Mesh | None = None):
    """PureJaxRL's interface: `train(key) -> (RunnerState, metrics)`, the whole run as one
    jitted call. metrics: dict of `(num_updates,)` float32 arrays (mean_return,
    policy_loss, value_loss, entropy, approx_kl)."""
    program = make_program(config, mesh=mesh, chunk_updates=config.num_updates)

    def run(key):
        state, metrics = program.run_chunk(program.init(key))
        return state, _metrics_dict(metrics)

    return run


def train(config: TrainConfig, logger) -> dict:
    """Trains PPO on a gymnax env; records per update; saves the checkpoint; returns a summary.

    Summary keys: steps, sps (env steps/s without compile), sps_with_compile, compile_s,
    mean_return (last recorded), devices, checkpoint (path).
    """
    program = make_program(config)
    key = jax.random.PRNGKey(config.seed)
    t_start = time.perf_counter()
    state = program.init(key)
    compiled = {program.chunk_updates: program.run_chunk.lower(state).compile()}
    compile_s = time.perf_counter() - t_start
    steps_per_update = config.batch_size
    run_s, mean_return, updates_done = 0.0, float("nan"), 0
    for n in program.chunk_plan:
        if n not in compiled:  # the shorter last chunk, compiled only when reached
            t0 = time.perf_counter()
            compiled[n] = program.chunk(n).lower(state).compile()
            compile_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        state, metrics = compiled[n](state)
        metrics = _metrics_dict(jax.device_get(metrics))
        elapsed = time.perf_counter() - t0
        run_s += elapsed
        sps = n * steps_per_update / max(elapsed, 1e-9)
        reached = False
        for i in range(n):
            updates_done += 1
            row = {k: float(v[i]) for k, v in metrics.items()}
            logger.record(updates_done * steps_per_update, sps=sps, **row)
            mean_return = row["mean_return"]
            if config.target_return is not None and mean_return >= config.target_return:
                reached = True
        if reached:
            break
    steps = updates_done * steps_per_update
    # Multi-host: params are replicated, so one process writes the checkpoint.
    path = logger.run_dir / CHECKPOINT_NPZ
    if jax.process_index() == 0:
        path = save_checkpoint(logger.run_dir, state.params, {
            "env_id": config.env_id, "hidden_size": config.hidden_size, "seed": config.seed,
            "steps": steps, "config": config.to_dict(),
        })
    return {
        "steps": steps,
        "sps": steps / max(run_s, 1e-9),
        "sps_with_compile": steps / max(run_s + compile_s, 1e-9),
        "compile_s": compile_s,
        "mean_return": mean_return,
        "devices": program.mesh.size,
        "checkpoint": str(path),
    }


def evaluate(run_dir, episodes: int = 20, seed: int = 0) -> float:
    """Mean return of `episodes` greedy episodes (argmax / Normal mean) of a saved run.

    All episodes run in parallel under jit, each stopped at its first `done`.
    Raises FileNotFoundError if `run_dir` has no jax checkpoint, ValueError for episodes < 1.
    """
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes < 1:
        raise bad_value("episodes", "a positive int", repr(episodes))
    params, meta = load_checkpoint(run_dir)
    spec = make_env(meta["env_id"])
    venv = VecEnv(spec, int(episodes))
    horizon = spec.max_episode_steps or 10_000

    @jax.jit
    def run(key):
        k_reset, key = jax.random.split(key)
        obs, env_state = venv.reset(k_reset)

        def step(carry, _):
            env_state, obs, key, total, alive = carry
            key, k_act, k_env = jax.random.split(key, 3)
            out, _ = apply_policy(params, obs)
            action, _, _ = jax_impl.sample_logits(k_act, policy_dist(params, out), deterministic=True)
            if not spec.discrete:
                action = jnp.clip(action, spec.action_low, spec.action_high)
            res = venv.step(k_env, env_state, action)
            total = total + jnp.where(alive, res.reward, 0.0)
            return (res.state, res.obs, key, total, alive & ~res.done), None

        init = (env_state, obs, key, jnp.zeros((episodes,), jnp.float32), jnp.ones((episodes,), bool))
        (_, _, _, total, _), _ = jax.lax.scan(step, init, None, horizon)
        return total.mean()

    return float(run(jax.random.PRNGKey(seed)))
