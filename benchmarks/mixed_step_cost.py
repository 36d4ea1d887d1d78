"""What one rollout step costs in the mixed and torch pipelines, alone and as the loop runs it.

A rollout step is a torch policy step (`Agent.rollout_step`: the fused MLP and
`torch_impl.sample_logits`) and an env step: for mixed, one jitted gymnax step (dispatch,
DLPack hand-over of the action and the observation); for torch, the gymnasium envs stepped
in Python (`GymVecEnv.step`). Each part is timed on its own (repeated back to back) and
inside the loop (policy step, env step, policy step, ...), as the pipelines run them; the
difference is what the two halves cost each other (caches, branch predictors and thread
pools shared by torch, XLA and Python). Medians over --blocks blocks of each block's median
over --steps steps, microseconds.

    python benchmarks/mixed_step_cost.py                 # 4 envs
    python benchmarks/mixed_step_cost.py --num-envs 64
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time

import torch

from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv
from puffer_backend.pipelines.torch.policy import build_agent

NUM_STEPS = 128


def _block_median(fn, steps: int) -> float:
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
                t0 = time.perf_counter()
                action = agent.rollout_step(obs)[0]
                t1 = time.perf_counter()
                obs = env_step(i, action)
                t2 = time.perf_counter()
                policy_loop.append(t1 - t0)
                env_loop.append(t2 - t1)
            results["policy in loop"].append(statistics.median(policy_loop))
            results["env in loop"].append(statistics.median(env_loop))
    return {name: statistics.median(values) * 1e6 for name, values in results.items()}


def contract_case(env, steps: int, blocks: int) -> dict:
    """Time `env` (either pipeline's env: the one env contract) as the shared loop steps it."""
    with torch.inference_mode():
        obs = env.reset(0)
    env.warm_up()
    agent = build_agent(env, 64)

    def env_step(i, action):
        env.step(i % env.num_steps, action)
        return env.observation()
    return measure(env_step, agent, obs, steps, blocks)


def mixed_case(num_envs: int, steps: int, blocks: int) -> dict:
    return contract_case(GymnaxTorchEnv("CartPole-v1", num_envs, NUM_STEPS), steps, blocks)


def torch_case(num_envs: int, steps: int, blocks: int) -> dict:
    return contract_case(GymVecEnv("CartPole-v1", num_envs, NUM_STEPS), steps, blocks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=500, help="steps per block")
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as both pipelines run
    print(f"# command: python {' '.join(shlex.quote(a) for a in [os.path.relpath(__file__)] + sys.argv[1:])}")
    print(f"# {args.num_envs} envs, medians over {args.blocks} blocks of {args.steps} steps, microseconds; load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = {"mixed": mixed_case(args.num_envs, args.steps, args.blocks),
            "torch": torch_case(args.num_envs, args.steps, args.blocks)}
    columns = list(rows["mixed"])
    print(f"{'pipeline':9s}" + "".join(f"{c:>16s}" for c in columns) + f"{'step in loop':>16s}")
    for name, row in rows.items():
        total = row["policy in loop"] + row["env in loop"]
        print(f"{name:9s}" + "".join(f"{row[c]:16.1f}" for c in columns) + f"{total:16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
