"""JAX PPO pipeline: env helpers, episode bookkeeping, GAE and loss against numpy, smoke runs.

Each jitted program costs a compile of several seconds, so the smoke runs are few and small.
"""
from __future__ import annotations

import collections
import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.envs import gymnax_vec as gymnax_envs  # noqa: E402
from puffer_backend.pipelines.jax import policy as jax_policy, ppo as jax_ppo  # noqa: E402


# -- environments ------------------------------------------------------------------------

def test_make_env_shapes():
    cart = gymnax_envs.make_env("CartPole-v1")
    assert (cart.obs_dim, cart.discrete, cart.num_actions, cart.policy_width) == (4, True, 2, 2)
    assert cart.max_episode_steps == 500
    pend = gymnax_envs.make_env("Pendulum-v1")
    assert (pend.obs_dim, pend.discrete, pend.action_dim, pend.policy_width) == (3, False, 1, 1)
    assert (pend.action_low, pend.action_high) == (-2.0, 2.0)


def test_make_env_bad_ids():
    with pytest.raises(ValueError, match=r"env_id: expected one of .*CartPole-v1.*received 'Breakout-v5'"):
        gymnax_envs.make_env("Breakout-v5")
    with pytest.raises(TypeError, match="env_id: expected a str"):
        gymnax_envs.make_env(3)
    with pytest.raises(ValueError, match="num_envs"):
        gymnax_envs.VecEnv(gymnax_envs.make_env("CartPole-v1"), 0)


def test_pendulum_truncates_at_200_and_reports_final_obs():
    """Pendulum never terminates: step 200 is a truncation, with the pre-reset observation kept."""
    venv = gymnax_envs.VecEnv(gymnax_envs.make_env("Pendulum-v1"), 3)
    obs, state = venv.reset(jax.random.PRNGKey(0))

    @jax.jit
    def run(state, obs, key):
        def step(carry, k):
            state, obs = carry
            res = venv.step(k, state, jnp.zeros((3, 1), jnp.float32))
            return (res.state, res.obs), (res.terminated, res.truncated, res.obs, res.final_obs, obs)
        return jax.lax.scan(step, (state, obs), jax.random.split(key, 201))[1]

    terminated, truncated, new_obs, final_obs, prev_obs = map(np.asarray, run(state, obs, jax.random.PRNGKey(1)))
    assert not terminated.any()
    assert np.array_equal(np.nonzero(truncated[:, 0])[0], [199])  # the 200th step, every env
    assert truncated[199].all() and not truncated[200].any()
    # Without a reset, obs and final_obs agree; at the reset they differ (a new episode).
    np.testing.assert_array_equal(new_obs[:199], final_obs[:199])
    assert not np.allclose(new_obs[199], final_obs[199])
    # A Pendulum observation is (cos, sin, thetadot): unit circle in the first two entries.
    np.testing.assert_allclose(np.hypot(final_obs[..., 0], final_obs[..., 1]), 1.0, atol=1e-5)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_step_from_pool_is_gymnax_autoreset(env_id):
    """The pooled step equals gymnax's own transition (step_env, is_truncated) and, where an
    episode ends, continues from the pool's fresh state: gymnax's auto-reset with the reset
    drawn up front."""
    spec = gymnax_envs.make_env(env_id)
    envs, steps = 5, 210
    venv = gymnax_envs.VecEnv(spec, envs)
    obs, state = venv.reset(jax.random.PRNGKey(0))
    pool = venv.draw_pool(jax.random.PRNGKey(1), steps)
    env, params = spec.env, spec.params
    action_shape = (envs,) if spec.discrete else (envs, 1)
    ends = 0
    for t in range(steps):
        action = (jnp.asarray(np.arange(envs) % 2, jnp.int32) if spec.discrete
                  else jnp.full(action_shape, 0.5, jnp.float32))
        res = venv.step_from_pool(pool, t, state, action)
        want_obs, want_state, want_reward, want_term, _ = jax.vmap(
            lambda k, s, a: env.step_env(k, s, a, params))(pool.step_keys[t], state, action)
        want_trunc = np.asarray(jax.vmap(lambda s: env.is_truncated(s, params))(want_state)) & ~np.asarray(want_term)
        np.testing.assert_array_equal(res.final_obs, np.asarray(want_obs).reshape(envs, -1))
        np.testing.assert_array_equal(res.reward, want_reward)
        np.testing.assert_array_equal(res.terminated, want_term)
        np.testing.assert_array_equal(res.truncated, want_trunc)
        done = np.asarray(res.done)
        np.testing.assert_array_equal(np.asarray(res.obs)[done], np.asarray(pool.obs[t])[done])
        np.testing.assert_array_equal(np.asarray(res.obs)[~done], np.asarray(want_obs).reshape(envs, -1)[~done])
        ends += int(done.sum())
        state = res.state
    assert ends >= envs  # both kinds of end (CartPole falls, Pendulum hits its 200-step limit) were exercised


