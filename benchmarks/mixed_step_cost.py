"""What one rollout step costs in the mixed and torch pipelines, alone and as the loop runs it.

A rollout step is a torch policy step (`Agent.rollout_step`: the fused MLP and
`torch_impl.sample_logits`) and an env step: for mixed, one jitted gymnax step (dispatch,
DLPack hand-over of the action and the observation); for torch, the gymnasium envs stepped
in Python (`GymVecEnv.step`). Each part is timed on its own (repeated back to back) and
inside the loop (policy step, env step, policy step, ...), as the pipelines run them; the
difference is what the two halves cost each other (caches, branch predictors and thread
pools shared by torch, XLA and Python). Medians over --blocks blocks of each block's median
over --steps steps, microseconds: wall time, and CPU time of the process (all its threads:
the JAX step of a large batch runs on XLA's threads), which a loaded machine disturbs less.
--env takes the env's preset (pipelines.presets: Pendulum-v1 is 1 env x 2048 steps with
observation and reward normalization), --num-envs overrides its env count.

    python benchmarks/mixed_step_cost.py                 # CartPole-v1, 4 envs
    python benchmarks/mixed_step_cost.py --num-envs 64
    python benchmarks/mixed_step_cost.py --env Pendulum-v1
    python benchmarks/mixed_step_cost.py --env Pendulum-v1 --updates 6   # whole updates

--updates N times whole updates instead, as the shared loop runs them (pipelines.torch.loop:
the rollout, its end with GAE, the PPO update of the config), the two pipelines alternating
update by update in one process, the first of each untimed: medians per env step.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time

import numpy as np
import torch

from puffer_backend.pipelines.config import TrainConfig
from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv
from puffer_backend.pipelines.torch.policy import build_agent

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402  (benchmarks/ is not a package)

PIPELINES = ("mixed", "torch")
PHASES = ("rollout", "rollout end", "update")
CLOCKS = (time.perf_counter, time.process_time)  # wall, CPU of the process


def _now() -> tuple:
    return tuple(clock() for clock in CLOCKS)


def _since(start: tuple) -> tuple:
    return tuple(clock() - t for clock, t in zip(CLOCKS, start))


def _block_median(fn, steps: int) -> tuple:
    times = []
    for i in range(steps):
        t0 = _now()
        fn(i)
        times.append(_since(t0))
    return tuple(statistics.median(column) for column in zip(*times))


def measure(env_step, agent, obs, steps: int, blocks: int) -> dict:
    """Medians (us) over `blocks` of the per-block medians of the policy step and the env step,
    alone and alternating as in a rollout; blocks of the three kinds are interleaved, so that
    this machine's changing speed hits all alike."""
    results = {"policy alone": [], "env alone": [], "policy in loop": [], "env in loop": []}
    with torch.inference_mode():
        action = agent.rollout_step(obs)[0]
        for _ in range(blocks):
            results["policy alone"].append(_block_median(lambda i: agent.rollout_step(obs), steps))
            results["env alone"].append(_block_median(lambda i: env_step(i, action), steps))
            policy_loop, env_loop = [], []
            for i in range(steps):
                t0 = _now()
                action = agent.rollout_step(obs)[0]
                t1 = _now()
                obs = env_step(i, action)
                policy_loop.append(tuple(b - a for a, b in zip(t0, t1)))
                env_loop.append(_since(t1))
            results["policy in loop"].append(tuple(statistics.median(c) for c in zip(*policy_loop)))
            results["env in loop"].append(tuple(statistics.median(c) for c in zip(*env_loop)))
    return {name: tuple(statistics.median(c) * 1e6 for c in zip(*values)) for name, values in results.items()}


def contract_case(env, steps: int, blocks: int, hidden_size: int = 64) -> dict:
    """Time `env` (either pipeline's env: the one env contract) as the shared loop steps it."""
    with torch.inference_mode():
        obs = env.reset(0)
    env.warm_up()
    agent = build_agent(env, hidden_size)

    def env_step(i, action):
        env.step(i % env.num_steps, action)
        return env.observation()
    return measure(env_step, agent, obs, steps, blocks)


def _env_options(config) -> dict:
    return {"norm_obs": config.norm_obs, "norm_reward": config.norm_reward, "gamma": config.gamma}


def mixed_case(config, steps: int, blocks: int) -> dict:
    env = GymnaxTorchEnv(config.env_id, config.num_envs, config.num_steps, **_env_options(config))
    return contract_case(env, steps, blocks, config.hidden_size)


def torch_case(config, steps: int, blocks: int) -> dict:
    env = GymVecEnv(config.env_id, config.num_envs, config.num_steps, **_env_options(config))
    return contract_case(env, steps, blocks, config.hidden_size)


