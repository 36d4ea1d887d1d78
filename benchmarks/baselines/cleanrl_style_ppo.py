"""Same-machine baseline: PPO on CartPole-v1 written here in the style of CleanRL's ppo.py.

This is not CleanRL's code. It is a from-scratch single-file trainer that follows CleanRL's
ppo.py in algorithm, default hyperparameters and per-step work: a gymnasium SyncVectorEnv of
4 CartPole-v1 envs with RecordEpisodeStatistics, separate actor and critic MLPs, one
`torch.Tensor(obs)` conversion and one no-grad forward per vector step, numpy -> torch copies
into preallocated rollout tensors, GAE in a reversed Python loop, and 4 epochs x 4
minibatches of clipped-PPO updates. It imports only torch, gymnasium and numpy, as a CleanRL
user's script does.

Use: benchmarks/acceptance_train.py times it in the same run as our pipelines, so speed
goals stated relative to CleanRL's ppo.py become ratios measured on the same machine and under
the same load, instead of comparisons with a number taken elsewhere.

Differences from the CleanRL script, all outside the timed per-step work or neutral to it:
  * no TensorBoard/wandb writing and no per-update printing (one summary line at the end);
  * CPU only, with `torch.set_num_threads(1)` like our other benchmarks (for 64-unit MLPs on
    batches of 4 to 128 rows, intra-op thread hand-off costs more than the matmuls);
  * gymnasium 1.x: the vector env is built with autoreset_mode=SAME_STEP, which reproduces the
    gymnasium 0.29 semantics ppo.py was written for (gymnasium 1.x defaults to NEXT_STEP, which
    would insert a reward-0 "reset" transition after every episode end and, with ppo.py's
    done handling, train on those dummy steps); episode statistics then arrive in
    infos["final_info"]["episode"], masked by infos["final_info"]["_episode"].

    python -m baselines.cleanrl_style_ppo --seed 0 --steps 500000   # from benchmarks/
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
from torch.distributions.categorical import Categorical

NAME = "cleanrl-style"  # how benchmarks/runner.py finds and labels this baseline
ENV_ID = "CartPole-v1"
RETURN_WINDOW = 20  # "mean return" = mean of this many most recent finished episodes

# CleanRL ppo.py defaults.
NUM_ENVS = 4
NUM_STEPS = 128
LEARNING_RATE = 2.5e-4
ANNEAL_LR = True
GAMMA = 0.99
GAE_LAMBDA = 0.95
NUM_MINIBATCHES = 4
UPDATE_EPOCHS = 4
NORM_ADV = True
CLIP_COEF = 0.2
CLIP_VLOSS = True
ENT_COEF = 0.01
VF_COEF = 0.5
MAX_GRAD_NORM = 0.5
TARGET_KL = None


def make_env(env_id: str):
    def thunk():
        env = gym.make(env_id)
        # Per-env wrapper, as in ppo.py: it adds info["episode"] = {"r", "l", "t"} at episode end.
        env = gym.wrappers.RecordEpisodeStatistics(env)
        return env
    return thunk


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv):
        super().__init__()
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        n_actions = int(envs.single_action_space.n)
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            # Small head: near-uniform initial policy.
            layer_init(nn.Linear(64, n_actions), std=0.01),
        )

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
        logits = self.actor(x)
        dist = Categorical(logits=logits)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(x)


def _mean_recent(returns: deque) -> float:
    return float(np.mean(returns)) if returns else float("nan")


def _sync_vector_env(num_envs: int, seed: int):
    return gym.vector.SyncVectorEnv([make_env(ENV_ID) for _ in range(num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def _final_info_returns(infos: dict):
    """Returns of the episodes that ended this step. SAME_STEP autoreset: the finished
    episode's info (with "episode") sits under "final_info", batched per key with an
    "_episode" mask."""
    final = infos.get("final_info", {})
    return final["episode"]["r"][final["_episode"]] if "episode" in final else ()


def train(seed: int = 0, total_steps: int = 500_000, target_return: float | None = None,
          stop_at_target: bool = False, num_envs: int = NUM_ENVS, *, make_envs=_sync_vector_env,
          finished_returns=_final_info_returns) -> dict:
    """Train PPO on CartPole-v1 with num_envs envs for total_steps // (num_envs * 128) updates.

    make_envs(num_envs, seed) builds the vector env (gymnasium's SyncVectorEnv by default) and
    finished_returns(infos) reads the returns of the episodes that ended in a step: the
    cleanrl-gymnax baseline swaps both and keeps the rest of this loop.

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

        envs = make_envs(num_envs, seed)
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
                # np.asarray: a no-op for numpy, the host copy for a JAX-backed env
                rewards[step] = torch.tensor(np.asarray(reward)).to(device).view(-1)
                next_obs = torch.Tensor(np.asarray(next_obs)).to(device)
                next_done = torch.Tensor(next_done).to(device)
                for r in finished_returns(infos):
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
    parser.add_argument("--target", type=float, default=None,
                        help="report the first step whose 20-episode mean return reaches this")
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error(f"--steps: expected a positive int, received {args.steps}")
    out = train(seed=args.seed, total_steps=args.steps, target_return=args.target)
    print(f"cleanrl-style ppo seed {args.seed}  steps {out['steps']}  steps/s {out['sps']:.0f}  "
          f"wall {out['wall_s']:.1f}s  mean return {out['mean_return']:.1f}  "
          f"steps to target {out['steps_to_target']}", flush=True)


if __name__ == "__main__":
    main()
