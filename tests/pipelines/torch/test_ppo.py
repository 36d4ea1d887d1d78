"""The torch pipeline: short runs (CartPole, Blackjack's Tuple observation, Pendulum's continuous
actions), evaluation, reproducibility, errors, the checkpoint, and the rollout's bookkeeping."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import CHECKPOINT_FILE, load_checkpoint  # noqa: E402
from puffer_backend.pipelines.torch import ppo as torch_ppo  # noqa: E402


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
    assert (tmp_path / CHECKPOINT_FILE).is_file()
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
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("sps", "wall_time")} for r in rs]  # noqa: E731
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
    with pytest.raises(FileNotFoundError, match="run_dir: expected a run folder holding checkpoint.npz"):
        torch_ppo.evaluate(tmp_path)


def test_checkpoint_holds_weights_optimizer_and_counters(tmp_path):
    summary, _ = _smoke(tmp_path, "CartPole-v1", 1024)
    config, checkpoint = load_checkpoint(tmp_path, "torch")
    assert config.total_steps == 1024 and config.backend == "torch"  # from config.json, its only copy
    assert (checkpoint.step, checkpoint.update) == (summary["steps"], 2)
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
    from puffer_backend.pipelines.torch.policy import build_agent

    agent = build_agent(GymVecEnv("CartPole-v1", 1), config.hidden_size)
    assert set(checkpoint.params) == set(agent.state_dict())
    (flat_size,) = {v.shape for k, v in checkpoint.optimizer.items() if k.endswith("exp_avg")}
    assert flat_size == (sum(p.numel() for p in agent.parameters()),)  # Adam over the one flat Parameter
    assert float(checkpoint.optimizer["0/step"]) == 2 * 4 * 4  # updates x epochs x minibatches
    assert checkpoint.state["generator"].dtype == np.uint8


class ScriptedEnv:
    """A RolloutEnv (envs.contract) that replays rewards, ends and time limits: the loop's
    bookkeeping seen alone. Observation after step t is all t + 1."""

    num_envs, num_steps = 2, 3

    def __init__(self, steps, final_obs):
        self.steps, self.final_obs, self.t = steps, final_obs, 0

    def step(self, t, action):
        self.t = t + 1

    def observation(self):
        return torch.full((2, 4), float(self.t))

    def end_rollout(self):
        from puffer_backend.pipelines.envs.contract import RolloutEnd

        rewards, dones, limits = (torch.tensor([row[i] for row in self.steps]) for i in range(3))
        return RolloutEnd(rewards.float(), dones.float(), limits, self.final_obs)


def test_rollout_bootstraps_time_limits_with_the_final_observation():
    """collect_rollout + finish_rollout: values of the observation before each step, and at a
    time limit the critic's value of the final observation added as gamma * V into GAE."""
    from puffer_backend.pipelines.config import TrainConfig
    from puffer_backend.pipelines.gae import gae_numpy
    from puffer_backend.pipelines.torch.learner import RolloutBuffer
    from puffer_backend.pipelines.torch.loop import collect_rollout, finish_rollout

    final = torch.tensor([[7.0, 0.0, 0.0, 0.0]])
    env = ScriptedEnv([([1.0, 1.0], [False, False], [False, False]),
                       ([1.0, 1.0], [True, True], [False, True]),   # env 0 terminated, env 1 truncated
                       ([2.0, 3.0], [False, False], [False, False])], final)
    value_fn = lambda rows: rows[:, 0] * 10.0  # noqa: E731  a critic that reads the first feature
    act = lambda obs: (torch.zeros(2, dtype=torch.int64), torch.zeros(2), obs[:, 0])  # noqa: E731
    buf = RolloutBuffer(3, 2, 4, torch.float32, (), torch.int64)
    config = TrainConfig(gamma=0.5, gae_lambda=0.9)
    obs = collect_rollout(env, act, buf, torch.zeros(2, 4))
    finish_rollout(env, value_fn, buf, obs, config)
    np.testing.assert_array_equal(buf.limit_values.numpy(), [[0, 0], [0, 70.0], [0, 0]])
    np.testing.assert_array_equal(buf.dones.numpy(), [[0, 0], [1, 1], [0, 0]])
    np.testing.assert_array_equal(buf.values.numpy(), [[0, 0], [1, 1], [2, 2]])  # V(obs[t]), before the step
    assert torch.equal(obs, torch.full((2, 4), 3.0))
    # GAE by the sum definition with the bootstrapped reward folded in: rewards[1, 1] + 0.5 * 70.
    want = gae_numpy([[1, 1], [1, 1 + 0.5 * 70.0], [2, 3]], buf.values.numpy(), buf.dones.numpy(),
                     np.full(2, 30.0), 0.5, 0.9)
    np.testing.assert_allclose(buf.advantages.numpy(), want, rtol=1e-6)
    assert buf.values.dtype == torch.float32


@pytest.mark.parametrize("episodes", [0, True, 2.0])
def test_evaluate_rejects_bad_episodes(tmp_path, episodes):
    with pytest.raises(ValueError, match="episodes: expected a positive int"):
        torch_ppo.evaluate(tmp_path, episodes=episodes)




@pytest.mark.slow
def test_compile_is_warmed_up_and_timed_apart(tmp_path):
    """--compile: torch.compile's first calls (rollout step, update forward and backward) run
    before training, so compile time is compile_s and not in sps; training then works."""
    summary, logger = _smoke(tmp_path, "CartPole-v1", 1024, compile=True)
    assert summary["compile_s"] > 0
    assert logger.notes[0].startswith("compiling the torch policy") and logger.notes[1].startswith("compiled in")
    for record in logger.records:
        assert record["step"] / record["sps"] <= record["wall_time"] - summary["compile_s"] + 1e-6
