"""gymnax vector envs of the jax and mixed pipelines: shapes, ids, time limits, the pooled auto-reset."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines.envs import gymnax_vec as gymnax_envs  # noqa: E402


def test_make_env_shapes():
    cart = gymnax_envs.make_env("CartPole-v1")
    assert (cart.obs_dim, cart.discrete, cart.num_actions, cart.policy_width) == (4, True, 2, 2)
    assert cart.max_episode_steps == 500
    pend = gymnax_envs.make_env("Pendulum-v1")
    assert (pend.obs_dim, pend.discrete, pend.action_dim, pend.policy_width) == (3, False, 1, 1)
    assert (pend.action_low, pend.action_high) == ((-2.0,), (2.0,))
    breakout = gymnax_envs.make_env("Breakout-MinAtar")
    assert (breakout.obs_shape, breakout.obs_dim, breakout.num_actions) == ((10, 10, 4), 400, 3)
    lake = gymnax_envs.make_env("FrozenLake-misc")  # a Discrete observation: one float per row
    assert (lake.obs_shape, lake.obs_dim) == ((), 1)
    robot = gymnax_envs.make_env("PointRobot-misc")
    assert robot.action_dim == 2
    np.testing.assert_allclose([robot.action_low, robot.action_high], [[-0.1, -0.1], [0.1, 0.1]], rtol=1e-6)
    clipped = robot.env_action(jnp.array([[0.5, -0.05], [-3.0, 0.0]]))
    np.testing.assert_allclose(clipped, [[0.1, -0.05], [-0.1, 0.0]])


def test_make_env_from_a_factory():
    from tests.pipelines.envs import toy_envs

    spec = gymnax_envs.make_env("my-cartpole", toy_envs.make_gymnax_cartpole)
    assert (spec.env_id, spec.obs_dim, spec.num_actions, spec.max_episode_steps) == ("my-cartpole", 4, 2, 500)
    with pytest.raises(ValueError, match=r"env_id: expected a factory returning a gymnax \(env, env_params\) pair, "
                                         r"received 'mine' returning str"):
        gymnax_envs.make_env("mine", toy_envs.make_not_an_env)


def test_make_env_bad_ids():
    with pytest.raises(ValueError, match=r"env_id: expected a gymnax id \(one of CartPole-v1.*received 'Breakout-v5'"):
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
