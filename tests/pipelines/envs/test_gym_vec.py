"""gymnasium vector envs of the torch pipeline (the env contract, envs.contract.RolloutEnv):
packed rows, and final observations at time limits."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from puffer_backend.pipelines.envs.gym_vec import GymVecEnv  # noqa: E402
from puffer_backend.spec import pack_batch  # noqa: E402


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Blackjack-v1"])
def test_packed_observations_equal_pack_batch(env_id):
    env = GymVecEnv(env_id, 3)
    obs = env.reset(seed=5)
    raw, _ = env.env.reset(seed=5)
    assert obs.dtype == env.obs_dtype == torch.from_numpy(pack_batch(env.observation_space, raw)).dtype
    np.testing.assert_array_equal(obs.numpy(), pack_batch(env.observation_space, raw))


def _step(env, action):
    """One step of a one-step rollout, through the contract: (obs, rewards, dones, time
    limits, final obs rows or None) of that step."""
    env.step(0, action)
    end = env.end_rollout()
    return env.observation(), end.rewards[0].numpy(), end.dones[0].numpy().astype(bool), end.time_limits[0].numpy(), \
        end.final_obs




def test_time_limit_reports_the_final_observation():
    """Pendulum never terminates: its 200th step is a truncation; the env reports which envs
    and the packed observation they reached before the auto-reset, as gymnasium's info has it."""
    import gymnasium as gym

    env = GymVecEnv("Pendulum-v1", 3)
    reference = gym.make_vec("Pendulum-v1", num_envs=3, vectorization_mode="sync",
                             vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    env.reset(seed=0)
    reference.reset(seed=0)
    action = torch.full((3, 1), 0.5)
    for t in range(200):
        obs, reward_got, done, limits, final_obs = _step(env, action)
        _, reward, terminated, truncated, info = reference.step(action.numpy())
        np.testing.assert_array_equal(reward_got, reward.astype(np.float32))
        if t < 199:
            assert not limits.any() and final_obs is None and not done.any()
    assert done.all() and limits.all()
    np.testing.assert_array_equal(final_obs.numpy(), np.stack(info["final_obs"]))
    assert not np.allclose(final_obs.numpy(), obs.numpy())  # the reset observation differs
    reference.close()


def test_terminations_are_not_bootstrapped():
    """Blackjack ends by termination only: no step reports truncated envs, whatever ends."""
    env = GymVecEnv("Blackjack-v1", 8)
    env.reset(seed=1)
    ends = 0
    for _ in range(20):
        _, _, done, limits, final_obs = _step(env, torch.zeros(8, dtype=torch.int64))  # stick: every hand ends
        ends += int(done.sum())
        assert not limits.any() and final_obs is None
    assert ends >= 8


def test_flat_rows_step_the_single_envs_as_sync_vector_env_does():
    """For flat Box rows GymVecEnv steps the vector env's single envs itself: observations,
    rewards, ends, auto-resets and final observations equal gymnasium's SyncVectorEnv
    (same-step autoreset) on the same seeds and random actions, through terminations and
    time limits (CartPole cut at 15 steps)."""
    import gymnasium as gym

    def factory():
        return gym.make("CartPole-v1", max_episode_steps=15)

    env = GymVecEnv("short-cartpole", 4, factory=factory)
    assert env._single_envs is not None  # the fast path is what this test checks
    reference = gym.vector.SyncVectorEnv([factory] * 4, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    np.testing.assert_array_equal(env.reset(seed=3).numpy(), reference.reset(seed=3)[0])
    actions = np.random.default_rng(0).integers(0, 2, size=(200, 4))
    terminations = truncations = 0
    for row in actions:
        got_obs, got_reward, done, limits, final_obs = _step(env, torch.from_numpy(row))
        obs, reward, terminated, truncated, info = reference.step(row)
        np.testing.assert_array_equal(got_obs.numpy(), obs)
        np.testing.assert_array_equal(got_reward, reward.astype(np.float32))
        np.testing.assert_array_equal(done, terminated | truncated)
        cut = truncated & ~terminated
        np.testing.assert_array_equal(limits, cut)
        if cut.any():
            np.testing.assert_array_equal(final_obs.numpy(), np.stack(info["final_obs"][cut]))
        else:
            assert final_obs is None
        terminations += int(terminated.sum())
        truncations += int(cut.sum())
    assert terminations > 0 and truncations > 0  # both kinds of end were compared
    reference.close()
    env.close()
