"""The torch pipeline on any gymnasium env: observation spaces through pack_batch and
nativize (Box, Discrete, image-like Box, Dict of Box/Discrete/MultiBinary), action spaces
converted for the env (Discrete and MultiDiscrete with a start, a (2, 2) float64 Box), envs
refused with one line naming env_id, sync and async vector envs, normalization wiring."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
gym = pytest.importorskip("gymnasium")

from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.envs.gym_vec import ActionConverter, GymVecEnv  # noqa: E402
from puffer_backend.pipelines.normalize import Normalizer  # noqa: E402
from puffer_backend.pipelines.torch import ppo  # noqa: E402

TOY = "tests.pipelines.envs.toy_envs"
SHORT = dict(total_steps=128, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1)


@pytest.mark.parametrize("env_id", [
    "Acrobot-v1",                      # Box observation, Discrete(3)
    "FrozenLake-v1",                   # Discrete observation (one int32 leaf)
    f"{TOY}:make_dict_env",            # Dict(Box, Discrete, MultiBinary); MultiDiscrete actions starting at 1
    f"{TOY}:make_image_env",           # 8x8x3 uint8 images; Discrete actions starting at 1
    f"{TOY}:make_matrix_action_env",   # float64 observations; a (2, 2) float64 Box action
    "MountainCarContinuous-v0",        # continuous control preset: normalization on
])
def test_trains_and_evaluates(env_id, tmp_path):
    # The toy envs assert action_space.contains(action) on every step: a wrong shape, dtype
    # or offset fails the run.
    config = TrainConfig.for_env(env_id, "torch", **SHORT)
    logger = MemoryLogger(tmp_path)
    summary = ppo.train(config, logger)
    assert summary["steps"] == 128 and len(logger.records) == 2
    assert all(np.isfinite(row["policy_loss"]) for row in logger.records)
    assert np.isfinite(ppo.evaluate(tmp_path, episodes=2))
    _, checkpoint = load_checkpoint(tmp_path)
    assert ("obs_rms/mean" in checkpoint.state) == config.norm_obs


@pytest.mark.parametrize("env_id, fragments", [
    (f"{TOY}:make_text_env", ["observation space packs into rows", "Text("]),
    (f"{TOY}:make_tuple_action_env", ["Discrete, MultiDiscrete, MultiBinary or Box actions", "Tuple("]),
    (f"{TOY}:make_not_an_env", ["a factory returning a gymnasium.Env", "returning str"]),
    ("Blackjack-v1", ["config.norm_obs: expected an env whose packed observations are floats", "int32 rows"]),
])
def test_unsupported_envs_are_refused_in_one_line(env_id, fragments, tmp_path):
    config = TrainConfig(backend="torch", env_id=env_id, norm_obs=env_id == "Blackjack-v1", **SHORT)
    with pytest.raises(ValueError) as info:
        ppo.train(config, MemoryLogger(tmp_path))
    message = str(info.value)
    assert "\n" not in message and (message.startswith("env_id: expected") or message.startswith("config."))
    assert env_id in message or "Blackjack-v1" in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_dependency_is_refused_in_one_line(tmp_path):
    try:
        import Box2D  # noqa: F401
        pytest.skip("Box2D is installed here")
    except ImportError:
        pass
    with pytest.raises(ValueError, match=r"^env_id: expected an env whose dependencies are installed, received "
                                         r"'LunarLander-v3' \(Box2D is not installed"):
        ppo.train(TrainConfig(backend="torch", env_id="LunarLander-v3", **SHORT), MemoryLogger(tmp_path))


def test_action_converter():
    convert = ActionConverter(gym.spaces.MultiDiscrete([[3, 2], [4, 5]], start=[[1, 0], [2, -1]]))
    out = convert(np.array([[2, 1, 3, 4], [0, 0, 0, 0]]))
    np.testing.assert_array_equal(out, [[[3, 1], [5, 3]], [[1, 0], [2, -1]]])
    box = ActionConverter(gym.spaces.Box(-1.0, 2.0, (2, 2), np.float64))
    out = box(np.array([[-5.0, 0.5, 3.0, 1.0]], np.float32))
    assert out.dtype == np.float64 and out.shape == (1, 2, 2)
    np.testing.assert_array_equal(out, [[[-1.0, 0.5], [2.0, 1.0]]])
    binary = ActionConverter(gym.spaces.MultiBinary(3))
    assert binary(np.array([[1, 0, 1]])).dtype == np.int8
    plain = ActionConverter(gym.spaces.Discrete(4))
    action = np.array([3, 1])
    assert plain(action) is action  # the common case converts nothing


def test_normalized_env_equals_the_normalizer_on_the_raw_stream():
    """GymVecEnv's normalized rows, final rows and rewards are the Normalizer's output on the
    plain env's stream (same seeds, same actions); last_step's reward is the raw reward."""
    steps, envs = 420, 2  # two Pendulum time limits
    env = GymVecEnv("Pendulum-v1", envs, norm_obs=True, norm_reward=True, gamma=0.9)
    plain = GymVecEnv("Pendulum-v1", envs)
    ours = Normalizer((3,), envs, 0.9, norm_reward=True)
    np.testing.assert_array_equal(env.reset(seed=4).numpy(), ours.observations(plain.reset(seed=4).numpy()))
    rng = np.random.default_rng(0)
    truncations = 0
    for _ in range(steps):
        action = torch.from_numpy(rng.uniform(-3, 3, (envs, 1)).astype(np.float32))
        env.step(0, action)
        plain.step(0, action)
        got, raw = env.end_rollout(), plain.end_rollout()
        raw_reward = raw.rewards[0].numpy()
        np.testing.assert_array_equal(env.last_step()[0], raw_reward)
        np.testing.assert_array_equal(env.observation().numpy(), ours.observations(plain.observation().numpy()))
        np.testing.assert_array_equal(got.rewards[0].numpy(), ours.rewards(raw_reward, np.zeros(envs, bool)))
        if raw.final_obs is not None:
            truncations += 1
            np.testing.assert_array_equal(got.final_obs.numpy(), ours.final_observations(raw.final_obs.numpy()))
    assert truncations == 2
    env.close()
    plain.close()


def test_async_vector_env_gives_the_sync_run(tmp_path):
    """Same seed, same envs: one process per env changes where the envs step, not the run."""
    runs = {}
    for vec in ("sync", "async"):
        logger = MemoryLogger(tmp_path / vec)
        ppo.train(TrainConfig(backend="torch", env_id="CartPole-v1", vec=vec, seed=3, **SHORT), logger)
        runs[vec] = [{k: v for k, v in row.items() if k not in ("sps", "wall_time")} for row in logger.records]
    assert runs["sync"] == runs["async"]


def test_evaluation_uses_the_saved_statistics(tmp_path):
    """With norm_obs, eval normalizes with the checkpoint's statistics: shifting the saved mean
    changes what the greedy policy sees, and so (for this trained run) its return."""
    from puffer_backend.pipelines.checkpoint import save_checkpoint

    config = TrainConfig(backend="torch", env_id="CartPole-v1", norm_obs=True, total_steps=4096, seed=1)
    ppo.train(config, MemoryLogger(tmp_path))
    saved_config, checkpoint = load_checkpoint(tmp_path)
    # The count is exact: the reset batch and one batch per step, from gymnasium's prior 1e-4.
    assert float(checkpoint.state["obs_rms/count"]) == pytest.approx(1e-4 + 4 * (1 + 4096 // 4), abs=1e-9)
    before = ppo.evaluate(tmp_path, episodes=8)
    checkpoint.state["obs_rms/mean"] = checkpoint.state["obs_rms/mean"] + np.array([0.0, 0.0, 0.3, 0.0])
    save_checkpoint(tmp_path, saved_config, checkpoint)
    assert ppo.evaluate(tmp_path, episodes=8) != before
