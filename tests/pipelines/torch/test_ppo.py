"""The torch PPO pipeline: GAE and the PPO loss against independent references, packing,
and short smoke runs (CartPole, Blackjack's Tuple observation, Pendulum's continuous actions)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.torch import ppo as torch_ppo  # noqa: E402
from puffer_backend.pipelines.envs.gym_vec import GymVecEnv  # noqa: E402
from puffer_backend.pipelines.torch.learner import (RolloutBuffer, clip_flat_grad_norm_, compute_gae,  # noqa: E402
                                                    flatten_parameters, make_optimizer, ppo_update)
from puffer_backend.spec import pack_batch  # noqa: E402


def gae_by_sums(rewards, values, dones, next_value, next_done, gamma, lam):
    """GAE from its definition, A_t = sum_l (gamma lam)^l c_{t,l} delta_{t+l}, with no recursion."""
    steps, envs = rewards.shape
    values_ext = np.concatenate([values, next_value[None]], 0).astype(np.float64)
    nonterminal = 1.0 - np.concatenate([dones[1:], next_done[None]], 0).astype(np.float64)  # after step t
    delta = rewards + gamma * values_ext[1:] * nonterminal - values_ext[:-1]
    adv = np.zeros((steps, envs))
    for e in range(envs):
        for t in range(steps):
            total, carry = 0.0, 1.0
            for k in range(t, steps):
                total += carry * delta[k, e]
                carry *= gamma * lam * nonterminal[k, e]
            adv[t, e] = total
    return adv


def test_gae_hand_computed():
    # One env, 3 steps, episode ends after step 1 (dones[2] = 1). gamma = 0.5, lambda = 0.5.
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.array([[0.5], [1.0], [2.0]], np.float32)
    dones = np.array([[0.0], [0.0], [1.0]], np.float32)
    next_value, next_done = np.array([4.0], np.float32), np.array([0.0], np.float32)
    adv = compute_gae(rewards, values, dones, next_value, next_done, 0.5, 0.5)
    # delta2 = 3 + 0.5*4 - 2 = 3;  A2 = 3
    # delta1 = 2 + 0 - 1 = 1 (no bootstrap across the done);  A1 = 1
    # delta0 = 1 + 0.5*1 - 0.5 = 1;  A0 = 1 + 0.25 * A1 = 1.25
    np.testing.assert_allclose(adv[:, 0], [1.25, 1.0, 3.0], rtol=1e-6)


def test_gae_matches_definition_random():
    rng = np.random.default_rng(0)
    steps, envs = 37, 5
    rewards = rng.normal(size=(steps, envs)).astype(np.float32)
    values = rng.normal(size=(steps, envs)).astype(np.float32)
    dones = (rng.random((steps, envs)) < 0.15).astype(np.float32)
    next_value = rng.normal(size=envs).astype(np.float32)
    next_done = (rng.random(envs) < 0.5).astype(np.float32)
    got = compute_gae(rewards, values, dones, next_value, next_done, 0.99, 0.95)
    want = gae_by_sums(rewards, values, dones, next_value, next_done, 0.99, 0.95)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_rollout_buffer_returns_are_advantages_plus_values():
    buf = RolloutBuffer(8, 3, 4, torch.float32, (), torch.int64)
    gen = torch.Generator().manual_seed(1)
    buf.rewards.copy_(torch.rand(8, 3, generator=gen))
    buf.values.copy_(torch.rand(8, 3, generator=gen))
    buf.finish(torch.rand(3, generator=gen), torch.zeros(3), 0.9, 0.8)
    torch.testing.assert_close(buf.returns, buf.advantages + buf.values)


def test_ppo_loss_matches_torch_distributions():
    """With lr 0 one minibatch step leaves weights alone; the reported losses must equal the
    CleanRL formulas evaluated with torch.distributions.Categorical."""
    env = GymVecEnv("CartPole-v1", 4)
    agent = torch_ppo.build_agent(env, 16)
    config = TrainConfig(num_envs=4, num_steps=8, num_minibatches=1, update_epochs=1)
    buf = RolloutBuffer(8, 4, env.obs_width, torch.float32, (), torch.int64)
    gen = torch.Generator().manual_seed(3)
    buf.obs.copy_(torch.randn(8, 4, 4, generator=gen))
    buf.actions.copy_(torch.randint(0, 2, (8, 4), generator=gen))
    buf.logprobs.copy_(-torch.rand(8, 4, generator=gen) - 0.3)
    buf.values.copy_(torch.randn(8, 4, generator=gen))
    buf.advantages.copy_(torch.randn(8, 4, generator=gen))
    buf.returns.copy_(buf.advantages + buf.values)
    before = [p.detach().clone() for p in agent.parameters()]
    optimizer = torch.optim.SGD(agent.parameters(), lr=0.0)
    got = ppo_update(agent, optimizer, buf, config, torch.Generator().manual_seed(0))
    for b, p in zip(before, agent.parameters()):
        assert torch.equal(b, p)

    with torch.no_grad():
        obs, act = buf.obs.reshape(32, 4), buf.actions.reshape(32)
        dist = torch.distributions.Categorical(logits=agent.actor(obs))
        new_logprob, ent = dist.log_prob(act), dist.entropy()
        new_value = agent.critic(obs).squeeze(1)
        old_logprob, adv = buf.logprobs.reshape(32), buf.advantages.reshape(32)
        ret, old_value = buf.returns.reshape(32), buf.values.reshape(32)
        ratio = (new_logprob - old_logprob).exp()
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = torch.max(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)).mean()
        v_clipped = old_value + (new_value - old_value).clamp(-0.2, 0.2)
        v_loss = 0.5 * torch.max((new_value - ret) ** 2, (v_clipped - ret) ** 2).mean()
        kl = ((ratio - 1) - (new_logprob - old_logprob)).mean()
    assert got["policy_loss"] == pytest.approx(pg.item(), rel=1e-5, abs=1e-7)
    assert got["value_loss"] == pytest.approx(v_loss.item(), rel=1e-5)
    assert got["entropy"] == pytest.approx(ent.mean().item(), rel=1e-5)
    assert got["approx_kl"] == pytest.approx(kl.item(), rel=1e-4, abs=1e-7)


def _filled_buffer(env, seed):
    buf = RolloutBuffer(8, 4, env.obs_width, torch.float32, (), torch.int64)
    gen = torch.Generator().manual_seed(seed)
    buf.obs.copy_(torch.randn(8, 4, 4, generator=gen))
    buf.actions.copy_(torch.randint(0, 2, (8, 4), generator=gen))
    buf.logprobs.copy_(-torch.rand(8, 4, generator=gen) - 0.3)
    buf.values.copy_(torch.randn(8, 4, generator=gen))
    buf.advantages.copy_(torch.randn(8, 4, generator=gen) * 5)
    buf.returns.copy_(buf.advantages + buf.values)
    return buf


def test_flat_parameters_update_exactly_as_per_tensor_adam():
    """make_optimizer's flat Parameter, in-place gradient views and 4-op clip must give the
    weights that torch's per-tensor Adam with clip_grad_norm_ gives (CleanRL's update)."""
    env = GymVecEnv("CartPole-v1", 4)
    torch.manual_seed(0)
    flat_agent = torch_ppo.build_agent(env, 16)
    plain_agent = torch_ppo.build_agent(env, 16)
    plain_agent.load_state_dict(flat_agent.state_dict())
    config = TrainConfig(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=3, max_grad_norm=0.05)
    flat_opt = make_optimizer(flat_agent, 1e-2)
    plain_opt = torch.optim.Adam(plain_agent.parameters(), lr=1e-2, eps=1e-5)
    for seed in range(2):
        buf = _filled_buffer(env, seed)
        ppo_update(flat_agent, flat_opt, buf, config, torch.Generator().manual_seed(seed))
        ppo_update(plain_agent, plain_opt, buf, config, torch.Generator().manual_seed(seed))
    moved = False
    for (name, a), b in zip(flat_agent.state_dict().items(), plain_agent.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
        moved |= not torch.equal(a, torch_ppo.build_agent(env, 16).state_dict()[name])
    assert moved
    (flat,) = flat_opt.param_groups[0]["params"]
    for p in flat_agent.parameters():  # still views of the flat storage after the updates
        assert p.data_ptr() >= flat.data_ptr() and p.grad.data_ptr() >= flat.grad.data_ptr()


def test_clip_flat_grad_norm_matches_torch():
    for scale in (1e-3, 1.0, 50.0):
        grads = [torch.randn(5, 3) * scale, torch.randn(7) * scale]
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        want = torch.nn.utils.clip_grad_norm_(params, 0.5)
        flat = torch.cat([g.reshape(-1) for g in grads])
        got = clip_flat_grad_norm_(flat, 0.5)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(flat, torch.cat([p.grad.reshape(-1) for p in params]))


def test_flatten_parameters_refuses_mixed_dtypes_and_no_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2).double())
    with pytest.raises(ValueError, match=r"model: expected parameters of one dtype and device, received"):
        flatten_parameters(model)
    with pytest.raises(ValueError, match=r"model: expected a module with trainable parameters, received"):
        flatten_parameters(torch.nn.Tanh())


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Blackjack-v1"])
def test_packed_observations_equal_pack_batch(env_id):
    env = GymVecEnv(env_id, 3)
    obs = env.reset(seed=5)
    raw, _ = env.env.reset(seed=5)
    assert obs.dtype == torch.from_numpy(np.zeros(0, env.obs_dtype)).dtype
    np.testing.assert_array_equal(obs.numpy(), pack_batch(env.observation_space, raw))


def test_blackjack_features_follow_the_tuple():
    env = GymVecEnv("Blackjack-v1", 6)
    agent = torch_ppo.build_agent(env, 8)
    obs = env.reset(seed=2)
    raw, _ = env.env.reset(seed=2)
    want = np.stack([np.asarray(part, np.float32) for part in raw], axis=1)
    np.testing.assert_array_equal(agent.features(obs).numpy(), want)


def _smoke(tmp_path, env_id, steps, **kwargs):
    config = TrainConfig(backend="torch", env_id=env_id, total_steps=steps, seed=0, **kwargs)
    logger = MemoryLogger(tmp_path)
    summary = torch_ppo.train(config, logger)
    assert summary["steps"] == (steps // config.batch_size) * config.batch_size
    assert len(logger.records) == steps // config.batch_size
    for record in logger.records:
        assert set(METRIC_KEYS) <= set(record)
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps"):
            assert math.isfinite(record[key]), (key, record)
    assert (tmp_path / "checkpoint.pt").is_file()
    return summary, logger


def test_cartpole_smoke_and_evaluate(tmp_path):
    summary, logger = _smoke(tmp_path, "CartPole-v1", 2048)
    assert summary["episodes"] > 20 and math.isfinite(logger.records[-1]["mean_return"])
    score = torch_ppo.evaluate(tmp_path, episodes=4, seed=1)
    assert 8 <= score <= 500


def test_blackjack_smoke_and_evaluate(tmp_path):
    _smoke(tmp_path, "Blackjack-v1", 1024)
    assert -1.0 <= torch_ppo.evaluate(tmp_path, episodes=8) <= 1.0


def test_pendulum_smoke_and_evaluate(tmp_path):
    _smoke(tmp_path, "Pendulum-v1", 1024)
    score = torch_ppo.evaluate(tmp_path, episodes=2)
    assert -2000 < score < 0  # 200 steps, each reward in [-16.3, 0]


def test_cartpole_learns_something(tmp_path):
    """A regression guard on the whole loop: a random policy averages ~22 on CartPole;
    CleanRL's settings reach ~80 within 20k steps. A stale or broken rollout policy stays ~22."""
    logger = MemoryLogger(tmp_path)
    torch_ppo.train(TrainConfig(backend="torch", total_steps=20_480, seed=0), logger)
    assert logger.records[-1]["mean_return"] > 45


