"""The torch learner (torch and mixed pipelines): rollout buffer, the PPO loss against
torch.distributions, and the flat-parameter Adam against torch's per-tensor Adam."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from puffer_backend.pipelines import TrainConfig  # noqa: E402
from puffer_backend.pipelines.envs.gym_vec import GymVecEnv  # noqa: E402
from puffer_backend.pipelines.torch.learner import (RolloutBuffer, clip_gradients_, flatten_parameters,  # noqa: E402
                                                    fused_adam_step, make_optimizer, minibatch_loss, ppo_update)
from puffer_backend.pipelines.torch.policy import build_agent  # noqa: E402


def test_rollout_buffer_returns_are_advantages_plus_values():
    buf = RolloutBuffer(8, 3, 4, torch.float32, (), torch.int64)
    gen = torch.Generator().manual_seed(1)
    buf.rewards.copy_(torch.rand(8, 3, generator=gen))
    buf.values.copy_(torch.rand(8, 3, generator=gen))
    buf.finish(torch.rand(3, generator=gen), 0.9, 0.8)
    torch.testing.assert_close(buf.returns, buf.advantages + buf.values)


def test_ppo_loss_matches_torch_distributions():
    """With lr 0 one minibatch step leaves weights alone; the reported losses must equal the
    CleanRL formulas evaluated with torch.distributions.Categorical."""
    env = GymVecEnv("CartPole-v1", 4)
    agent = build_agent(env, 16)
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
    flat_agent = build_agent(env, 16)
    plain_agent = build_agent(env, 16)
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
        moved |= not torch.equal(a, build_agent(env, 16).state_dict()[name])
    assert moved
    (flat,) = flat_opt.param_groups[0]["params"]
    for p in flat_agent.parameters():  # still views of the flat storage after the updates
        assert p.data_ptr() >= flat.data_ptr() and p.grad.data_ptr() >= flat.grad.data_ptr()


def test_clip_gradients_matches_torch_on_one_flat_gradient_and_on_a_list():
    for scale in (1e-3, 1.0, 50.0):
        grads = [torch.randn(5, 3) * scale, torch.randn(7) * scale]
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        want = torch.nn.utils.clip_grad_norm_(params, 0.5)
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.testing.assert_close(clip_gradients_([flat], 0.5), want)
        torch.testing.assert_close(flat, torch.cat([p.grad.reshape(-1) for p in params]))
        listed = [g.clone() for g in grads]
        torch.testing.assert_close(clip_gradients_(listed, 0.5), want)
        for got, p in zip(listed, params):
            torch.testing.assert_close(got, p.grad)


def test_flatten_parameters_refuses_mixed_dtypes_and_no_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2).double())
    with pytest.raises(ValueError, match=r"model: expected parameters of one dtype and device, received"):
        flatten_parameters(model)
    with pytest.raises(ValueError, match=r"model: expected a module with trainable parameters, received"):
        flatten_parameters(torch.nn.Tanh())




@pytest.mark.slow
def test_compiled_minibatch_loss_updates_as_the_eager_one():
    """--compile runs the update through torch.compile(minibatch_loss): forward, loss and
    backward as one graph. Two updates from the same weights and data must report the same
    losses and leave the same weights as the eager loss (to float rounding: inductor fuses)."""
    env = GymVecEnv("CartPole-v1", 4)
    torch.manual_seed(0)
    eager_agent, compiled_agent = build_agent(env, 16), build_agent(env, 16)
    compiled_agent.load_state_dict(eager_agent.state_dict())
    config = TrainConfig(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=2)
    eager_opt, compiled_opt = make_optimizer(eager_agent, 1e-2), make_optimizer(compiled_agent, 1e-2)
    compiled_loss = torch.compile(minibatch_loss)
    for seed in range(2):
        buf = _filled_buffer(env, seed)
        want = ppo_update(eager_agent, eager_opt, buf, config, torch.Generator().manual_seed(seed))
        got = ppo_update(compiled_agent, compiled_opt, buf, config, torch.Generator().manual_seed(seed),
                         compiled_loss)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for (name, a), b in zip(eager_agent.state_dict().items(), compiled_agent.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)


def test_fused_adam_step_is_adams_step_bit_for_bit():
    """step_optimizer's direct fused-Adam call gives the weights, moments and step count of
    `optimizer.step()`, across changing learning rates (the annealed schedule)."""
    env = GymVecEnv("CartPole-v1", 4)
    torch.manual_seed(0)
    direct_agent, stepped_agent = build_agent(env, 16), build_agent(env, 16)
    stepped_agent.load_state_dict(direct_agent.state_dict())
    direct_opt, stepped_opt = make_optimizer(direct_agent, 1e-2), make_optimizer(stepped_agent, 1e-2)
    direct_flat, stepped_flat = (opt.param_groups[0]["params"][0] for opt in (direct_opt, stepped_opt))
    initial = direct_flat.detach().clone()
    calls = []
    for i in range(4):
        g = torch.Generator().manual_seed(i)
        grad = torch.randn(direct_flat.shape, generator=g)
        for opt, flat in ((direct_opt, direct_flat), (stepped_opt, stepped_flat)):
            opt.param_groups[0]["lr"] = 1e-2 * (1 - i / 4)
            flat.grad.copy_(grad)
        calls.append(fused_adam_step(direct_opt, direct_flat))
        if not calls[-1]:
            direct_opt.step()
        stepped_opt.step()
    assert calls == [False, True, True, True]  # the first step creates the state
    assert torch.equal(direct_flat, stepped_flat)
    assert not torch.equal(direct_flat, initial)
    for name in ("step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(direct_opt.state[direct_flat][name], stepped_opt.state[stepped_flat][name])
    plain = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))], lr=1e-2)  # not fused: step() does it
    plain.param_groups[0]["params"][0].grad = torch.ones(3)
    plain.step()
    assert not fused_adam_step(plain, plain.param_groups[0]["params"][0])