# -- episode bookkeeping -----------------------------------------------------------------

def _reference_recent(reward_chunks, done_chunks, num_envs, window):
    running = np.zeros(num_envs)
    recent = collections.deque(maxlen=window)
    means = []
    for rewards, dones in zip(reward_chunks, done_chunks):
        for r, d in zip(rewards, dones):
            running += r
            for env in range(num_envs):
                if d[env]:
                    recent.append(running[env])
                    running[env] = 0.0
        means.append(np.mean(recent) if recent else np.nan)
    return means


@pytest.mark.parametrize("done_rate", [0.02, 0.6])  # 0.6: far more than `window` episodes per chunk
def test_episode_stats_match_python_deque(done_rate):
    rng = np.random.default_rng(0)
    num_envs, steps, window = 5, 16, 7
    rewards = [rng.normal(size=(steps, num_envs)).astype(np.float32) for _ in range(6)]
    dones = [rng.random((steps, num_envs)) < done_rate for _ in range(6)]
    stats = gymnax_envs.episode_stats_init(num_envs, window)
    update = jax.jit(gymnax_envs.episode_stats_update)
    got = []
    for r, d in zip(rewards, dones):
        stats = update(stats, jnp.asarray(r), jnp.asarray(d))
        got.append(float(gymnax_envs.episode_stats_mean(stats)))
    want = _reference_recent(rewards, dones, num_envs, window)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert int(stats.count) == sum(int(d.sum()) for d in dones)


def test_episode_stats_nan_before_first_episode():
    stats = gymnax_envs.episode_stats_init(2, 20)
    stats = gymnax_envs.episode_stats_update(stats, jnp.ones((4, 2)), jnp.zeros((4, 2), bool))
    assert math.isnan(float(gymnax_envs.episode_stats_mean(stats)))
    np.testing.assert_allclose(np.asarray(stats.running), [4.0, 4.0])


# -- GAE and the loss against numpy ----------------------------------------------------

def test_gae_matches_numpy_loop():
    rng = np.random.default_rng(1)
    T, E, gamma, lam = 9, 3, 0.97, 0.9
    rewards = rng.normal(size=(T, E)).astype(np.float32)
    values = rng.normal(size=(T, E)).astype(np.float32)
    dones = rng.random((T, E)) < 0.25
    last = rng.normal(size=E).astype(np.float32)
    adv_want = np.zeros((T, E))
    next_adv, next_value = np.zeros(E), last.astype(np.float64)
    for t in reversed(range(T)):
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        next_adv = delta + gamma * lam * nonterminal * next_adv
        adv_want[t], next_value = next_adv, values[t]
    adv, ret = jax_ppo.compute_gae(jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(dones), jnp.asarray(last), gamma, lam)
    np.testing.assert_allclose(np.asarray(adv), adv_want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ret), adv_want + values, rtol=1e-5, atol=1e-5)


def _np_forward(layers, x):
    for i in range(len(layers)):
        x = x @ np.asarray(layers[str(i)]["kernel"], np.float64) + np.asarray(layers[str(i)]["bias"], np.float64)
        if i < len(layers) - 1:
            x = np.tanh(x)
    return x


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_fused_policy_is_the_policy(env_id):
    """The rollout's block-diagonal MLP computes apply_policy's outputs."""
    spec = gymnax_envs.make_env(env_id)
    params = jax_policy.init_params(jax.random.PRNGKey(3), spec, 32)
    obs = jax.random.normal(jax.random.PRNGKey(4), (9, spec.obs_dim)) * 3
    want_out, want_value = jax_policy.apply_policy(params, obs)
    got_out, got_value = jax_policy.apply_fused(jax_policy.fuse_policy(params), obs, spec.policy_width)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_value, want_value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("count", [0, 1, 3, 6])
