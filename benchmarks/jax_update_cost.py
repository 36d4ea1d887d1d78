"""Where an update of the jax pipeline spends its time, and how much of it is arithmetic.

Trains CartPole-v1 (4 envs x 128 steps, 4 minibatches) with the jax pipeline at each hidden
width in --hidden and with 4 and 1 epochs, each run in a fresh process, compile time excluded.
From the training-loop time per update T(epochs):
    one minibatch step  = (T(4) - T(1)) / 12     (the 12 minibatch steps that 3 more epochs add)
    everything else     = T(4) - 16 x that       (rollout, advantages, statistics, shuffles)
The hidden layers' arithmetic grows with hidden^2 while the number of XLA ops does not, so the
widths separate the two: the fit `step(h) = fixed + slope x h^2` over the widths gives the cost
per minibatch step that no op fusion can remove at the default width (64). A PureJaxRL-style
baseline does the same arithmetic; this bounds how far ahead of it a same-math program can get.

    python benchmarks/jax_update_cost.py                 # widths 8 32 64, 200k steps, 2 repeats
    python benchmarks/jax_update_cost.py --hidden 16 64 128 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

import numpy as np

UPDATE_STEPS = 4 * 128  # env steps per update (4 envs x 128 steps)


def child(hidden: int, epochs: int, steps: int) -> None:
    from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

    with tempfile.TemporaryDirectory() as workdir:
        config = TrainConfig(backend="jax", env_id="CartPole-v1", total_steps=steps, seed=0, out_dir=workdir,
                             run_name="cost", hidden_size=hidden, update_epochs=epochs)
        summary = load_pipeline("jax").train(config, MemoryLogger(os.path.join(workdir, "cost")))
    print(json.dumps({"sps": float(summary["sps"])}))


def ms_per_update(hidden: int, epochs: int, steps: int) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(hidden), str(epochs), str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return UPDATE_STEPS / json.loads(out.strip().splitlines()[-1])["sps"] * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", nargs="+", type=int, default=[8, 32, 64])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    print(f"# command: python {' '.join(shlex.quote(a) for a in [os.path.relpath(__file__)] + sys.argv[1:])}")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    print(f"{'hidden':>6} {'T(4) ms':>8} {'T(1) ms':>8} {'minibatch step us':>18} {'everything else ms':>19}")
    for hidden in args.hidden:
        t4, t1 = [], []
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            t4.append(ms_per_update(hidden, 4, args.steps))
            t1.append(ms_per_update(hidden, 1, args.steps))
        full, one = statistics.median(t4), statistics.median(t1)
        step_ms = (full - one) / 12
        rows.append((hidden, full, step_ms))
        print(f"{hidden:6d} {full:8.2f} {one:8.2f} {step_ms * 1e3:18.0f} {full - 16 * step_ms:19.2f}", flush=True)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if len(rows) >= 2:
        h2 = np.array([h * h for h, _, _ in rows], float)
        step = np.array([s for _, _, s in rows])
        slope, fixed = np.polyfit(h2, step, 1)
        for hidden, full, step_ms in rows:
            arithmetic = 16 * slope * hidden * hidden
            print(f"hidden {hidden}: fit {fixed * 1e3:.0f} us fixed + {slope * hidden * hidden * 1e3:.0f} us "
                  f"width-dependent per minibatch step; with no fixed cost at all an update would take "
                  f"{full - 16 * fixed:.2f} ms of {full:.2f} ms ({full / (full - 16 * fixed):.2f}x faster; "
                  f"the width-dependent arithmetic alone is {arithmetic:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
