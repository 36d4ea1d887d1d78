"""Run the real PureJaxRL ppo.py's `make_train` from a user's checkout, timed: benchmarks/peers.py
starts this in PureJaxRL's own venv (jax, flax, gymnax 0.0.9; no part of puffer_backend).

The config is the one in ppo.py's `__main__` block (its CartPole settings), read from the
source, with TOTAL_TIMESTEPS set to --steps and DEBUG off (its per-episode printing callback
is not part of the training). The jitted train function is compiled apart
(`jax.jit(...).lower(key).compile()`) and then run once, so steps/s is the training loop's.
Prints one line: MARK followed by a JSON object (steps, sps, compile_s, import_s, train_s,
final_mean_return, episodes: [[global step, return], ...]).

    python benchmarks/peers_purejaxrl.py --purejaxrl <checkout> --seed 0 --steps 500000
"""
from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from peers_stats import RETURN_WINDOW, episodes_from_log  # noqa: E402

MARK = "PEERS_PUREJAXRL_ROW "


def main_config(source: str) -> dict:
    """The dict literal assigned to `config` inside ppo.py's `if __name__ == "__main__":`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "config"
                                                         for t in stmt.targets)):
                    return ast.literal_eval(stmt.value)
    raise ValueError("ppo.py: expected `config = {...}` in its __main__ block, found none")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--purejaxrl", required=True, help="PureJaxRL checkout (holds purejaxrl/ppo.py)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=500_000)
    args = parser.parse_args(argv)
    code = Path(args.purejaxrl) / "purejaxrl"
    config = main_config((code / "ppo.py").read_text())
    config.update(TOTAL_TIMESTEPS=args.steps, DEBUG=False)
    sys.path.insert(0, str(code))  # ppo.py imports `wrappers` from its own folder

    import jax
    import numpy as np
    import ppo

    import_s = time.perf_counter() - _START
    key = jax.random.PRNGKey(args.seed)
    t0 = time.perf_counter()
    compiled = jax.jit(ppo.make_train(config)).lower(key).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(key))
    train_s = time.perf_counter() - t0

    steps = config["NUM_UPDATES"] * config["NUM_STEPS"] * config["NUM_ENVS"]
    info = out["metrics"]
    episodes = episodes_from_log(np.asarray(info["returned_episode"]), np.asarray(info["returned_episode_returns"]),
                                 config["NUM_ENVS"])
    recent = [r for _, r in episodes[-RETURN_WINDOW:]]
    row = {"steps": int(steps), "sps": steps / train_s, "compile_s": compile_s, "import_s": import_s,
           "train_s": train_s, "num_envs": config["NUM_ENVS"], "batch": config["NUM_ENVS"] * config["NUM_STEPS"],
           "final_mean_return": float(np.mean(recent)) if recent else float("nan"), "episodes": episodes,
           "config": {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))}}
    print(MARK + json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