def test_truncated_values_equal_dense_evaluation(count):
    """V(final_obs) on the gathered truncated rows equals V on every row, masked."""
    rng = np.random.default_rng(count)
    final_obs = jnp.asarray(rng.normal(size=(10, 3, 4)), jnp.float32)
    truncated = np.zeros((10, 3), bool)
    truncated.reshape(-1)[rng.choice(30, count, replace=False)] = True
    truncated[0, 0] = count > 0 or truncated[0, 0]  # index 0, which the padding repeats, is a real row
    value_fn = lambda o: jnp.tanh(o).sum(-1) + 1.0  # noqa: E731
    want = np.where(truncated, np.asarray(value_fn(final_obs)), 0.0)
    got = jax.jit(lambda o, t: jax_ppo.truncated_values(value_fn, o, t, 7))(final_obs, jnp.asarray(truncated))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_ppo_loss_matches_numpy_cleanrl_formula():
    cfg = TrainConfig()
    spec = gymnax_envs.make_env("CartPole-v1")
    params = jax_policy.init_params(jax.random.PRNGKey(3), spec, 16)
    # Perturb the (near-uniform at init) actor head so that ratios move away from 1 and clip.
    params["actor"]["2"]["kernel"] = params["actor"]["2"]["kernel"] + 0.5
    rng = np.random.default_rng(2)
    B = 32
    obs = rng.normal(size=(B, 4)).astype(np.float32)
    action = rng.integers(0, 2, size=B).astype(np.int32)
    old_logprob = np.log(rng.uniform(0.2, 0.8, size=B)).astype(np.float32)
    old_value = rng.normal(size=B).astype(np.float32)
    adv = rng.normal(size=B).astype(np.float32)
    ret = rng.normal(size=B).astype(np.float32)
    mb = tuple(map(jnp.asarray, (obs, action, old_logprob, old_value, adv, ret)))
    loss, (pg, vl, ent, kl) = jax_ppo.ppo_loss(params, mb, jax.random.PRNGKey(0), cfg)

    logits = _np_forward(params["actor"], obs.astype(np.float64))
    value = _np_forward(params["critic"], obs.astype(np.float64))[:, 0]
    logp_all = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    logp = logp_all[np.arange(B), action]
    ratio = np.exp(logp - old_logprob)
    nadv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_want = np.maximum(-nadv * ratio, -nadv * np.clip(ratio, 0.8, 1.2)).mean()
    clipped = old_value + np.clip(value - old_value, -0.2, 0.2)
    vl_want = 0.5 * np.maximum((value - ret) ** 2, (clipped - ret) ** 2).mean()
    ent_want = -(np.exp(logp_all) * logp_all).sum(-1).mean()
    kl_want = ((ratio - 1) - (logp - old_logprob)).mean()
    assert np.any(np.abs(ratio - 1) > 0.2)  # the clip is exercised
    for got, want in [(pg, pg_want), (vl, vl_want), (ent, ent_want), (kl, kl_want),
                      (loss, pg_want - 0.01 * ent_want + 0.5 * vl_want)]:
        np.testing.assert_allclose(float(got), want, rtol=2e-4, atol=1e-6)


def test_lr_anneals_linearly_per_update():
    cfg = TrainConfig(update_epochs=2, num_minibatches=2, learning_rate=1e-3)
    tx = jax_ppo.make_optimizer(cfg, num_updates=4)
    params = {"w": jnp.zeros(())}
    state = tx.init(params)
    steps = []
    for _ in range(16):  # 4 updates x 4 minibatch steps; gradient 1 -> Adam's step is ~lr
        updates, state = tx.update({"w": jnp.ones(())}, state, params)
        steps.append(-float(updates["w"]))
    np.testing.assert_allclose(steps[::4], [1e-3, 7.5e-4, 5e-4, 2.5e-4], rtol=1e-3)


# -- bad config ------------------------------------------------------------------------

def test_bad_configs_name_the_field():
    with pytest.raises(TypeError, match="config: expected a TrainConfig"):
        jax_ppo.make_program({"env_id": "CartPole-v1"})
    with pytest.raises(ValueError, match="config.total_steps: expected a positive int, received 0"):
        jax_ppo.make_program(TrainConfig(total_steps=0))
    with pytest.raises(ValueError, match="config.num_minibatches"):
        jax_ppo.make_program(TrainConfig(num_envs=3, num_steps=5, num_minibatches=4))
    with pytest.raises(ValueError, match="env_id"):
        jax_ppo.make_program(TrainConfig(env_id="LunarLander-v3"))


