"""The torch pipeline's vector envs, sync against async: training steps per second on a cheap
env (CartPole-v1) and on a slow one (CartPole that sleeps 1 ms per step, slow_env.py), at 4
and 8 envs.

Run: python benchmarks/bench_vec.py [--steps 20480] [--slow-steps 10240]
Each row is one short training run of the torch pipeline (the CLI's `--vec` and `--num-envs`,
CartPole's default PPO, no early stop); sps is the pipeline's own (pipelines.metrics: env
steps per second of training, the PPO update included).
"""
from __future__ import annotations

import argparse
import tempfile

from slow_env import make_env as make_slow_env  # benchmarks/slow_env.py

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_480, help="steps per run on the cheap env")
    parser.add_argument("--slow-steps", type=int, default=10_240, help="steps per run on the slow env")
    args = parser.parse_args()
    ppo = load_pipeline("torch")
    print(f"{'env':<22} {'envs':>4} {'sync sps':>9} {'async sps':>10} {'async/sync':>10}")
    for label, env, steps in (("CartPole-v1", None, args.steps), ("CartPole-v1 + 1 ms/step", make_slow_env,
                                                                 args.slow_steps)):
        for num_envs in (4, 8):
            sps = {}
            for vec in ("sync", "async"):
                config = TrainConfig(backend="torch", env_id="CartPole-v1", num_envs=num_envs, vec=vec,
                                     total_steps=steps, num_minibatches=4)
                with tempfile.TemporaryDirectory() as run_dir:
                    sps[vec] = ppo.train(config, MemoryLogger(run_dir), env=env)["sps"]
            print(f"{label:<22} {num_envs:>4} {sps['sync']:>9.0f} {sps['async']:>10.0f} "
                  f"{sps['async'] / sps['sync']:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
