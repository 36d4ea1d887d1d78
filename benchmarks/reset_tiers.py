"""What `JaxVectorEnv`'s extra partial-reset sizes buy and cost, per env count, in one process.

The adapter's step resets the envs that ended in the smallest batch of n/8, n/4 or n/2 envs
that holds them (`vector.RESET_TIERS`), but builds all three only from `vector.ALL_TIERS_FROM`
envs; below, only n/8. Each extra size is one more compiled reset. For each --sizes entry
this builds both variants of the same env ("n/8 only" and "n/8, n/4, n/2", whatever the
threshold says), times each one's compile (the reset and the first 3 steps; "n/8 only"
first, so the other may find some of JAX's tracing done: its extra compile is if anything
understated), then steps both on the same random actions, round-robin (timing.medians_us:
--repeats calls of --steps steps each), and prints compile seconds, steps/s and the ratio.

    python benchmarks/reset_tiers.py                                   # brax/inverted_pendulum, 64 256 512 1024
    python benchmarks/reset_tiers.py --env CartPole-v1 --sizes 8 --steps 5 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import machine_lines  # noqa: E402  (benchmarks/ is not a package)
from timing import medians_us  # noqa: E402

VARIANTS = {"n/8 only": float("inf"), "n/8, n/4, n/2": 0}  # -> vector.ALL_TIERS_FROM while built
COMPILE_STEPS = 3


def compile_with(env, all_tiers_from, actions) -> float:
    """Seconds to reset `env` and take its first steps (what compiles), with `all_tiers_from`
    as vector.ALL_TIERS_FROM: the step reads it when it is traced, at its first call."""
    from puffer_backend import vector

    saved = vector.ALL_TIERS_FROM
    vector.ALL_TIERS_FROM = all_tiers_from
    try:
        start = time.perf_counter()
        env.reset(seed=0)
        for action in actions[:COMPILE_STEPS]:
            env.step(action)
        return time.perf_counter() - start
    finally:
        vector.ALL_TIERS_FROM = saved


def measure(env_id: str, n: int, steps: int, repeats: int) -> dict:
    """{variant: (compile seconds, steps/s)} for n envs, both variants on the same actions."""
    import torch

    from puffer_backend.vector import JaxVectorEnv

    envs = {name: JaxVectorEnv(env_id, n, seed=0) for name in VARIANTS}
    space = next(iter(envs.values())).action_space
    space.seed(0)
    actions = [torch.as_tensor(space.sample()) for _ in range(max(steps, COMPILE_STEPS))]
    compile_s = {name: compile_with(envs[name], threshold, actions) for name, threshold in VARIANTS.items()}

    def stepping(env):
        def run():
            for action in actions[:steps]:
                obs = env.step(action)[0]
            float(obs[0, 0])  # waits for the last step
        return run

    medians = medians_us({name: stepping(env) for name, env in envs.items()}, repeats=repeats, warmup=2)
    return {name: (compile_s[name], steps * n / (medians[name] / 1e6)) for name in envs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="brax/inverted_pendulum")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 512, 1024])
    parser.add_argument("--steps", type=int, default=50, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per variant (median)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*not actively being maintained.*")  # brax's notice
    print(f"# command: python benchmarks/reset_tiers.py {shlex.join(sys.argv[1:] if argv is None else argv)}")
    print(f"# {args.env}; compile = reset + {COMPILE_STEPS} steps; steps/s: medians of {args.repeats} "
          f"round-robin calls of {args.steps} steps")
    print("| envs | sizes built | compile s | steps/s | all / n/8 only |")
    print("|---:|---|---:|---:|---:|")
    for n in args.sizes:
        result = measure(args.env, n, args.steps, args.repeats)
        (one_compile, one_sps), (all_compile, all_sps) = result["n/8 only"], result["n/8, n/4, n/2"]
        print(f"| {n} | n/8 only | {one_compile:.1f} | {one_sps:,.0f} | |")
        print(f"| {n} | n/8, n/4, n/2 | {all_compile:.1f} | {all_sps:,.0f} | {all_sps / one_sps:.2f}x |", flush=True)
    for line in machine_lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
