"""Jitted `jax_impl.sample_logits` against the usual JAX recipe, at batch 4096.

Reference: `jax.random.categorical` (Gumbel-max: one random number per logit) plus a
`log_softmax` gather for the log-probability and `-(p * logp).sum` for the entropy. Floor: one
jitted `log_softmax` pass. Prints medians over many repetitions (each call ends in
`block_until_ready`) and the reference/ours ratio measured in the same run.

    python benchmarks/bench_jax_sampling.py [--batch 4096] [--reps 300]
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from timing import medians_us  # benchmarks/timing.py: round-robin medians

from puffer_backend import jax_impl


@jax.jit
def reference(key, logits):
    action = jax.random.categorical(key, logits)
    logp = jax.nn.log_softmax(logits)
    chosen = jnp.take_along_axis(logp, action[:, None], axis=-1)[:, 0]
    return action, chosen, -(jnp.exp(logp) * logp).sum(-1)


ours = jax.jit(jax_impl.sample_logits)
floor = jax.jit(jax.nn.log_softmax)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--actions", type=int, nargs="+", default=[4, 16, 64])
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, batch {args.batch}, "
          f"median of {args.reps} calls")
    print(f"{'actions':>7} {'reference us':>13} {'sample_logits us':>17} {'speed-up':>9} {'log_softmax us':>15}")
    key = jax.random.key(0)
    for n in args.actions:
        logits = jnp.asarray(np.random.default_rng(n).normal(size=(args.batch, n)), jnp.float32)
        for fn, fn_args in ((reference, (key, logits)), (ours, (key, logits)), (floor, (logits,))):
            jax.block_until_ready(fn(*fn_args))  # compile outside the timing
        t = medians_us({"ref": lambda: jax.block_until_ready(reference(key, logits)),
                        "ours": lambda: jax.block_until_ready(ours(key, logits)),
                        "floor": lambda: jax.block_until_ready(floor(logits))}, args.reps)
        ref, our, flo = t["ref"], t["ours"], t["floor"]
        print(f"{n:>7} {ref:>13.1f} {our:>17.1f} {ref / our:>8.2f}x {flo:>15.1f}")


if __name__ == "__main__":
    main()