def test_training_is_reproducible(tmp_path):
    a = MemoryLogger(tmp_path / "a")
    b = MemoryLogger(tmp_path / "b")
    config = TrainConfig(backend="torch", total_steps=1024, seed=7)
    torch_ppo.train(config, a)
    torch_ppo.train(config, b)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "sps"} for r in rs]  # noqa: E731
    assert strip(a.records) == strip(b.records)


@pytest.mark.parametrize("change, argument", [({"env_id": "NoSuchEnv-v9"}, "env_id"),
                                              ({"total_steps": 0}, "total_steps"),
                                              ({"num_envs": -1}, "num_envs"),
                                              ({"num_envs": True}, "num_envs")])
def test_bad_config_names_the_field(tmp_path, change, argument):
    config = TrainConfig(backend="torch", **change)
    with pytest.raises(ValueError, match=argument):
        torch_ppo.train(config, MemoryLogger(tmp_path))


def test_evaluate_without_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="run_dir"):
        torch_ppo.evaluate(tmp_path)


@pytest.mark.parametrize("episodes", [0, True, 2.0])
def test_evaluate_rejects_bad_episodes(tmp_path, episodes):
    with pytest.raises(ValueError, match="episodes: expected a positive int"):
        torch_ppo.evaluate(tmp_path, episodes=episodes)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_fused_rollout_step_matches_forward(env_id):
    env = GymVecEnv(env_id, 16)
    agent = torch_ppo.build_agent(env, 64)
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
    agent = torch_ppo.build_agent(env, 8)
    clone = copy.deepcopy(agent)
    obs = env.reset(seed=0)
    with torch.no_grad():
        torch.testing.assert_close(clone.get_value(obs), agent.get_value(obs))
    torch.save(agent, io.BytesIO())
