"""gymnasium vector envs of the torch pipeline: packed rows, and final observations at time limits."""
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
    assert obs.dtype == torch.from_numpy(np.zeros(0, env.obs_dtype)).dtype
    np.testing.assert_array_equal(obs.numpy(), pack_batch(env.observation_space, raw))




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
        step = env.step(action)
        _, reward, terminated, truncated, info = reference.step(action.numpy())
        np.testing.assert_array_equal(step.reward, reward.astype(np.float32))
        if t < 199:
            assert step.truncated_envs is None and step.final_obs is None and not step.done.any()
    assert step.done.all() and list(step.truncated_envs) == [0, 1, 2]
    np.testing.assert_array_equal(step.final_obs.numpy(), np.stack(info["final_obs"]))
    assert not np.allclose(step.final_obs.numpy(), step.obs.numpy())  # the reset observation differs
    reference.close()


def test_terminations_are_not_bootstrapped():
    """Blackjack ends by termination only: no step reports truncated envs, whatever ends."""
    env = GymVecEnv("Blackjack-v1", 8)
    env.reset(seed=1)
    ends = 0
    for _ in range(20):
        step = env.step(torch.zeros(8, dtype=torch.int64))  # stick: every hand ends at once
        ends += int(step.done.sum())
        assert step.truncated_envs is None
    assert ends >= 8
