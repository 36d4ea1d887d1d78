"""Observation and reward normalization: the numpy form against gymnasium's own wrappers, the
JAX form against the numpy form (one device and a batch split over a named axis), and the
checkpoint arrays."""
import numpy as np
import pytest

from puffer_backend.pipelines import normalize
from puffer_backend.pipelines.normalize import Normalizer, norm_arrays, norm_from_arrays

gym = pytest.importorskip("gymnasium")


def _rng_actions(space, rng, n):
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, n)
    return rng.uniform(space.low, space.high, (n,) + space.shape).astype(space.dtype)


def test_observations_match_gymnasium_vector_wrapper():
    """Three Pendulum envs for 450 steps (two time limits): the rows equal gymnasium's vector
    NormalizeObservation's output, clipped as CleanRL clips it. (The wrapper takes next-step
    autoreset only; the rule, an update by every returned batch, is the same.)"""
    make = dict(num_envs=3, vectorization_mode="sync")
    plain = gym.make_vec("Pendulum-v1", **make)
    wrapped = gym.wrappers.vector.NormalizeObservation(gym.make_vec("Pendulum-v1", **make))
    ours = Normalizer((3,), 3, gamma=0.99, norm_reward=False)
    rng = np.random.default_rng(0)
    obs, _ = plain.reset(seed=1)
    want, _ = wrapped.reset(seed=1)
    np.testing.assert_allclose(ours.observations(obs), np.clip(want, -10, 10), rtol=1e-5, atol=1e-6)
    for _ in range(450):
        action = _rng_actions(plain.single_action_space, rng, 3)
        obs, *_ = plain.step(action)
        want, *_ = wrapped.step(action)
        np.testing.assert_allclose(ours.observations(obs), np.clip(want, -10, 10), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.obs_rms.var, wrapped.obs_rms.var, rtol=1e-5)  # its statistics are float32
    assert ours.obs_rms.count == pytest.approx(wrapped.obs_rms.count)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_rewards_match_cleanrl_wrapper_chain(env_id):
    """One env, CleanRL's chain (NormalizeReward then a clip to [-10, 10]), episodes ended by
    termination (CartPole) and by the time limit (Pendulum, which does not reset the return)."""
    env = gym.make(env_id)
    wrapped = gym.wrappers.TransformReward(gym.wrappers.NormalizeReward(gym.make(env_id), gamma=0.99),
                                           lambda r: np.clip(r, -10, 10))
    ours = Normalizer(None, 1, gamma=0.99, norm_reward=True)
    rng = np.random.default_rng(3)
    env.reset(seed=2)
    wrapped.reset(seed=2)
    ends = 0
    for _ in range(450):
        action = _rng_actions(env.action_space, rng, 1)[0]
        _, reward, terminated, truncated, _ = env.step(action)
        _, want, *_ = wrapped.step(action)
        got = ours.rewards(np.array([reward], np.float32), np.array([terminated]))
        np.testing.assert_allclose(got, [want], rtol=1e-5)
        if terminated or truncated:
            ends += 1
            env.reset()
            wrapped.reset()
    assert ends >= 2


def test_frozen_normalizer_leaves_statistics_alone():
    ours = Normalizer((2,), 2, gamma=0.9, norm_reward=True)
    ours.observations(np.array([[1.0, 2.0], [3.0, 4.0]]))
    ours.rewards(np.array([1.0, 2.0]), np.array([False, False]))
    saved = ours.arrays()
    ours.update = False
    first = ours.observations(np.array([[5.0, 5.0]]))
    again = ours.observations(np.array([[5.0, 5.0]]))
    np.testing.assert_array_equal(first, again)
    ours.rewards(np.array([7.0, 7.0]), np.array([True, True]))
    for name, value in ours.arrays().items():
        np.testing.assert_array_equal(value, saved[name])
    # The closed form: mean and variance of the three-sample batch with gymnasium's prior.
    mean, var, count = normalize.update_moments(np.zeros(2), np.ones(2), 1e-4, np.array([2.0, 3.0]),
                                                np.array([1.0, 1.0]), 2)
    np.testing.assert_allclose(first, [(np.array([5.0, 5.0]) - mean) / np.sqrt(var + 1e-8)], rtol=1e-6)