def test_chunk_plan_covers_the_run_exactly():
    # Building a program traces nothing: these cost no compile.
    plan = lambda **kw: jax_ppo.make_program(TrainConfig(num_envs=4, num_steps=8, num_minibatches=2, **kw)).chunk_plan  # noqa: E731
    assert plan(total_steps=32 * 6, extra={"chunk_updates": 4}) == (4, 2)
    assert plan(total_steps=32 * 6, extra={"chunk_updates": 6}) == (6,)
    assert plan(total_steps=32 * 6, extra={"chunk_updates": 50}) == (6,)
    for n in (1, 7, 97, 976, 1000, 4096):
        chunks = plan(total_steps=32 * n)
        assert sum(chunks) == n and len(set(chunks[:-1])) <= 1 and chunks[-1] <= chunks[0]
        # Progress shows (about 25 chunks, at most 64 updates each), but not one call per update.
        assert chunks[0] <= 128 and chunks[0] >= min(64, math.ceil(n / 25)) // 2
    # Default: a divisor of num_updates close to ~1/25 of the run, so a single program compiles.
    assert plan(total_steps=32 * 976) == (61,) * 16  # the default run: 500k steps / 512
    assert plan(total_steps=32 * 1000) == (40,) * 25


# -- smoke runs ------------------------------------------------------------------------

def test_cartpole_train_records_checkpoint_and_evaluate(tmp_path):
    cfg = TrainConfig(backend="jax", total_steps=4 * 32 * 6, num_envs=4, num_steps=32, update_epochs=2,
                      num_minibatches=2, seed=1, extra={"chunk_updates": 3})
    logger = MemoryLogger(tmp_path / "run")
    summary = jax_ppo.train(cfg, logger)
    assert [r["step"] for r in logger.records] == [128 * (i + 1) for i in range(6)]  # 2 chunks of 3
    for r in logger.records:
        assert set(METRIC_KEYS) <= set(r)
        for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps"):
            assert math.isfinite(r[k]), (k, r)
        assert 0.0 < r["entropy"] <= math.log(2) + 1e-6
    # Random CartPole episodes last ~10-40 steps, so episodes finished within 768 steps.
    assert 5.0 < logger.records[-1]["mean_return"] < 200.0
    assert summary["steps"] == 768 and summary["sps"] > 0 and summary["compile_s"] > 0
    params, meta = jax_policy.load_checkpoint(tmp_path / "run")
    assert meta["env_id"] == "CartPole-v1" and params["actor"]["0"]["kernel"].shape == (4, 64)
    first = jax_ppo.evaluate(tmp_path / "run", episodes=4, seed=0)
    assert 1.0 <= first <= 500.0
    assert jax_ppo.evaluate(tmp_path / "run", episodes=4, seed=0) == first  # greedy and seeded


def test_evaluate_constant_policy_and_missing_checkpoint(tmp_path):
    """A policy that always pushes right drops the pole in about 8-11 steps, whatever the start."""
    spec = gymnax_envs.make_env("CartPole-v1")
    params = jax_policy.init_params(jax.random.PRNGKey(0), spec)
    params["actor"]["2"]["kernel"] = jnp.zeros_like(params["actor"]["2"]["kernel"])
    params["actor"]["2"]["bias"] = jnp.array([0.0, 5.0])
    jax_policy.save_checkpoint(tmp_path, params, {"env_id": "CartPole-v1"})
    loaded, _ = jax_policy.load_checkpoint(tmp_path)
    jax.tree.map(np.testing.assert_array_equal, loaded, params)
    assert 7.0 <= jax_ppo.evaluate(tmp_path, episodes=16, seed=3) <= 12.0
    with pytest.raises(FileNotFoundError, match="policy_jax.npz"):
        jax_ppo.evaluate(tmp_path / "nothing")
    with pytest.raises(ValueError, match="episodes: expected a positive int"):
        jax_ppo.evaluate(tmp_path, episodes=0)


def test_pendulum_make_train_whole_run_continuous():
    cfg = TrainConfig(backend="jax", env_id="Pendulum-v1", total_steps=2 * 100 * 3, num_envs=2, num_steps=100,
                      update_epochs=1, num_minibatches=2)
    state, metrics = jax_ppo.make_train(cfg)(jax.random.PRNGKey(0))
    assert set(metrics) == {"mean_return", "policy_loss", "value_loss", "entropy", "approx_kl"}
    assert all(v.shape == (3,) for v in metrics.values())
    for k in ("policy_loss", "value_loss", "approx_kl"):
        assert np.isfinite(metrics[k]).all(), k
    # Normal entropy per dim is 0.5 + 0.5 log(2 pi) + log_std; log_std starts at 0 and moves slowly.
    np.testing.assert_allclose(metrics["entropy"], 0.5 + 0.5 * math.log(2 * math.pi), atol=0.05)
    # Pendulum returns are sums of 200 rewards in [-16.3, 0]; one episode ends per env at step 200 (update 2).
    assert np.isnan(metrics["mean_return"][0]) and -16.3 * 200 <= metrics["mean_return"][-1] <= 0.0
    assert int(state.update) == 3 and state.params["log_std"].shape == (1,)
