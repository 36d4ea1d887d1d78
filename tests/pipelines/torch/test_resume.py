"""Resuming the torch pipeline. Restored exactly: weights, Adam's moments and step count, the
sampling generator, the counters, the episode window and the clock. Not restored: gymnasium
envs (reset on resume, with a seed drawn from the seed and the update count), so the updates
after a resume differ from an uninterrupted run's, and two resumes of one checkpoint agree."""
import dataclasses
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.envs.gym_vec import GymVecEnv  # noqa: E402
from puffer_backend.pipelines.torch import ppo as torch_ppo  # noqa: E402
from puffer_backend.pipelines.torch.learner import make_optimizer  # noqa: E402
from puffer_backend.pipelines.torch.policy import build_agent  # noqa: E402
from puffer_backend.pipelines.torch.saving import agent_checkpoint, restore_learner  # noqa: E402

from ..resuming import CheckpointSpy, assert_seamless, differing, groups, interrupt, resume  # noqa: E402


def _learner(seed, env):
    torch.manual_seed(seed)
    agent = build_agent(env, 16)
    return agent, make_optimizer(agent, 1e-2), torch.Generator().manual_seed(seed)


def _adam_steps(agent, optimizer, count, seed):
    grads = torch.Generator().manual_seed(seed)
    flat = optimizer.param_groups[0]["params"][0]
    for _ in range(count):
        flat.grad.copy_(torch.randn(flat.shape, generator=grads))
        optimizer.step()


def test_restore_learner_continues_bit_for_bit():
    """A learner restored from a checkpoint and the original take the same next Adam steps
    (a wrong step count would change Adam's bias correction) and draw the same samples."""
    env = GymVecEnv("CartPole-v1", 2)
    agent, optimizer, generator = _learner(0, env)
    _adam_steps(agent, optimizer, 3, seed=1)
    torch.randperm(100, generator=generator)
    saved = agent_checkpoint("torch", 100, 3, agent, optimizer, generator)
    other, other_optimizer, other_generator = _learner(5, env)  # other weights, fresh Adam, other seed
    restore_learner(other, other_optimizer, other_generator, saved)
    for learner in ((agent, optimizer), (other, other_optimizer)):
        _adam_steps(*learner, 2, seed=2)
    for (name, a), (_, b) in zip(agent.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(optimizer.state_dict()["state"][0]["step"], other_optimizer.state_dict()["state"][0]["step"])
    assert torch.equal(torch.randperm(100, generator=generator), torch.randperm(100, generator=other_generator))
    env.close()


def test_interrupted_run_resumes_to_the_same_step_count(tmp_path):
    config = TrainConfig(backend="torch", total_steps=2048, seed=3)
    # Uninterrupted, with a checkpoint every 2 updates (the spy copies each save).
    spy = CheckpointSpy(tmp_path / "full")
    torch_ppo.train(dataclasses.replace(config, save_every=2), spy)
    assert spy.on_disk == {1536: 2, 2048: 2}  # saved after update 2; the end's save comes after the last row

    first = interrupt(torch_ppo.train, config, tmp_path / "cut", 1024)
    # Ctrl-C after update 2 saved what the uninterrupted run had after update 2, bit for bit:
    # weights, Adam, generator, episode window.
    assert differing(groups(tmp_path / "cut"), groups(spy.run_dir / "copies" / "2.npz")) == []

    shutil.copytree(tmp_path / "cut", tmp_path / "cut-again")
    resumed = resume(torch_ppo.train, config, tmp_path / "cut")
    assert_seamless(first.records, resumed.records, 512)
    summary_steps = load_checkpoint(tmp_path / "cut")[1]
    assert (summary_steps.step, summary_steps.update) == (2048, 4)
    # The same checkpoint resumed twice: the same run (the envs' reset seed is fixed).
    resume(torch_ppo.train, config, tmp_path / "cut-again")
    assert differing(groups(tmp_path / "cut"), groups(tmp_path / "cut-again")) == []
    # Not the uninterrupted run's: its envs were mid-episode, the resumed ones were reset.
    assert "params/actor.0.weight" in differing(groups(tmp_path / "cut"), groups(tmp_path / "full"))


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    config = TrainConfig(backend="torch", total_steps=512, seed=3)
    torch_ppo.train(config, MemoryLogger(tmp_path))
    with pytest.raises(ValueError, match="config.total_steps: expected at least 1024 to resume"):
        torch_ppo.train(config, MemoryLogger(tmp_path), resume=True)
    with pytest.raises(ValueError, match="config.hidden_size: expected 64"):
        torch_ppo.train(dataclasses.replace(config, total_steps=1024, hidden_size=32), MemoryLogger(tmp_path),
                        resume=True)
    with pytest.raises(FileNotFoundError):
        torch_ppo.train(config, MemoryLogger(tmp_path / "empty"), resume=True)
