"""Benchmarks for puffer_backend.exchange: zero-copy against copies, per leaf, per env step.

Run:  python benchmarks/bench_exchange.py [--quick]

Every figure is a median over many repetitions, and every comparison is a ratio or a
difference against a baseline measured in the same run, interleaved round by round so that
load from other processes hits both sides alike.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import jax
import jax.numpy as jnp

from puffer_backend.exchange import to_jax, to_torch


def per_call_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def interleaved(variants: dict, rounds: int, calls: int) -> dict[str, np.ndarray]:
    """Per-call microseconds of each variant, one sample per round, rounds interleaved."""
    for fn in variants.values():  # warm-up: compile, allocate, fill caches
        fn()
    samples = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            samples[name].append(per_call_us(fn, calls))
    return {name: np.array(values) for name, values in samples.items()}


def bench_large(reps: int) -> list[tuple[str, str]]:
    tensor = torch.arange(64 * 1024 * 1024, dtype=torch.float32)  # 256 MB
    pointer = tensor.data_ptr()
    back = to_torch(to_jax(tensor))
    assert back.data_ptr() == pointer, "round trip moved the data"
    del back
    zero_copy = [per_call_us(lambda: to_torch(to_jax(tensor)), 20) for _ in range(reps)]
    copies = [per_call_us(lambda: jnp.asarray(tensor.numpy()).block_until_ready(), 1)
              for _ in range(max(5, reps // 10))]
    ratio = np.median(copies) / np.median(zero_copy)
    return [
        ("256 MB float32 torch->JAX->torch, zero-copy", f"{np.median(zero_copy):.1f} us"),
        ("256 MB float32 jnp.asarray(t.numpy()) copy", f"{np.median(copies):.0f} us"),
        ("  speed-up (goal >= 1000x)", f"{ratio:,.0f}x"),
        ("  same data pointer after the round trip", "yes"),
    ]


def bench_tree(rounds: int) -> list[tuple[str, str]]:
    tree = {f"leaf{i}": torch.full((64, 4), float(i)) for i in range(64)}
    as_jax = to_jax(tree)
    leaves = list(tree.values())
    results = interleaved({
        "ours to_jax": lambda: to_jax(tree),
        "ours to_torch": lambda: to_torch(as_jax),
        "public jax.dlpack.from_dlpack": lambda: {k: jax.dlpack.from_dlpack(v) for k, v in tree.items()},
        "public torch.from_dlpack": lambda: {k: torch.from_dlpack(v) for k, v in as_jax.items()},
        "copy jnp.asarray(t.numpy())": lambda: [jnp.asarray(t.numpy()) for t in leaves],
    }, rounds, 20)
    return [(f"pytree of 64 (64, 4) leaves, {name}",
             f"{np.median(v):.0f} us  ({np.median(v) / 64:.2f} us/leaf)") for name, v in results.items()]


def make_step(batch: int):
    import gymnax

    env, params = gymnax.make("CartPole-v1")
    keys = jax.random.split(jax.random.key(0), batch)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

    @jax.jit
    def step(state, actions):
        obs, state, reward, done, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, actions, params)[:5]
        return obs, state, reward, done

    return step, state


def bench_step(rounds: int, batch: int = 64) -> list[tuple[str, str]]:
    """One env step of a mixed loop: torch actions -> jitted gymnax step -> torch observations."""
    step, state0 = make_step(batch)
    gen = torch.Generator().manual_seed(0)
    torch_actions = [torch.randint(0, 2, (batch,), generator=gen, dtype=torch.int32) for _ in range(16)]
    jax_actions = [jnp.asarray(a.numpy()) for a in torch_actions]
    box = {"state": state0, "i": 0}

    def loop(convert_in, convert_out, actions):
        def one():
            i = box["i"] = (box["i"] + 1) % len(actions)
            obs, box["state"], reward, done = step(box["state"], convert_in(actions[i]))
            obs.block_until_ready()
            return convert_out(obs), convert_out(reward), convert_out(done)
        return one

    same = lambda x: x  # noqa: E731
    results = interleaved({
        "no exchange (JAX actions, JAX observations)": loop(same, same, jax_actions),
        "ours: to_jax / to_torch": loop(to_jax, to_torch, torch_actions),
        "public: jax.dlpack.from_dlpack / torch.from_dlpack":
            loop(jax.dlpack.from_dlpack, torch.from_dlpack, torch_actions),
        "copy: jnp.asarray(t.numpy()) / torch.tensor(np.asarray(a))":
            loop(lambda t: jnp.asarray(t.numpy()), lambda a: torch.tensor(np.asarray(a)), torch_actions),
    }, rounds, 50)
    names = list(results)
    base = results[names[0]]
    rows = [(f"env step, batch {batch}, {names[0]}",
             f"{np.median(base):.0f} us  (best round {base.min():.0f} us)")]
    for name in names[1:]:
        # paired per round: both sides saw the same machine load; the best rounds are the
        # closest this run gets to a quiet machine
        extra = np.median(results[name] - base)
        best = results[name].min() - base.min()
        rows.append((f"env step, batch {batch}, {name}",
                     f"{np.median(results[name]):.0f} us  (+{extra:.0f} us paired, "
                     f"+{best:.0f} us best rounds)"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    scale = 1 if args.quick else 4
    rows = []
    rows += bench_large(reps=25 * scale)
    rows += bench_tree(rounds=25 * scale)
    rows += bench_step(rounds=25 * scale)
    width = max(len(name) for name, _ in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end")
    print(f"{'case'.ljust(width)} | median")
    print(f"{'-' * width}-|-------")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
