"""Where the torch pipeline's CPU time goes, per update: each part of the loop timed with
`time.thread_time` (this thread's CPU time, which other processes disturb much less than wall
time) by wrappers around the pipeline's own functions, in one training run.

Parts (milliseconds of CPU per update of num_envs x num_steps steps; nested parts are
included in their parent):
    rollout                          collect_rollout
      policy step                    Agent.rollout_step (eager) or the compiled forward
        sample_logits (rollout)      torch_impl.sample_logits without autograd
      env step                       GymVecEnv.step (CartPole in Python, episode statistics)
      buffer writes                  RolloutBuffer.store_step
    bootstrap and GAE                finish_rollout
    update                           ppo_update (update_epochs x num_minibatches minibatches)
      forward and loss               minibatch_loss (eager: forward, sample_logits scoring, loss)
        sample_logits (update)       torch_impl.sample_logits with autograd (eager only)
      backward                       Tensor.backward
      clip                           clip_gradients_
      Adam                           the optimizer's step
The rest of an update (learning-rate schedule, weight refresh, statistics) is not timed.

    python benchmarks/torch_train_cost.py                       # eager, 100k steps, seed 0
    python benchmarks/torch_train_cost.py --compile --seed 1
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections import defaultdict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402  (benchmarks/ is not a package)

PARTS = [("rollout", 0), ("policy step", 1), ("sample_logits (rollout)", 2), ("env step", 1),
         ("buffer writes", 1), ("bootstrap and GAE", 0), ("update", 0), ("forward and loss", 1),
         ("sample_logits (update)", 2), ("backward", 1), ("clip", 1), ("Adam", 1)]

_TOTALS: dict = defaultdict(int)
_CALLS: dict = defaultdict(int)


def _timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.thread_time_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            _TOTALS[name] += time.thread_time_ns() - start
            _CALLS[name] += 1
    return wrapper


def _sampler(fn):
    rollout, update = _timed("sample_logits (rollout)", fn), _timed("sample_logits (update)", fn)

    def wrapper(*args, **kwargs):
        return (update if torch.is_grad_enabled() else rollout)(*args, **kwargs)
    return wrapper


def instrument(compiled_run: bool) -> None:
    """Wrap the pipeline's functions where the loop looks them up (module attributes); with
    --compile the sampler is inside the compiled graphs and not timed apart."""
    from puffer_backend import torch_impl
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
    from puffer_backend.pipelines.torch import learner, loop, policy

    if not compiled_run:
        torch_impl.sample_logits = _sampler(torch_impl.sample_logits)  # the agent binds it when built
    policy.Agent.rollout_step = _timed("policy step", policy.Agent.rollout_step)
    GymVecEnv.step = _timed("env step", GymVecEnv.step)
    learner.RolloutBuffer.store_step = _timed("buffer writes", learner.RolloutBuffer.store_step)
    loop.collect_rollout = _timed("rollout", loop.collect_rollout)
    loop.finish_rollout = _timed("bootstrap and GAE", loop.finish_rollout)
    loop.ppo_update = _timed("update", loop.ppo_update)
    learner.clip_gradients_ = _timed("clip", learner.clip_gradients_)
    torch.Tensor.backward = _timed("backward", torch.Tensor.backward)
    torch.optim.Adam.step = _timed("Adam", torch.optim.Adam.step)
    compile_ = torch.compile
    loss = loop.minibatch_loss = _timed("forward and loss", learner.minibatch_loss)

    def compiled(fn, *args, **kwargs):
        if fn is loss:  # compile the loss itself, time the compiled one
            return _timed("forward and loss", compile_(learner.minibatch_loss, *args, **kwargs))
        out = compile_(fn, *args, **kwargs)
        return _timed("policy step", out) if isinstance(fn, policy.Agent) else out
    torch.compile = compiled


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="torch.compile (--compile)")
    args = parser.parse_args(argv)
    print("\n".join(machine_lines()))
    print(f"# command: python {' '.join(map(shlex.quote, sys.argv))}")
    instrument(args.compile)
    from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

    with tempfile.TemporaryDirectory() as workdir:
        config = TrainConfig(backend="torch", total_steps=args.steps, seed=args.seed, target_return=None,
                             compile=args.compile, out_dir=workdir, run_name="run")
        logger = MemoryLogger(os.path.join(workdir, "run"))
        start = time.thread_time_ns()
        summary = load_pipeline("torch").train(config, logger)
        whole = time.thread_time_ns() - start
    updates = _CALLS["update"]
    per = {name: _TOTALS[name] / updates / 1e6 for name in _TOTALS}
    loop_ms = per["rollout"] + per["bootstrap and GAE"] + per["update"]
    print(f"# {updates} updates, {summary['steps']} steps, sps {summary['sps']:.0f} (wall, training only), "
          f"this thread's CPU {whole / 1e9:.2f} s in train() (compile and start-up included)")
    print(f"{'part':30s} {'ms/update':>10s} {'us/call':>9s} {'calls/update':>13s}")
    for name, depth in PARTS:
        if name in per:
            calls = _CALLS[name] / updates
            print(f"{'  ' * depth + name:30s} {per[name]:10.3f} {per[name] * 1e3 / calls:9.1f} {calls:13.1f}")
    print(f"{'rollout + GAE + update':30s} {loop_ms:10.3f}")


if __name__ == "__main__":
    main()