def test_checkpoint_arrays_round_trip_and_missing_ones_are_named():
    ours = Normalizer((3,), 2, gamma=0.99, norm_reward=True)
    ours.observations(np.arange(6.0).reshape(2, 3))
    ours.rewards(np.array([1.0, -1.0]), np.array([False, True]))
    arrays = ours.arrays()
    assert sorted(arrays) == ["norm_returns", "obs_rms/count", "obs_rms/mean", "obs_rms/var", "return_rms/count",
                              "return_rms/mean", "return_rms/var"]
    other = Normalizer((3,), 2, gamma=0.99, norm_reward=True)
    other.load(arrays)
    for name, value in other.arrays().items():
        np.testing.assert_array_equal(value, arrays[name])
    with pytest.raises(ValueError, match="state/obs_rms/mean"):
        norm_from_arrays({}, True, False)
    assert norm_arrays(None, None, None) == {}


def _stream(steps, envs, width, seed):
    rng = np.random.default_rng(seed)
    obs = rng.normal(3.0, 2.0, (steps, envs, width)).astype(np.float32)
    final = rng.normal(3.0, 2.0, (steps, envs, width)).astype(np.float32)
    reward = rng.normal(1.0, 5.0, (steps, envs)).astype(np.float32)
    terminated = rng.random((steps, envs)) < 0.05
    return obs, final, reward, terminated


@pytest.mark.parametrize("devices", [1, 2])
def test_jax_form_equals_numpy_form(devices):
    """The jitted form on the same stream gives the numpy form's observations, final
    observations and rewards; split over a named axis (as shard_map splits envs over
    devices), every part sees the moments of the whole batch."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    steps, envs, width, gamma = 40, 4, 3, 0.97
    obs, final, reward, terminated = _stream(steps, envs, width, seed=devices)
    first = np.random.default_rng(9).normal(0, 1, (envs, width)).astype(np.float32)
    ours = Normalizer((width,), envs, gamma, norm_reward=True)
    want_first = ours.observations(first)
    want = [(ours.observations(obs[t]), ours.final_observations(final[t]),
             ours.rewards(reward[t], terminated[t])) for t in range(steps)]

    def run(first, obs, final, reward, terminated, axis_name=None):
        state = normalize.norm_init(width, first.shape[0], True, True)
        state, first = normalize.norm_reset(state, first, axis_name)

        def step(state, xs):
            state, o, f, r = normalize.norm_step(state, *xs, gamma, axis_name)
            return state, (o, f, r)
        state, out = jax.lax.scan(step, state, (obs, final, reward, terminated))
        return first, out, state

    if devices == 1:
        got_first, got, state = jax.jit(run)(first, obs, final, reward, terminated)
    else:
        split = lambda x, axis: jnp.stack(jnp.split(x, devices, axis=axis))  # noqa: E731
        per_device = jax.vmap(lambda *a: run(*a, axis_name="data"), axis_name="data")
        got_first, got, state = jax.jit(per_device)(split(first, 0), split(obs, 1), split(final, 1),
                                                    split(reward, 1), split(terminated, 1))
        merge = lambda x: jnp.concatenate(list(x), axis=1)  # noqa: E731
        got_first = jnp.concatenate(list(got_first), axis=0)
        got = tuple(merge(x) for x in got)
        np.testing.assert_allclose(state.obs.var[0], state.obs.var[1])  # replicated
        state = jax.tree.map(lambda x: x[0], state)
    np.testing.assert_allclose(got_first, want_first, rtol=1e-4, atol=1e-5)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(got[i]), np.stack([w[i] for w in want]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(state.obs.var, ours.obs_rms.var, rtol=1e-4)
    np.testing.assert_allclose(state.ret.var, ours.return_rms.var, rtol=1e-4)


def test_jax_form_is_nothing_when_disabled():
    pytest.importorskip("jax")
    import jax.numpy as jnp

    assert normalize.norm_init(3, 2, False, False) is None
    obs = jnp.ones((2, 3))
    assert normalize.norm_step(None, obs, obs, jnp.ones(2), jnp.zeros(2, bool), 0.9)[1] is obs
