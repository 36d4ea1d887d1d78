"""CleanRL's `ppo_continuous_action.py` (gymnasium 1.x, SAME_STEP autoreset) on a JaxVectorEnv:
its Agent, storage, rollout and update, with its env calls kept as written there
(`envs.reset(seed=...)`, `envs.step(action.cpu().numpy())`, `torch.Tensor(next_obs)`,
`torch.tensor(reward)`, `np.logical_or(terminations, truncations)`, the episode statistics
read from `infos["final_info"]`). CleanRL's per-env normalization wrappers are left out: they
wrap single gymnasium envs. The test keeps its own sum of each env's rewards since its last
reset, the truth the reported returns are checked against."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.optim as optim
from torch.distributions.normal import Normal

gym = pytest.importorskip("gymnasium")
pytest.importorskip("gymnax")

from puffer_backend.vector import JaxVectorEnv  # noqa: E402


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, envs):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(np.array(envs.single_observation_space.shape).prod(), 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0),
        )
        self.actor_mean = nn.Sequential(
            layer_init(nn.Linear(np.array(envs.single_observation_space.shape).prod(), 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, np.prod(envs.single_action_space.shape)), std=0.01),
        )
        self.actor_logstd = nn.Parameter(torch.zeros(1, np.prod(envs.single_action_space.shape)))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        action_mean = self.actor_mean(x)
        action_logstd = self.actor_logstd.expand_as(action_mean)
        action_std = torch.exp(action_logstd)
        probs = Normal(action_mean, action_std)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)


def _envs(env_id, num_envs, seed):
    if env_id.startswith("playground/"):
        # CartpoleBalance never terminates: a 50-step time limit (the params' own, in place of
        # Playground's 1000) lets episodes end within the test.
        from puffer_backend.pipelines.envs.families.base import FamilyParams
        from puffer_backend.pipelines.envs.families.physics import make_playground

        return JaxVectorEnv((make_playground(env_id.partition("/")[2]), FamilyParams(50)), num_envs, seed=seed)
    return JaxVectorEnv(env_id, num_envs, seed=seed)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", pytest.param("brax/inverted_pendulum", marks=pytest.mark.heavy),
                                    pytest.param("playground/CartpoleBalance", marks=pytest.mark.heavy)])
def test_cleanrl_ppo_continuous_action_runs_unchanged(env_id):
    num_envs, num_steps, num_iterations = 4, 64, 4
    update_epochs, num_minibatches, gamma, gae_lambda = 2, 4, 0.99, 0.95
    clip_coef, ent_coef, vf_coef, max_grad_norm, learning_rate, seed = 0.2, 0.0, 0.5, 0.5, 3e-4, 1
    batch_size = num_envs * num_steps
    minibatch_size = batch_size // num_minibatches
    np.random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cpu")

    envs = _envs(env_id, num_envs, seed)
    assert isinstance(envs.single_action_space, gym.spaces.Box), "only continuous action space is supported"
    agent = Agent(envs).to(device)
    optimizer = optim.Adam(agent.parameters(), lr=learning_rate, eps=1e-5)

    obs = torch.zeros((num_steps, num_envs) + envs.single_observation_space.shape).to(device)
    actions = torch.zeros((num_steps, num_envs) + envs.single_action_space.shape).to(device)
    logprobs = torch.zeros((num_steps, num_envs)).to(device)
    rewards = torch.zeros((num_steps, num_envs)).to(device)
    dones = torch.zeros((num_steps, num_envs)).to(device)
    values = torch.zeros((num_steps, num_envs)).to(device)

    global_step = 0
    next_obs, _ = envs.reset(seed=seed)
    next_obs = torch.Tensor(next_obs).to(device)
    next_done = torch.zeros(num_envs).to(device)

    seen_returns, seen_lengths = np.zeros(num_envs), np.zeros(num_envs, int)  # the test's truth
    reported = []
    for iteration in range(1, num_iterations + 1):
        for step in range(0, num_steps):
            global_step += num_envs
            obs[step] = next_obs
            dones[step] = next_done

            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob

            next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            assert next_obs.shape == (num_envs,) + envs.single_observation_space.shape
            assert next_obs.dtype == torch.float32 and reward.dtype == torch.float32
            assert terminations.dtype == torch.bool and truncations.dtype == torch.bool
            with warnings.catch_warnings():  # torch's advice on numpy ufuncs and on copying a tensor
                warnings.simplefilter("ignore", DeprecationWarning)
                next_done = np.logical_or(terminations, truncations)
                warnings.simplefilter("ignore", UserWarning)
                rewards[step] = torch.tensor(reward).to(device).view(-1)
            next_obs, next_done = torch.Tensor(next_obs).to(device), torch.Tensor(next_done).to(device)

            seen_returns += reward.numpy()
            seen_lengths += 1
            if "final_info" in infos:
                episodes_over = np.nonzero(infos["final_info"]["_episode"])[0]
                episodic_returns = infos["final_info"]["episode"]["r"][episodes_over]
                episodic_lengths = infos["final_info"]["episode"]["l"][episodes_over]
                for i, episodic_return, episodic_length in zip(episodes_over, episodic_returns, episodic_lengths):
                    reported.append(float(episodic_return))
                    assert float(episodic_return) == pytest.approx(seen_returns[i], rel=1e-5, abs=1e-4)
                    assert int(episodic_length) == seen_lengths[i]
                    # the observation the episode reached, not the reset one now in next_obs
                    assert not torch.allclose(infos["final_obs"][i], next_obs[i])
                seen_returns[episodes_over], seen_lengths[episodes_over] = 0, 0
            else:
                assert not next_done.any()

        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards).to(device)
            lastgaelam = 0
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values

        b_obs = obs.reshape((-1,) + envs.single_observation_space.shape)
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1,) + envs.single_action_space.shape)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)

        b_inds = np.arange(batch_size)
        for epoch in range(update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                mb_inds = b_inds[start:start + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds])
                ratio = (newlogprob - b_logprobs[mb_inds]).exp()
                mb_advantages = b_advantages[mb_inds]
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
                pg_loss = torch.max(-mb_advantages * ratio,
                                    -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)).mean()
                newvalue = newvalue.view(-1)
                v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()
                loss = pg_loss - ent_coef * entropy.mean() + v_loss * vf_coef
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
                optimizer.step()
        assert torch.isfinite(loss)
        y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        assert np.isfinite(explained_var)

    if env_id == "Pendulum-v1":  # 256 steps: every env's 200-step episode is truncated once
        assert len(reported) == num_envs
        assert all(-2000 < r < 0 for r in reported)
    assert reported, "no episode ended in 256 steps"
