"""One PPO in all three pipelines: the same hand-made rollout, fed to each pipeline's own path
from env outputs to an update, with the same weights loaded into torch and JAX, gives the same
advantages, returns, losses and updated weights (within float32 tolerance).

The rollout has an env that terminates, one that hits its time limit mid-rollout and one that
terminates, restarts and hits its time limit at the last step, so the time-limit bootstrap
(V(final_obs)), the cut at an episode's end and the bootstrap from the last observation all
count. Paths:
- torch: the torch learner's loop (`torch.loop.collect_rollout`, `finish_rollout`) stepping a
  GymVecEnv over scripted gymnasium envs (its auto-resets, time limits and final observations
  as gymnasium hands them), then the torch learner;
- mixed: the mixed env's `end_rollout` on a carry holding the rollout (its ends and final
  observations as the jitted step stores them), the same `finish_rollout`, then the same
  torch learner;
- jax: `jax.learner.advantages_and_returns` and `minibatch_step` (the jitted program's pieces).
"""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("gymnasium")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines import TrainConfig  # noqa: E402
from puffer_backend.pipelines.jax.learner import advantages_and_returns, make_optimizer as jax_optimizer  # noqa: E402
from puffer_backend.pipelines.jax.learner import minibatch_step  # noqa: E402
from puffer_backend.pipelines.jax.policy import apply_policy  # noqa: E402
from puffer_backend.pipelines.jax.program import LOSSES  # noqa: E402
from puffer_backend.pipelines.torch.learner import RolloutBuffer, make_optimizer, ppo_update  # noqa: E402
from puffer_backend.pipelines.torch.policy import Agent  # noqa: E402
from puffer_backend.spec import Discrete  # noqa: E402

T, N, D = 6, 3, 4
CONFIG = TrainConfig(num_envs=N, num_steps=T, update_epochs=1, num_minibatches=1, gamma=0.9, gae_lambda=0.8,
                     hidden_size=16, learning_rate=1e-3)


def _rollout():
    rng = np.random.default_rng(7)
    terminated = np.zeros((T, N), bool)
    truncated = np.zeros((T, N), bool)
    terminated[2, 0] = True                      # env 0 falls at step 2
    truncated[3, 1] = True                       # env 1 hits its time limit at step 3
    terminated[1, 2] = truncated[5, 2] = True    # env 2 falls, restarts, hits its limit at the last step
    return {
        "obs": rng.normal(size=(T, N, D)).astype(np.float32),        # obs[t]: what the policy saw at step t
        "last_obs": rng.normal(size=(N, D)).astype(np.float32),      # after the last step
        "final_obs": rng.normal(size=(T, N, D)).astype(np.float32),  # read where truncated only
        "actions": rng.integers(0, 2, size=(T, N)),
        "logprob_noise": rng.normal(scale=0.3, size=(T, N)).astype(np.float32),
        "rewards": rng.uniform(0.5, 1.5, size=(T, N)).astype(np.float32),
        "terminated": terminated, "truncated": truncated,
    }


def _agent():
    torch.manual_seed(3)
    layout = (torch.float32, (D,), 0, D)  # one float32 leaf: rows are the observations
    agent = Agent(layout, Discrete(2), CONFIG.hidden_size)
    with torch.no_grad():  # a head far from uniform, so the ratios move and the clip is exercised
        agent.actor[4].weight.mul_(100.0)
    return agent


def _old_logprobs(agent, r):
    with torch.no_grad():
        logits = agent.actor(torch.from_numpy(r["obs"].reshape(-1, D)))
        logp = torch.distributions.Categorical(logits=logits).log_prob(torch.from_numpy(r["actions"].reshape(-1)))
    return logp.numpy().reshape(T, N) + r["logprob_noise"]  # the rollout policy was a little different


