"""Steps/s of a JAX env stepped from torch: `puffer_backend.vector.JaxVectorEnv` against the
bridges users have today.

Random-action stepping, torch actions in and torch observations out, as a torch training loop
consumes them (each step reads one observation value, so every step's work is done):
- brax `inverted_pendulum`: ours against brax's `TorchWrapper(VectorGymWrapper(
  brax.envs.create(name, batch_size=n)))`, as brax's docs build it;
- gymnax `CartPole-v1` and `Pendulum-v1`: ours against gymnax's `GymnaxToVectorGymWrapper`,
  converted the way a user does (`torch.as_tensor(np.asarray(obs))`, actions `.numpy()`).
Each timed call is --steps steps; medians of --repeats calls, the implementations taken
round-robin (timing.medians_us). Compile (reset and the first steps, until the step's
signature is stable) is timed apart.

brax's wrappers import the legacy `gym` package; without it, a stand-in built from gymnasium
provides what they use (`Wrapper` forwarding `step`/`reset` as gym 0.26's does, `Env`,
`spaces`, `vector`). Our env steps brax through `make_env("brax/inverted_pendulum")` (the
same physics, a 1000-step time limit as `envs.create`'s EpisodeWrapper).

    python benchmarks/vector_adapter.py
    python benchmarks/vector_adapter.py --sizes 1 64 --steps 20 --repeats 3 --cases gymnax
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
import types
import warnings

import numpy as np
import torch

from machine import cpu_model
from timing import medians_us

SIZES = (1, 64, 1024)
BRAX_ENV = "inverted_pendulum"
GYMNAX_ENVS = ("CartPole-v1", "Pendulum-v1")
COMPILE_STEPS = 3  # brax's wrapped state changes weak types once after its first step


# ------------------------------------------------------------------------------ brax bridges

def _gym_stand_in() -> None:
    """A `gym` module from gymnasium for brax's wrappers, when gym itself is not installed."""
    try:
        import gym  # noqa: F401
        return
    except ImportError:
        pass
    import gymnasium

    class Wrapper:  # gym 0.26's Wrapper, for what TorchWrapper calls
        def __init__(self, env):
            self.env = env

        def step(self, action):
            return self.env.step(action)

        def reset(self, **kwargs):
            return self.env.reset(**kwargs)

    gym = types.ModuleType("gym")
    gym.Wrapper, gym.Env, gym.spaces, gym.vector = Wrapper, gymnasium.Env, gymnasium.spaces, gymnasium.vector
    sys.modules.update({"gym": gym, "gym.spaces": gymnasium.spaces, "gym.vector": gymnasium.vector})


def brax_gymnax_env(name: str):
    """(our env argument, how it was built): the brax family of make_env."""
    from puffer_backend.pipelines.envs.gymnax_vec import make_env
    return make_env(f"brax/{name}"), f"make_env('brax/{name}')"


# ------------------------------------------------------------------------------------ steppers
# Each returns (reset, step): reset() resets, step(action) steps and returns torch obs.

def ours(env_arg, n: int):
    from puffer_backend.vector import JaxVectorEnv
    env = JaxVectorEnv(env_arg, n, seed=0)
    return (lambda: env.reset(seed=0)[0]), (lambda action: env.step(action)[0]), env


def brax_torch_wrapper(name: str, n: int):
    _gym_stand_in()
    from brax import envs
    from brax.envs.wrappers import gym as brax_gym
    from brax.envs.wrappers import torch as brax_torch
    env = brax_torch.TorchWrapper(brax_gym.VectorGymWrapper(envs.create(name, batch_size=n), seed=0), device="cpu")
    return env.reset, (lambda action: env.step(action)[0]), env


def gymnax_gym_wrapper(env_id: str, n: int):
    import gymnax
    from gymnax.wrappers.gym import GymnaxToVectorGymWrapper
    base, params = gymnax.make(env_id)
    env = GymnaxToVectorGymWrapper(base, num_envs=n, params=params, seed=0)

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # JAX's read-only views

    def reset():
        return torch.as_tensor(np.asarray(env.reset(seed=0)[0]))

    def step(action):
        obs, reward, terminated, truncated, _ = env.step(action.numpy())
        torch.as_tensor(np.asarray(reward)), torch.as_tensor(np.asarray(terminated))
        torch.as_tensor(np.asarray(truncated))
        return torch.as_tensor(np.asarray(obs))
    return reset, step, env


def random_actions(space, n: int, count: int = 16) -> list:
    """`count` torch action batches drawn from the single-env space (a policy's output)."""
    generator = torch.Generator().manual_seed(0)
    if hasattr(space, "n"):
        return [torch.randint(0, int(space.n), (n,), generator=generator) for _ in range(count)]
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    return [low + (high - low) * torch.rand((n, *space.shape), generator=generator) for _ in range(count)]


def compare(builders: dict, single_action_space, n: int, steps: int, repeats: int) -> dict:
    """{name: (compile_s, steps_per_s)} for steppers built by `builders` ({name: () -> stepper})."""
    actions = random_actions(single_action_space, n)
    compile_s, runs = {}, {}
    for name, build in builders.items():
        reset, step, _ = build()
        start = time.perf_counter()
        float(reset()[0, 0])
        for i in range(COMPILE_STEPS):
            float(step(actions[i])[0, 0])
        compile_s[name] = time.perf_counter() - start

        def run(step=step):
            for i in range(steps):
                float(step(actions[i % len(actions)])[0, 0])  # the loop reads each observation
        runs[name] = run
    us = medians_us(runs, repeats, warmup=1)
    return {name: (compile_s[name], n * steps / (us[name] * 1e-6)) for name in builders}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--steps", type=int, default=50, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per implementation (median)")
    parser.add_argument("--cases", nargs="+", choices=("brax", "gymnax"), default=["brax", "gymnax"])
    parser.add_argument("--gymnax-envs", nargs="+", default=list(GYMNAX_ENVS))
    args = parser.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv))
    print("cpu:", cpu_model(), "| torch cpu capability:", torch.backends.cpu.get_cpu_capability(),
          "| torch", torch.__version__, "threads", torch.get_num_threads())
    print(f"{'env':<22} {'envs':>5} {'implementation':<28} {'compile s':>9} {'steps/s':>12} {'ours / it':>9}")
    rows = []
    cases = []
    if "brax" in args.cases:
        env_arg, how = brax_gymnax_env(BRAX_ENV)
        print(f"# ours over brax: {how}")
        cases.append((f"brax/{BRAX_ENV}", lambda n: {"ours": lambda: ours(env_arg, n),
                                                      "brax TorchWrapper": lambda: brax_torch_wrapper(BRAX_ENV, n)}))
    if "gymnax" in args.cases:
        for env_id in args.gymnax_envs:
            cases.append((env_id, lambda n, env_id=env_id: {
                "ours": lambda: ours(env_id, n), "gymnax GymnaxToVectorGymWrapper": lambda: gymnax_gym_wrapper(env_id, n)}))
    for label, builders_of in cases:
        for n in args.sizes:
            builders = builders_of(n)
            space = builders["ours"]()[2].single_action_space
            result = compare(builders, space, n, args.steps, args.repeats)
            ours_sps = result["ours"][1]
            for name, (compile_s, sps) in result.items():
                ratio = "" if name == "ours" else f"{ours_sps / sps:.2f}x"
                print(f"{label:<22} {n:>5} {name:<28} {compile_s:>9.2f} {sps:>12,.0f} {ratio:>9}", flush=True)
                rows.append({"env": label, "num_envs": n, "implementation": name, "compile_s": compile_s, "sps": sps})
    main.rows = rows
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
