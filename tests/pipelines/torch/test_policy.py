"""The torch agent: features from packed rows, the fused rollout step equal to forward, pickling."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from puffer_backend.pipelines.envs.gym_vec import GymVecEnv  # noqa: E402
from puffer_backend.pipelines.torch.policy import build_agent  # noqa: E402


def test_blackjack_features_follow_the_tuple():
    env = GymVecEnv("Blackjack-v1", 6)
    agent = build_agent(env, 8)
    obs = env.reset(seed=2)
    raw, _ = env.env.reset(seed=2)
    want = np.stack([np.asarray(part, np.float32) for part in raw], axis=1)
    np.testing.assert_array_equal(agent.features(obs).numpy(), want)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_fused_rollout_step_matches_forward(env_id):
    env = GymVecEnv(env_id, 16)
    agent = build_agent(env, 64)
    obs = env.reset(seed=4)
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.1, fused=True)  # the pipelines' kernel
    for round_ in range(2):
        agent.refresh_rollout_weights()
        with torch.inference_mode():
            a1, lp1, v1 = agent.rollout_step(obs, torch.Generator().manual_seed(round_))
            a2, lp2, _, v2 = agent(obs, generator=torch.Generator().manual_seed(round_))
        torch.testing.assert_close(a1, a2)
        torch.testing.assert_close(lp1, lp2, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(v1, v2, rtol=1e-5, atol=1e-6)
        # A training step changes the weights; the fused copy must follow.
        optimizer.zero_grad()
        agent(obs)[3].sum().backward()
        optimizer.step()


def test_agent_deepcopies_and_pickles():
    import copy
    import io
    env = GymVecEnv("CartPole-v1", 2)
    agent = build_agent(env, 8)
    clone = copy.deepcopy(agent)
    obs = env.reset(seed=0)
    with torch.no_grad():
        torch.testing.assert_close(clone.get_value(obs), agent.get_value(obs))
    torch.save(agent, io.BytesIO())


@pytest.mark.parametrize("actions", [3, 16, 17])
def test_rollout_draw_equals_sample_logits_for_wide_discrete_heads(actions):
    """rollout_step's numpy draw (one Discrete head of up to 16 actions) and its torch path
    (17 and more) give forward's actions and log-probabilities for the same generator, on
    rows whose policies are far from uniform (large random weights)."""
    import gymnasium as gym

    from puffer_backend import torch_impl
    from puffer_backend.pipelines.torch.policy import Agent
    from puffer_backend.spec import Discrete

    space = gym.spaces.Box(-1.0, 1.0, (8,), np.float32)
    agent = Agent(torch_impl.nativize_dtype(space), Discrete(actions), 32)
    with torch.no_grad():
        agent.actor[4].weight.mul_(300.0)  # peaked distributions, logits spread over tens of units
    agent.refresh_rollout_weights()
    assert (agent._numpy_fused is not None) == (actions <= 16)
    assert agent._numpy_max_rows == (64 if actions <= 16 else 0)
    # up to _numpy_max_rows rows in numpy (64 here: OpenBLAS stays on one thread), more in torch
    for rows in (64, 200):
        obs = torch.from_numpy(np.random.default_rng(actions).uniform(-1, 1, (rows, 8)).astype(np.float32))
        with torch.inference_mode():
            a1, lp1, v1 = agent.rollout_step(obs, torch.Generator().manual_seed(7))
            a2, lp2, _, v2 = agent(obs, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(a1, a2)
        assert len(set(a1.tolist())) > 1
        torch.testing.assert_close(lp1, lp2, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(v1, v2, rtol=1e-5, atol=1e-6)