def _scripted_gym_env(r, index):
    """A gymnasium env replaying env `index` of the rollout: its step t returns the next
    observation (or, where the episode ends, the observation it reached: final_obs), and the
    auto-reset that follows an end returns obs[t + 1]."""
    import gymnasium as gym

    class Scripted(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (D,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def __init__(self):
            self.t = -1  # the step the next `step` call is

        def reset(self, *, seed=None, options=None):
            self.t += 1
            return (r["obs"][self.t] if self.t < T else r["last_obs"])[index], {}

        def step(self, action):
            t = self.t
            terminated, truncated = bool(r["terminated"][t, index]), bool(r["truncated"][t, index])
            if terminated or truncated:
                obs = r["final_obs"][t][index]  # the reset that follows returns obs[t + 1]
            else:
                self.t += 1
                obs = r["obs"][t + 1][index] if t + 1 < T else r["last_obs"][index]
            return obs, float(r["rewards"][t, index]), terminated, truncated, {}

    return Scripted()


def _torch_path(agent, r, old_logprob):
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
    from puffer_backend.pipelines.torch.loop import collect_rollout, finish_rollout

    made = iter(range(-1, N))  # -1: gym_vec's probe of the factory, closed at once
    env = GymVecEnv("scripted", N, T, factory=lambda: _scripted_gym_env(r, next(made)))
    buf = RolloutBuffer(T, N, D, torch.float32, (), torch.int64)
    steps = iter(range(T))

    def act(obs):  # the recorded actions; the critic's value, as the rollout computes it
        t = next(steps)
        np.testing.assert_array_equal(obs.numpy(), r["obs"][t])
        return torch.from_numpy(r["actions"][t]), torch.from_numpy(old_logprob[t]), agent.get_value(obs)

    obs = collect_rollout(env, act, buf, env.reset(seed=0))
    np.testing.assert_array_equal(obs.numpy(), r["last_obs"])
    finish_rollout(env, agent.get_value, buf, obs, CONFIG)
    losses = ppo_update(agent, make_optimizer(agent, CONFIG.learning_rate), buf, CONFIG, torch.Generator())
    return buf, losses


def _mixed_path(agent, r, old_logprob):
    from puffer_backend.pipelines.mixed.env import TERMINATED, TRUNCATED, GymnaxTorchEnv
    from puffer_backend.pipelines.torch.loop import finish_rollout

    env = GymnaxTorchEnv("CartPole-v1", N, T)
    env.reset(0)
    ends = np.where(r["terminated"], TERMINATED, np.where(r["truncated"], TRUNCATED, 0)).astype(np.int8)
    env.carry = env.carry._replace(rewards=jnp.asarray(r["rewards"]), ends=jnp.asarray(ends),
                                   final_obs=jnp.asarray(r["final_obs"]))
    buf = RolloutBuffer(T, N, D, torch.float32, (), torch.int64)
    with torch.inference_mode():  # as the loop fills the buffer
        buf.obs.copy_(torch.from_numpy(r["obs"]))
        buf.actions.copy_(torch.from_numpy(r["actions"]))
        buf.logprobs.copy_(torch.from_numpy(old_logprob))
        buf.values.copy_(agent.get_value(torch.from_numpy(r["obs"].reshape(-1, D))).reshape(T, N))
    finish_rollout(env, agent.get_value, buf, torch.from_numpy(r["last_obs"]), CONFIG)
    losses = ppo_update(agent, make_optimizer(agent, CONFIG.learning_rate), buf, CONFIG, torch.Generator())
    return buf, losses


def _jax_params(agent):
    def mlp(seq):
        return {str(i): {"kernel": jnp.asarray(seq[j].weight.detach().numpy().T),
                         "bias": jnp.asarray(seq[j].bias.detach().numpy())} for i, j in enumerate((0, 2, 4))}
    return {"actor": mlp(agent.actor), "critic": mlp(agent.critic)}


def _jax_path(params, r, old_logprob):
    value_fn = lambda o: apply_policy(params, o)[1]  # noqa: E731
    values = value_fn(jnp.asarray(r["obs"].reshape(-1, D))).reshape(T, N)
    adv, ret = advantages_and_returns(value_fn, jnp.asarray(r["rewards"]), values,
                                      jnp.asarray(r["terminated"] | r["truncated"]), jnp.asarray(r["truncated"]),
                                      jnp.asarray(r["final_obs"]), value_fn(jnp.asarray(r["last_obs"])), CONFIG, T * N)
    flat = lambda x: jnp.asarray(x).reshape((T * N,) + jnp.shape(x)[2:])  # noqa: E731
    batch = tuple(map(flat, (r["obs"], r["actions"].astype(np.int32), old_logprob, values, adv, ret)))
    tx = jax_optimizer(CONFIG, CONFIG.num_updates)
    new_params, _, aux = minibatch_step(params, tx.init(params), batch, jax.random.PRNGKey(0), CONFIG, tx)
    return values, adv, ret, dict(zip(LOSSES, map(float, aux))), new_params


def test_three_learners_agree_on_one_rollout():
    r = _rollout()
    agent = _agent()
    torch_agent, mixed_agent = agent, copy.deepcopy(agent)
    params = _jax_params(agent)
    old_logprob = _old_logprobs(agent, r)

    jax_values, jax_adv, jax_ret, jax_losses, jax_new = _jax_path(params, r, old_logprob)
    torch_buf, torch_losses = _torch_path(torch_agent, r, old_logprob)
    mixed_buf, mixed_losses = _mixed_path(mixed_agent, r, old_logprob)

    # The bootstrap went where the rule puts it: env 1 at step 3, env 2 at step 5, nowhere else.
    for buf in (torch_buf, mixed_buf):
        assert (buf.limit_values.numpy() != 0).tolist() == (r["truncated"] & ~r["terminated"]).tolist()
        np.testing.assert_array_equal(buf.rewards.numpy(), r["rewards"])
        np.testing.assert_allclose(buf.values.numpy(), np.asarray(jax_values), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(buf.dones.numpy(), r["terminated"] | r["truncated"])
        np.testing.assert_allclose(buf.advantages.numpy(), np.asarray(jax_adv), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(buf.returns.numpy(), np.asarray(jax_ret), rtol=1e-5, atol=1e-5)
    for losses in (torch_losses, mixed_losses):
        for key, want in jax_losses.items():
            assert losses[key] == pytest.approx(want, rel=1e-4, abs=1e-6), key
    assert jax_losses["approx_kl"] > 1e-3  # the ratios moved away from 1
    # One minibatch at the rollout's own weights: ratio = exp(logp - old_logprob) = exp(-noise).
    clipfrac = np.mean(np.abs(np.exp(-r["logprob_noise"].astype(np.float64)) - 1) > CONFIG.clip_coef)
    assert 0 < clipfrac < 1
    for losses in (jax_losses, torch_losses, mixed_losses):
        assert losses["clipfrac"] == pytest.approx(clipfrac, abs=1e-7)  # k of 18 samples, in float32

    # One Adam step (clip, then Adam with eps 1e-5): the same new weights in all three.
    moved = 0.0
    for name, module in (("actor", "actor"), ("critic", "critic")):
        for i, j in enumerate((0, 2, 4)):
            want_w = np.asarray(jax_new[name][str(i)]["kernel"]).T
            want_b = np.asarray(jax_new[name][str(i)]["bias"])
            for agent_after in (torch_agent, mixed_agent):
                layer = getattr(agent_after, module)[j]
                np.testing.assert_allclose(layer.weight.detach().numpy(), want_w, rtol=1e-4, atol=2e-6)
                np.testing.assert_allclose(layer.bias.detach().numpy(), want_b, rtol=1e-4, atol=2e-6)
            moved = max(moved, float(np.abs(want_w - np.asarray(params[name][str(i)]["kernel"]).T).max()))
    assert moved > 5e-4  # the step did change the weights (lr 1e-3)
