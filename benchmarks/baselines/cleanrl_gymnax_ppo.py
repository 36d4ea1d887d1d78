"""Same-machine baseline: a CleanRL-style PPO loop on gymnax's own gymnasium vector wrapper.

What a user without this library would write to train a torch policy on a gymnax env: the
loop of `cleanrl_style_ppo.py` (CleanRL's ppo.py: algorithm, hyperparameters and per-step
work; its Agent), with the vector env replaced by `gymnax.wrappers.gym.GymnaxToVectorGymWrapper`
(gymnax 1.0: one jitted, vmapped step for all envs, auto-reset inside gymnax's step) and
gymnasium's vector `RecordEpisodeStatistics` for the episode returns. The wrapper returns JAX
arrays; the loop turns them into torch tensors through numpy (`torch.Tensor(np.asarray(obs))`),
and actions go back as numpy arrays. It imports torch, gymnasium, gymnax, jax and numpy only,
no part of this library. benchmarks/acceptance_train.py runs it as the "cleanrl-gymnax"
baseline, the mixed pipeline's reference.

As in ppo.py, an episode's end (terminated or truncated) is a done and a time limit is not
bootstrapped. The wrapper's metadata lacks an autoreset mode; it resets in the same step,
which is declared here for RecordEpisodeStatistics (which would otherwise assume next-step).

    python -m baselines.cleanrl_gymnax_ppo --seed 0 --steps 100000   # from benchmarks/
"""
from __future__ import annotations

import argparse

import gymnasium as gym

from . import cleanrl_style_ppo
from .cleanrl_style_ppo import NUM_ENVS

ENV_ID = "CartPole-v1"

NAME = "cleanrl-gymnax"  # how benchmarks/runner.py finds and labels this baseline


def make_vec_env(env_id: str, num_envs: int, seed: int):
    """gymnax's env behind its gymnasium vector wrapper, with episode statistics."""
    import gymnax
    from gymnax.wrappers.gym import GymnaxToVectorGymWrapper

    env, params = gymnax.make(env_id)
    envs = GymnaxToVectorGymWrapper(env, num_envs=num_envs, params=params, seed=seed)
    envs.metadata = {**envs.metadata, "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


def _episode_returns(infos: dict):
    """gymnasium's vector RecordEpisodeStatistics: infos["episode"], masked by "_episode"."""
    return infos["episode"]["r"][infos["_episode"]] if "episode" in infos else ()


def train(seed: int = 0, total_steps: int = 500_000, target_return: float | None = None,
          stop_at_target: bool = False, num_envs: int = NUM_ENVS) -> dict:
    """Train PPO on gymnax's CartPole-v1 for total_steps // (num_envs * 128) updates: the
    CleanRL-style loop (`cleanrl_style_ppo.train`, same returns) on `make_vec_env`."""
    return cleanrl_style_ppo.train(seed, total_steps, target_return, stop_at_target, num_envs,
                                   make_envs=lambda n, s: make_vec_env(ENV_ID, n, s),
                                   finished_returns=_episode_returns)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=500_000, help="env step budget")
    parser.add_argument("--num-envs", type=int, default=NUM_ENVS)
    parser.add_argument("--target", type=float, default=None,
                        help="report the first step whose 20-episode mean return reaches this")
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error(f"--steps: expected a positive int, received {args.steps}")
    out = train(seed=args.seed, total_steps=args.steps, target_return=args.target, num_envs=args.num_envs)
    print(f"cleanrl-gymnax ppo seed {args.seed}  envs {args.num_envs}  steps {out['steps']}  steps/s {out['sps']:.0f}  "
          f"wall {out['wall_s']:.1f}s  mean return {out['mean_return']:.1f}  "
          f"steps to target {out['steps_to_target']}", flush=True)


if __name__ == "__main__":
    main()
