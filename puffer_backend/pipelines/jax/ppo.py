"""PPO in JAX, PureJaxRL-style: gymnax envs, rollout and update under one `jax.jit` (program.py).

`make_train(config)` returns `train(key) -> (state, metrics)`, the whole run as one jitted
call (PureJaxRL's interface). `train(config, logger)` runs the same update function in
chunks of updates, one jitted call per chunk, so progress shows while the run stays on the
device: a chunk's rows are recorded after it returns, each with its share of the chunk's
time. Compile time is measured apart (`compile_s`) and announced through `logger.note`.

`train(config, logger, resume=True)` continues the run saved in `logger.run_dir` bit for
bit: the checkpoint holds the whole runner state (params, optax state, env states,
observations, episode statistics, PRNG keys), saved at the end of a chunk, and the resumed
run follows the chunk plan an uninterrupted run of `config` follows (program.plan_chunks).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ... import jax_impl
from ..checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..compile_cache import jax_compile_cache
from ..config import TrainConfig, check_pipeline_config, check_positive_int
from ..envs.factory import resolve_factory
from ..envs.gymnax_vec import VecEnv, action_mask, make_env
from ..episodes import EVAL_HORIZON
from ..metrics import RunClock, notify
from ..normalize import norm_arrays, norm_state_arrays, rms_normalize, saved_obs_rms
from ..resume import resume_checkpoint
from ..run_folder import claim_run_folder
from ..training_run import TrainingRun
from ...spec.errors import bad_value
from .policy import JaxPolicy, make_policy, named_policy
from .program import AXIS, METRICS, PPOProgram, RunnerState, make_mesh, make_program, metrics_dict, plan_chunks
from .trees import path_name, restore_tree, tree_arrays

__all__ = ["AXIS", "make_mesh", "make_program", "make_train", "train", "train_seeds", "evaluate", "record_video",
           "check_env", "load_params"]

BACKEND = "jax"


def make_train(config: TrainConfig, *, mesh=None, env=None, policy=None):
    """PureJaxRL's interface: `train(key) -> (RunnerState, metrics)`, the whole run as one
    jitted call. metrics: dict of `(num_updates,)` float32 jax arrays (program.METRICS:
    mean_return, episodes, policy_loss, value_loss, entropy, approx_kl, clipfrac). env, policy: as
    `train`'s. Several seeds as PureJaxRL does, on one device: `jax.jit(jax.vmap(train))(keys)`
    (several devices: the sharded program under vmap can hang on XLA:CPU; see train_seeds)."""
    program = make_program(config, mesh=mesh, chunk_updates=config.num_updates, env=env,
                           policy=named_policy(config, policy))

    def run(key):
        state, metrics = program.train_chunk(program.init_state(key))
        # jax arrays, not metrics_dict's numpy: `jax.jit(jax.vmap(train))(keys)` traces this.
        return state, {name: metrics[:, i] for i, name in enumerate(METRICS)}

    return run


def check_env(config, env=None) -> None:
    """Build the run's JAX env and check that this pipeline can train it (observations whose leaves
    are bool, int or float arrays, Discrete or float Box actions), without training: ValueError naming env_id.
    The command calls it before it creates the run folder."""
    make_env(config.env_id, resolve_factory(config.env_id, env))


def train(config: TrainConfig, logger, *, resume: bool = False, env=None, policy=None) -> dict:
    """Trains PPO on a gymnax env; records one row per update; saves the checkpoint at the end,
    at the end of the chunk that reaches each multiple of `config.save_every` updates, and on
    Ctrl-C; returns the summary of pipelines.metrics plus `devices` (the mesh size).

    resume: continue the run whose checkpoint is in `logger.run_dir` (see the module
    docstring); the summary then covers the whole run.
    env: a user's gymnax factory `() -> (env, env_params)` (else `config.env_id` names a
    gymnax id or a `package.module:function` factory). policy: a user's flax module or
    `(init, apply)` pair with `apply(params, obs) -> (dist_input, value)` (jax/policy.py);
    else the built-in actor-critic.
    Raises TypeError/ValueError for a bad config, env or policy (before compiling; naming
    env_id for an env it cannot train) or a checkpoint that `config` cannot resume
    (pipelines.resume; saved on another device count or on several hosts),
    FileNotFoundError when there is no checkpoint to resume, and KeyboardInterrupt after
    saving the checkpoint when Ctrl-C stopped the run (at the end of a chunk).
    """
    clock = RunClock()
    check_pipeline_config(config, BACKEND)
    # Multi-host: process 0 records and writes the run folder.
    with claim_run_folder(logger.run_dir, config, resume=resume, main=jax.process_index() == 0), \
            jax_compile_cache(config.compile_cache) as cache:
        return _train(config, logger, clock, cache, resume, env, policy)


def _train(config, logger, clock, cache, resume, env, policy) -> dict:
    program = make_program(config, env=env, policy=named_policy(config, policy))
    checkpoint = resume_checkpoint(logger.run_dir, config, BACKEND) if resume else None
    state = None

    def save(run: TrainingRun) -> None:
        save_checkpoint(logger.run_dir, config, _checkpoint(state, run.step, run.update, program, clock))

    # Multi-host: params are replicated, so process 0 records and writes the checkpoint.
    main = jax.process_index() == 0
    # From here, Ctrl-C (even during the compile) saves a checkpoint.
    with TrainingRun(config, logger, clock, save=save, num_updates=program.num_updates,
                     steps_per_update=config.batch_size, done_updates=checkpoint.update if checkpoint else 0,
                     is_main=main, extra_summary={"devices": program.mesh.size}) as run:
        notify(logger, f"compiling the jax program ({program.chunk_updates} updates per call) ...")
        with clock.compiling():
            state = program.init_state(jax.random.PRNGKey(config.seed))
            if checkpoint is not None:
                state = _restore(state, checkpoint, program)
                clock.continue_from(checkpoint.info["clock"])
            # One program for the whole run: the chunk length is an argument.
            compiled = program.train_updates.lower(state, np.int32(program.chunk_updates)).compile()
            _all_finite(state.params)  # compiled at its first call: here, not in the first chunk's time
        notify(logger, f"compiled in {clock.compile_s:.1f}s{cache.describe()} (not counted in sps)")

        clock.start_training()
        for n in plan_chunks(program.num_updates, program.chunk_updates, run.update):
            if run.interrupted:
                break
            begin = clock.now()
            state, metrics = compiled(state, np.int32(n))
            metrics = metrics_dict(jax.device_get(metrics)[:n])
            end = clock.now()
            params_finite = bool(_all_finite(state.params))  # the chunk's last update's; earlier ones show in its losses
            for i in range(n):
                row = {name: float(values[i]) for name, values in metrics.items()}
                # The chunk ran its updates back to back: row i is given its share of the time.
                run.end_update(row["mean_return"], row["episodes"], row, at=begin + (i + 1) / n * (end - begin),
                               params_finite=params_finite or i < n - 1)
            if run.should_stop():  # the target is seen at the end of the chunk that reached it
                break
            run.save_if_due()
    return run.summary


def train_seeds(config: TrainConfig, seeds, loggers, *, env=None, policy=None) -> list[dict]:
    """`train` once per seed of `seeds` (`loggers[i]`: seed i's logger and run folder, whose
    config.json gets `config` with that seed, `out_dir` and `run_name` naming the folder), all
    seeds in one vmapped program (jax/seeds.py); the summaries in the order of `seeds`."""
    from .seeds import train_seeds as vmapped

    return vmapped(config, seeds, loggers, env=env, policy=policy)


@jax.jit
def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _checkpoint(state: RunnerState, steps: int, updates: int, program: PPOProgram, clock: RunClock) -> Checkpoint:
    """Params (named by their tree paths: `actor/0/kernel`), optax state, the normalization
    statistics, and (on one host) the rest of the runner state: env states, episode
    statistics and PRNG keys, what a bit-identical continuation needs."""
    host = jax.device_get(state.params), jax.device_get(state.opt_state)
    rest = {}
    if state.norm is not None:  # the moments are replicated: addressable on every host
        norm = state.norm
        rest.update(norm_arrays(jax.device_get(norm.obs), jax.device_get(norm.ret), None))
    if jax.process_count() == 1:  # split state is only addressable whole on a single host
        rest.update(tree_arrays(jax.device_get(_rest(state))))
        if state.norm is not None and state.norm.returns is not None:
            rest["norm_returns"] = np.asarray(jax.device_get(state.norm.returns))
    return Checkpoint(BACKEND, steps, updates, params=tree_arrays(host[0]), optimizer=tree_arrays(host[1]),
                      state=rest, info={"devices": program.mesh.size, "clock": clock.times()})


def _rest(state: RunnerState) -> dict:
    rest = {"env_state": state.env_state, "obs": state.obs, "stats": state.stats, "keys": state.keys,
            "update": state.update}
    if state.memory is not None:  # a recurrent policy's state: h, c and the next start flags
        rest["memory"] = state.memory
    return rest


def _restore(template: RunnerState, checkpoint: Checkpoint, program: PPOProgram) -> RunnerState:
    """The runner state saved in `checkpoint`, placed as `template` (a fresh init) is."""
    saved_devices = checkpoint.info.get("devices")
    if saved_devices != program.mesh.size:
        raise bad_value("checkpoint", f"a run saved on {program.mesh.size} devices (envs are split over devices)",
                        f"one saved on {saved_devices}")
    if not checkpoint.state:
        raise bad_value("checkpoint", "the whole runner state",
                        "one saved on several hosts, which keeps params and optimizer only")
    _check_param_names(checkpoint, template.params, program.policy)
    rest = restore_tree(_rest(template), checkpoint.state, "state")
    norm = template.norm
    if norm is not None:
        norm = restore_tree(norm, norm_state_arrays(checkpoint.state, norm), "state/norm")
    return RunnerState(params=restore_tree(template.params, checkpoint.params, "params"),
                       opt_state=restore_tree(template.opt_state, checkpoint.optimizer, "optimizer"), norm=norm,
                       **rest)


def load_params(checkpoint: Checkpoint, policy: JaxPolicy, obs_dim: int):
    """The saved params in the tree of `policy.init` (a fresh init gives the structure; every
    leaf comes from the checkpoint). ValueError when the names or shapes differ."""
    template = policy.init(jax.random.PRNGKey(0), jnp.zeros((1, obs_dim), jnp.float32))
    _check_param_names(checkpoint, template, policy)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [path_name(path) for path, _ in leaves]
    values = []
    for name, (_, leaf) in zip(names, leaves):
        value = checkpoint.params[name]
        if value.shape != np.shape(leaf):
            raise bad_value("checkpoint" if policy.builtin else "policy",
                            f"{name} of shape {value.shape} (the checkpoint's)", str(np.shape(leaf)))
        values.append(jnp.asarray(value))
    return jax.tree_util.tree_unflatten(treedef, values)


def _check_param_names(checkpoint: Checkpoint, template, policy: JaxPolicy) -> None:
    """The checkpoint's params are named as `policy`'s (`template`, its params tree); else a
    one-line ValueError, which for the built-in policy says that the run trained its own."""
    names = sorted(path_name(path) for path, _ in jax.tree_util.tree_flatten_with_path(template)[0])
    saved = sorted(checkpoint.params)
    if names == saved:
        return
    if policy.builtin:
        hint = "; a run of your own policy: pass it as policy= (from Python)" if set(saved) - set(names) else ""
        raise bad_value("checkpoint", f"the built-in actor-critic's params ({_first_names(names)})",
                        f"params {_first_names(saved)}{hint}")
    raise bad_value("policy", f"params named as the checkpoint's ({_first_names(saved)})",
                    f"a policy whose params are {_first_names(names)}")


def _first_names(names: list) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def evaluate(run_dir, episodes: int = 20, seed: int = 0, *, env=None, policy=None) -> float:
    """Mean return of `episodes` greedy episodes (argmax / Normal mean) of a saved run, the
    env's own rewards, observations normalized with the saved statistics when the run
    normalized them.

    All episodes run in parallel under jit, each stopped at its first `done` (or after
    EVAL_HORIZON steps for an env without a time limit). env, policy: as `train`'s (needed
    again when the run used them and they cannot be imported from config.env_id).
    Raises FileNotFoundError if `run_dir` has no checkpoint, ValueError for episodes < 1.
    """
    episodes = check_positive_int("episodes", episodes)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    gymnax_env = make_env(config.env_id, resolve_factory(config.env_id, env))
    pol = make_policy(gymnax_env, config.hidden_size, named_policy(config, policy), network=config.network,
                      recurrent=config.recurrent)
    params = load_params(checkpoint, pol, gymnax_env.obs_dim)
    obs_rms = saved_obs_rms(checkpoint.state, config.norm_obs)
    venv = VecEnv(gymnax_env, episodes)
    horizon = gymnax_env.max_episode_steps or EVAL_HORIZON

    @jax.jit
    def run(key):
        k_reset, key = jax.random.split(key)
        obs, env_state = venv.reset(k_reset)

        def step(carry, _):
            env_state, obs, key, total, alive, memory = carry
            key, k_act, k_env = jax.random.split(key, 3)
            seen = obs if obs_rms is None else rms_normalize(obs_rms, obs)
            if memory is None:
                dist, _ = pol.apply(params, seen)
            else:  # the recurrent state, carried and reset where an episode ended
                dist, _, (h, c) = pol.step(params, seen, memory[:2], memory[2])
            action, _, _ = jax_impl.sample_logits(k_act, dist, deterministic=True, mask=action_mask(gymnax_env, obs))
            res = venv.step(k_env, env_state, gymnax_env.env_action(action))
            total = total + jnp.where(alive, res.reward, 0.0)
            if memory is not None:
                memory = (h, c, res.done.astype(jnp.float32))
            return (res.state, res.obs, key, total, alive & ~res.done, memory), None

        memory = (*pol.initial_state(episodes), jnp.ones((episodes,), jnp.float32)) if config.recurrent else None
        init = (env_state, obs, key, jnp.zeros((episodes,), jnp.float32), jnp.ones((episodes,), bool), memory)
        (_, _, _, total, _, _), _ = jax.lax.scan(step, init, None, horizon)
        return total.mean()

    return float(run(jax.random.PRNGKey(seed)))


def record_video(run_dir, path, episodes: int = 1, seed: int = 0, *, env=None, policy=None) -> dict:
    """Play `episodes` greedy episodes one after another and write their frames to `path`
    (.mp4 or .gif; frames from envs.render: classic control through gymnasium's renderer,
    MinAtar grids); returns {"returns": [per episode], "frames": count}.

    Raises ValueError for an env without frames or a path that is not a video file,
    FileNotFoundError when `run_dir` has no checkpoint.
    """
    from ..envs.render import gymnax_frames
    from ..video import VideoWriter, check_video_config, check_video_path, play_gymnax

    episodes = check_positive_int("episodes", episodes)
    path = check_video_path(path)
    config, checkpoint = load_checkpoint(run_dir, BACKEND)
    gymnax_env = make_env(config.env_id, resolve_factory(config.env_id, env))
    frames = gymnax_frames(gymnax_env)  # an env without frames is refused before anything runs
    check_video_config(config)
    pol = make_policy(gymnax_env, config.hidden_size, named_policy(config, policy), network=config.network)
    params = load_params(checkpoint, pol, gymnax_env.obs_dim)
    obs_rms = saved_obs_rms(checkpoint.state, config.norm_obs)

    @jax.jit
    def act(obs):
        dist, _ = pol.apply(params, obs if obs_rms is None else rms_normalize(obs_rms, obs))
        action, _, _ = jax_impl.sample_logits(jax.random.PRNGKey(0), dist, deterministic=True,
                                              mask=action_mask(gymnax_env, obs))
        return gymnax_env.env_action(action)

    with VideoWriter(path, fps=frames.fps) as writer:
        returns = play_gymnax(gymnax_env, act, episodes, seed, writer, frames)
    return {"returns": returns, "frames": writer.frames}
