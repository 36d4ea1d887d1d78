"""The one GAE rule: a hand-worked case, the sum definition, and the numpy and JAX forms equal."""
import numpy as np
import pytest

from puffer_backend.pipelines.gae import gae_numpy


def gae_by_sums(rewards, values, dones, last_value, gamma, lam):
    """A_t = sum_k (gamma lam)^(k-t) [prod_{t<=j<k} c_j] delta_k with c_t = 1 - dones[t], no recursion (float64)."""
    steps, envs = rewards.shape
    next_values = np.concatenate([values[1:], last_value[None]]).astype(np.float64)
    carry = 1.0 - dones.astype(np.float64)
    delta = rewards + gamma * carry * next_values - values
    adv = np.zeros((steps, envs))
    for e in range(envs):
        for t in range(steps):
            total, weight = 0.0, 1.0
            for k in range(t, steps):
                total += weight * delta[k, e]
                weight *= gamma * lam * carry[k, e]
            adv[t, e] = total
    return adv


def _random_rollout(seed, steps=37, envs=5, done_rate=0.15):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(steps, envs)).astype(np.float32), rng.normal(size=(steps, envs)).astype(np.float32),
            rng.random((steps, envs)) < done_rate, rng.normal(size=envs).astype(np.float32))


def test_hand_worked_episode_end():
    # One env, 3 steps, the episode ends at step 1. gamma = lambda = 0.5, V(after step 2) = 4.
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.array([[0.5], [1.0], [2.0]], np.float32)
    dones = np.array([[False], [True], [False]])
    adv = gae_numpy(rewards, values, dones, np.array([4.0], np.float32), 0.5, 0.5)
    # delta2 = 3 + 0.5*4 - 2 = 3            A2 = 3
    # delta1 = 2 - 1 = 1 (ended: no bootstrap)  A1 = 1 (no trace across the end)
    # delta0 = 1 + 0.5*1 - 0.5 = 1          A0 = 1 + 0.25*A1 = 1.25
    np.testing.assert_allclose(adv[:, 0], [1.25, 1.0, 3.0], rtol=1e-6)
    assert adv.dtype == np.float32


@pytest.mark.parametrize("done_rate", [0.0, 0.15, 0.9])
def test_numpy_matches_the_sum_definition(done_rate):
    rewards, values, dones, last = _random_rollout(0, done_rate=done_rate)
    got = gae_numpy(rewards, values, dones, last, 0.99, 0.95)
    np.testing.assert_allclose(got, gae_by_sums(rewards, values, dones, last, 0.99, 0.95), rtol=1e-4, atol=1e-4)


def test_numpy_writes_into_out_and_takes_float_dones():
    rewards, values, dones, last = _random_rollout(1)
    out = np.full_like(rewards, np.nan)
    result = gae_numpy(rewards, values, dones.astype(np.float32), last, 0.9, 0.8, out=out)
    assert result is out
    np.testing.assert_array_equal(out, gae_numpy(rewards, values, dones, last, 0.9, 0.8))


@pytest.mark.parametrize("gamma, lam, done_rate", [(0.99, 0.95, 0.15), (0.5, 1.0, 0.5), (1.0, 0.0, 0.05)])
def test_jax_form_equals_numpy_form(gamma, lam, done_rate):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from puffer_backend.pipelines.gae import gae_jax

    rewards, values, dones, last = _random_rollout(2, done_rate=done_rate)
    want = gae_numpy(rewards, values, dones, last, gamma, lam)
    got = jax.jit(lambda *a: gae_jax(*a, gamma, lam))(*map(jnp.asarray, (rewards, values, dones, last)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
