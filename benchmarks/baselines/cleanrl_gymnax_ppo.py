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
import random
import time
from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

from .cleanrl_style_ppo import (ANNEAL_LR, CLIP_COEF, CLIP_VLOSS, ENT_COEF, GAE_LAMBDA, GAMMA, LEARNING_RATE,
                                MAX_GRAD_NORM, NORM_ADV, NUM_ENVS, NUM_MINIBATCHES, NUM_STEPS, RETURN_WINDOW,
                                TARGET_KL, UPDATE_EPOCHS, VF_COEF, Agent, _mean_recent)

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


def train(seed: int = 0, total_steps: int = 500_000, target_return: float | None = None,
          stop_at_target: bool = False, num_envs: int = NUM_ENVS) -> dict:
    """Train PPO on gymnax's CartPole-v1 for total_steps // (num_envs * 128) updates.

    Returns {"steps", "sps", "wall_s", "mean_return", "steps_to_target", "records"}:
    sps is env steps per second over the whole run (like ppo.py's SPS; env and agent
    construction excluded), mean_return the mean of the 20 most recent finished episodes (nan
    before the first one), steps_to_target the first global step, checked once per update, at
    which that mean is >= target_return with at least 20 episodes finished (None if never or if
    no target), records a list of (step, mean_return), one per update. With
    stop_at_target=True training stops at that update.
    """
    batch_size = num_envs * NUM_STEPS
    minibatch_size = batch_size // NUM_MINIBATCHES
    num_iterations = max(1, total_steps // batch_size)

    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # same setting as the rest of our benchmarks; see module docstring
    try:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.backends.cudnn.deterministic = True
        device = torch.device("cpu")

        envs = make_vec_env(ENV_ID, num_envs, seed)
        assert isinstance(envs.single_action_space, gym.spaces.Discrete), "only discrete actions"

        agent = Agent(envs).to(device)
        optimizer = torch.optim.Adam(agent.parameters(), lr=LEARNING_RATE, eps=1e-5)

        obs_shape = envs.single_observation_space.shape
        act_shape = envs.single_action_space.shape
        obs = torch.zeros((NUM_STEPS, num_envs) + obs_shape).to(device)
        actions = torch.zeros((NUM_STEPS, num_envs) + act_shape).to(device)
        logprobs = torch.zeros((NUM_STEPS, num_envs)).to(device)
        rewards = torch.zeros((NUM_STEPS, num_envs)).to(device)
        dones = torch.zeros((NUM_STEPS, num_envs)).to(device)
        values = torch.zeros((NUM_STEPS, num_envs)).to(device)

        recent_returns: deque = deque(maxlen=RETURN_WINDOW)
        episodes = 0
        records: list[tuple[int, float]] = []
        steps_to_target = None

        global_step = 0
        next_obs, _ = envs.reset(seed=seed)
        next_obs = torch.Tensor(np.asarray(next_obs)).to(device)
        next_done = torch.zeros(num_envs).to(device)
        start_time = time.perf_counter()

        for iteration in range(1, num_iterations + 1):
            if ANNEAL_LR:
                frac = 1.0 - (iteration - 1.0) / num_iterations
                optimizer.param_groups[0]["lr"] = frac * LEARNING_RATE

            # Rollout: one vector step per iteration of this loop, num_envs env steps each.
            for step in range(NUM_STEPS):
                global_step += num_envs
                obs[step] = next_obs
                dones[step] = next_done

                with torch.no_grad():
                    action, logprob, _, value = agent.get_action_and_value(next_obs)
                    values[step] = value.flatten()
                actions[step] = action
                logprobs[step] = logprob

                next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
                next_done = np.logical_or(terminations, truncations)
                rewards[step] = torch.tensor(np.asarray(reward)).to(device).view(-1)
                next_obs, next_done = torch.Tensor(np.asarray(next_obs)).to(device), torch.Tensor(next_done).to(device)

                # gymnasium's vector RecordEpisodeStatistics: infos["episode"], masked by "_episode".
                if "episode" in infos:
                    for r in infos["episode"]["r"][infos["_episode"]]:
                        recent_returns.append(float(r))
                        episodes += 1

            # GAE, bootstrapping from the value of the observation after the last step.
            with torch.no_grad():
                next_value = agent.get_value(next_obs).reshape(1, -1)
                advantages = torch.zeros_like(rewards).to(device)
                gae = 0
                for t in reversed(range(NUM_STEPS)):
                    if t == NUM_STEPS - 1:
                        not_done = 1.0 - next_done
                        next_values = next_value
                    else:
                        not_done = 1.0 - dones[t + 1]
                        next_values = values[t + 1]
                    delta = rewards[t] + GAMMA * next_values * not_done - values[t]
                    gae = delta + GAMMA * GAE_LAMBDA * not_done * gae
                    advantages[t] = gae
                returns = advantages + values

            b_obs = obs.reshape((-1,) + obs_shape)
            b_logprobs = logprobs.reshape(-1)
            b_actions = actions.reshape((-1,) + act_shape)
            b_advantages = advantages.reshape(-1)
            b_returns = returns.reshape(-1)
            b_values = values.reshape(-1)

            # PPO update: UPDATE_EPOCHS passes over the batch in shuffled minibatches.
            b_inds = np.arange(batch_size)
            clipfracs = []
            for epoch in range(UPDATE_EPOCHS):
                np.random.shuffle(b_inds)
                for start in range(0, batch_size, minibatch_size):
                    mb_inds = b_inds[start:start + minibatch_size]

                    _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                        b_obs[mb_inds], b_actions.long()[mb_inds])
                    logratio = newlogprob - b_logprobs[mb_inds]
                    ratio = logratio.exp()

                    # Diagnostics ppo.py computes every minibatch (kept: they are part of its cost).
                    with torch.no_grad():
                        approx_kl = ((ratio - 1) - logratio).mean()
                        clipfracs.append(((ratio - 1.0).abs() > CLIP_COEF).float().mean().item())

                    mb_adv = b_advantages[mb_inds]
                    if NORM_ADV:
                        mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)

                    # Clipped surrogate: maximise the pessimistic bound, so minimise the max of negatives.
                    pg_loss = torch.max(
                        -mb_adv * ratio,
                        -mb_adv * torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF),
                    ).mean()

                    newvalue = newvalue.view(-1)
                    if CLIP_VLOSS:
                        v_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                        v_clipped_pred = b_values[mb_inds] + torch.clamp(
                            newvalue - b_values[mb_inds], -CLIP_COEF, CLIP_COEF)
                        v_clipped = (v_clipped_pred - b_returns[mb_inds]) ** 2
                        v_loss = 0.5 * torch.max(v_unclipped, v_clipped).mean()
                    else:
                        v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                    entropy_loss = entropy.mean()
                    loss = pg_loss - ENT_COEF * entropy_loss + VF_COEF * v_loss

                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
                    optimizer.step()

                if TARGET_KL is not None and approx_kl > TARGET_KL:
                    break

            # Explained variance, as ppo.py logs per update (numpy, once per update).
            y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
            var_y = np.var(y_true)
            _explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y

            mean_return = _mean_recent(recent_returns)
            records.append((global_step, mean_return))
            if (steps_to_target is None and target_return is not None
                    and episodes >= RETURN_WINDOW and mean_return >= target_return):
                steps_to_target = global_step
                if stop_at_target:
                    break

        wall = time.perf_counter() - start_time
        envs.close()
    finally:
        torch.set_num_threads(old_threads)

    return {
        "steps": global_step,
        "sps": global_step / wall,
        "wall_s": wall,
        "mean_return": _mean_recent(recent_returns),
        "steps_to_target": steps_to_target,
        "records": records,
    }


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
