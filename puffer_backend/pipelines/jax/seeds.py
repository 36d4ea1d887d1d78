"""Several seeds of one config as ONE compiled program: the chunk of updates (program.py)
under `jax.vmap` over seeds, each seed with its own PRNG key, params, optimizer state, env
states and episode statistics. Seed s trains as the single-seed run of seed s does (the
same keys and chunk plan; float sums in another order, so equal to rounding).

The program runs on one device: the sharded program's collectives (all_gather, pmean)
under vmap stop making progress on XLA:CPU with several devices and two seeds or more
(0% CPU, no error), and seeds are parallel work enough.

Each seed has its own logger, run folder, rows, checkpoint and summary, as `ppo.train`
gives it. A seed that reaches its target stops there (its checkpoint is that chunk's
state); the program runs on for the others. Ctrl-C saves every seed's checkpoint.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..compile_cache import jax_compile_cache
from ..config import check_pipeline_config
from ..checkpoint import save_checkpoint
from ..interrupt import StopOnInterrupt
from ..metrics import RunClock, notify
from ..run_folder import claim_run_folder
from ..seed_stats import check_seeds
from ..training_run import TrainingRun
from ...spec.errors import bad_value
from .policy import named_policy
from .ppo import BACKEND, _all_finite, _checkpoint
from .program import make_mesh, make_program, metrics_dict, plan_chunks

__all__ = ["train_seeds"]


def train_seeds(config, seeds, loggers, *, env=None, policy=None) -> list[dict]:
    """Train `config` once per seed of `seeds` in one vmapped program; `loggers[i]` is seed
    i's logger (its run folder), and seed i's config is `config` with that seed, `out_dir` and
    `run_name` naming that folder. Returns the summaries in the order of `seeds`.
    Raises as `ppo.train` does, and ValueError for seeds and loggers that do not pair up."""
    timer = _PausableTimer()
    clock = RunClock(timer)
    check_pipeline_config(config, BACKEND)
    seeds = check_seeds(seeds)
    loggers = list(loggers)
    if len(loggers) != len(seeds):
        raise bad_value("loggers", f"one logger per seed ({len(seeds)})", f"{len(loggers)} loggers")
    # Each seed's config (its config.json) names the folder it is saved in, as the command's runs do.
    configs = [dataclasses.replace(config, seed=seed, out_dir=str(logger.run_dir.parent), run_name=logger.run_dir.name)
               for seed, logger in zip(seeds, loggers)]
    with contextlib.ExitStack() as held:
        for one, logger in zip(configs, loggers):
            held.enter_context(claim_run_folder(logger.run_dir, one, resume=False))
        cache = held.enter_context(jax_compile_cache(config.compile_cache))
        return _train(configs, loggers, clock, timer, cache, env, policy)


class _PausableTimer:
    """perf_counter less the time spent in `paused()`: one seed's checkpoint is not training
    time for the seeds that share its clock."""

    def __init__(self):
        self._paused = 0.0

    def __call__(self) -> float:
        return time.perf_counter() - self._paused

    @contextlib.contextmanager
    def paused(self):
        begin = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - begin


def _train(configs, loggers, clock, timer, cache, env, policy) -> list[dict]:
    program = make_program(configs[0], mesh=make_mesh(jax.devices()[:1]), env=env,
                           policy=named_policy(configs[0], policy))
    state = None
    host = {}  # the state on the host, fetched once for every seed saved from it

    def saver(i):
        def save(run: TrainingRun) -> None:
            with timer.paused():
                if host.get("of") is not state:
                    host.update(of=state, tree=jax.device_get(state))
                one = jax.tree.map(lambda x: x[i], host["tree"])
                save_checkpoint(loggers[i].run_dir, configs[i], _checkpoint(one, run.step, run.update, program, clock))
        return save

    runs = [TrainingRun(one, logger, clock, save=saver(i), num_updates=program.num_updates,
                        steps_per_update=one.batch_size, extra_summary={"devices": 1, "seeds_in_program": len(configs)})
            for i, (one, logger) in enumerate(zip(configs, loggers))]
    open_runs = list(range(len(runs)))
    # One Ctrl-C guard for the group (the runs' own guards then stay out): it stops every seed
    # at the end of the chunk, each saves, then KeyboardInterrupt.
    with StopOnInterrupt() as stop:
        for run in runs:
            run.__enter__()
        try:
            notify(loggers[0], f"compiling the jax program for {len(runs)} seeds ({program.chunk_updates} updates "
                               "per call) ...")
            with clock.compiling():
                keys = jnp.stack([jax.random.PRNGKey(one.seed) for one in configs])
                state = jax.jit(jax.vmap(program.init_state))(keys)
                step = jax.jit(jax.vmap(program.train_updates, in_axes=(0, None)), donate_argnums=0)
                compiled = step.lower(state, np.int32(program.chunk_updates)).compile()
                finite = jax.jit(jax.vmap(_all_finite))
                finite(state.params)
            notify(loggers[0], f"compiled in {clock.compile_s:.1f}s{cache.describe()} (not counted in sps)")

            clock.start_training()
            for n in plan_chunks(program.num_updates, program.chunk_updates):
                if stop.requested or not open_runs:
                    break
                begin = clock.now()
                state, metrics = compiled(state, np.int32(n))
                metrics = np.asarray(jax.device_get(metrics))[:, :n]
                end = clock.now()
                params_finite = np.asarray(finite(state.params))
                for i in list(open_runs):
                    rows = metrics_dict(metrics[i])
                    for u in range(n):
                        row = {name: float(values[u]) for name, values in rows.items()}
                        runs[i].end_update(row["mean_return"], row["episodes"], row,
                                           at=begin + (u + 1) / n * (end - begin),
                                           params_finite=bool(params_finite[i]) or u < n - 1)
                    if runs[i].should_stop():  # this seed is done: its checkpoint is this chunk's state
                        runs[i].__exit__(None, None, None)
                        open_runs.remove(i)
                    else:
                        runs[i].save_if_due()
        except BaseException as error:
            for i in open_runs:
                runs[i].__exit__(type(error), error, error.__traceback__)
            raise
        for i in open_runs:  # each saves its checkpoint and sets its summary
            runs[i].__exit__(None, None, None)
    if stop.requested:
        raise KeyboardInterrupt
    return [run.summary for run in runs]