def _loop_parts(env, config):
    """What pipelines.torch.loop.train_on builds around `env`: (agent, optimizer, buffer, act, generator)."""
    from puffer_backend.pipelines.torch.learner import RolloutBuffer, make_optimizer
    from puffer_backend.pipelines.torch.policy import rollout_fn
    from puffer_backend.pipelines.torch.runtime import seed_everything

    generator = seed_everything(config.seed)
    agent = build_agent(env, config.hidden_size)
    action_dtype = torch.float32 if env.action_spec.action_dtype == np.float32 else torch.int64
    buf = RolloutBuffer(config.num_steps, env.num_envs, env.obs_width, env.obs_dtype, env.action_spec.action_shape,
                        action_dtype)
    return agent, make_optimizer(agent, config.learning_rate), buf, rollout_fn(agent, agent, False, generator), generator


def update_costs(config, updates: int, pipelines=PIPELINES) -> dict:
    """{pipeline: {phase: (wall us, CPU us) per env step}}: rollout, its end (values, rewards,
    GAE) and the PPO update, medians over `updates` updates after an untimed first one."""
    from puffer_backend.pipelines.torch.learner import ppo_update
    from puffer_backend.pipelines.torch.loop import collect_rollout, finish_rollout
    from puffer_backend.pipelines.torch.runtime import unchecked_values

    runs = {}
    for name in pipelines:
        env = {"mixed": GymnaxTorchEnv, "torch": GymVecEnv}[name](config.env_id, config.num_envs, config.num_steps, **_env_options(config))
        with torch.inference_mode():
            obs = env.reset(config.seed)
        env.warm_up()
        runs[name] = [env, obs, *_loop_parts(env, config)]
    steps = config.num_envs * config.num_steps
    times = {name: {phase: [] for phase in PHASES} for name in runs}
    with unchecked_values():
        for update in range(updates + 1):
            for name, run in runs.items():
                env, obs, agent, optimizer, buf, act, generator = run
                agent.refresh_rollout_weights()
                t0 = _now()
                obs = collect_rollout(env, act, buf, obs)
                t1 = _now()
                finish_rollout(env, agent.get_value, buf, obs, config)
                t2 = _now()
                ppo_update(agent, optimizer, buf, config, generator)
                t3 = _now()
                run[1] = obs
                if update:
                    for phase, (a, b) in zip(times[name], ((t0, t1), (t1, t2), (t2, t3))):
                        times[name][phase].append(tuple(y - x for x, y in zip(a, b)))
    return {name: {phase: tuple(statistics.median(c) / steps * 1e6 for c in zip(*values))
                   for phase, values in phases.items()} for name, phases in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1", help="a gymnasium id that gymnax also has (its preset)")
    parser.add_argument("--num-envs", type=int, default=None, help="default: the preset's (4; 1 for Pendulum-v1)")
    parser.add_argument("--steps", type=int, default=500, help="steps per block")
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--num-steps", type=int, default=None, help="steps per rollout (default: the preset's)")
    parser.add_argument("--updates", type=int, default=0, help="time N whole updates instead (see above)")
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES),
                        help="mixed alone for a JAX simulator (FAMILY/ID), which gymnasium lacks")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as both pipelines run
    sizes = {name: value for name, value in (("num_envs", args.num_envs), ("num_steps", args.num_steps)) if value}
    config = TrainConfig.for_env(args.env, "mixed", **sizes)
    print(f"# command: python {' '.join(shlex.quote(a) for a in [os.path.relpath(__file__)] + sys.argv[1:])}")
    print(f"# {config.env_id}, {config.num_envs} envs x {config.num_steps} steps (norm_obs {config.norm_obs}, "
          f"norm_reward {config.norm_reward})")
    print("\n".join(machine_lines()))
    if args.updates:
        costs = update_costs(config, args.updates, args.pipelines)
        print(f"# per env step, medians over {args.updates} updates, microseconds of wall / CPU time")
        print(f"{'pipeline':9s}" + "".join(f"{c:>18s}" for c in [*PHASES, "total"]))
        totals = {}
        for name, row in costs.items():
            totals[name] = tuple(sum(column) for column in zip(*row.values()))
            print(f"{name:9s}" + "".join(f"{w:10.1f} /{c:6.1f}" for w, c in [*row.values(), totals[name]]))
        if len(totals) == 2:
            ratio = [t / m for m, t in zip(totals["mixed"], totals["torch"])]
            print(f"# mixed's speed / torch's: {ratio[0]:.2f}x wall, {ratio[1]:.2f}x CPU")
        return 0
    print(f"# medians over {args.blocks} blocks of {args.steps} steps, microseconds of wall / CPU time")
    cases = {"mixed": mixed_case, "torch": torch_case}
    rows = {name: cases[name](config, args.steps, args.blocks) for name in args.pipelines}
    columns = list(next(iter(rows.values())))
    print(f"{'pipeline':9s}" + "".join(f"{c:>18s}" for c in columns) + f"{'step in loop':>18s}")
    for name, row in rows.items():
        total = tuple(p + e for p, e in zip(row["policy in loop"], row["env in loop"]))
        print(f"{name:9s}" + "".join(f"{w:10.1f} /{c:6.1f}" for w, c in [*(row[c] for c in columns), total]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
