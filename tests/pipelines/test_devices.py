"""config.device: its forms (TrainConfig.validate), what it resolves to on this machine
(pipelines.devices), that an explicit "cpu" run is the default run bit for bit, and that
checkpoints load onto the device a run now uses. The GPU side is tests/pipelines/test_cuda.py."""
import dataclasses

import numpy as np
import pytest

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline
from puffer_backend.pipelines.checkpoint import load_checkpoint
from puffer_backend.spec.errors import BadValueError

torch = pytest.importorskip("torch")

from puffer_backend.pipelines import devices  # noqa: E402
from puffer_backend.pipelines.devices import resolve_device  # noqa: E402

NO_GPU = not torch.cuda.is_available()


# --- the forms config.device takes -------------------------------------------------------------

@pytest.mark.parametrize("backend", ["torch", "mixed"])
@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_names_the_config_takes(backend, device):
    TrainConfig(backend=backend, device=device).validate()


@pytest.mark.parametrize("device", ["gpu", "CPU", "cuda:", "cuda:-1", "cuda:x", "cuda:0:1", "cuda:１", "mps", "",
                                    0, None])
@pytest.mark.parametrize("backend", ["torch", "mixed", "jax"])
def test_device_names_the_config_refuses(backend, device):
    with pytest.raises(BadValueError) as error:
        TrainConfig(backend=backend, device=device).validate()
    assert error.value.argument == "config.device"
    assert str(error.value) == (f"config.device: expected one of ['auto', 'cpu', 'cuda'] or 'cuda:N' (N = 0, 1, ...), "
                                f"received {device!r}")


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0"])
def test_the_jax_backend_takes_auto_only(device):
    TrainConfig(backend="jax", device="auto").validate()
    with pytest.raises(BadValueError, match=r"config.device: expected 'auto' for backend jax \(it runs on JAX's "
                       rf"default backend; JAX_PLATFORMS=cpu picks the CPU\), received '{device}'"):
        TrainConfig(backend="jax", device=device).validate()


def test_a_resumed_run_may_change_its_device():
    from puffer_backend.pipelines.resume import RESUME_MAY_CHANGE

    assert "device" in RESUME_MAY_CHANGE


# --- what it resolves to -----------------------------------------------------------------------

def _fake_gpus(monkeypatch, torch_gpus: int, jax_gpus: int, current: int = 0):
    """This machine as if torch saw `torch_gpus` GPUs (current one `current`) and JAX `jax_gpus`."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: torch_gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: torch_gpus)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
    monkeypatch.setattr(devices, "jax_gpu_count", lambda: jax_gpus)


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_cpu_and_auto_without_a_gpu_resolve_to_the_cpu(backend, monkeypatch):
    _fake_gpus(monkeypatch, 0, 0)
    assert resolve_device("cpu", backend) == "cpu"
    assert resolve_device("auto", backend) == "cpu"


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("backend", ["torch", "mixed"])
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_naming_config_device(backend, device):
    """On this machine, unfaked: the error a user without a GPU sees."""
    with pytest.raises(BadValueError) as error:
        resolve_device(device, backend)
    assert error.value.argument == "config.device"
    assert "'cpu' or 'auto' on this machine (torch sees no CUDA GPU" in str(error.value)
    assert str(error.value).endswith(f"received {device!r}")
    assert resolve_device("auto", backend) == "cpu"


def test_auto_takes_torchs_current_gpu(monkeypatch):
    _fake_gpus(monkeypatch, 2, 2, current=1)
    assert resolve_device("auto", "torch") == "cuda:1"
    assert resolve_device("auto", "mixed") == "cuda:1"
    assert resolve_device("cuda", "torch") == "cuda:1"
    assert resolve_device("cuda:0", "mixed") == "cuda:0"
    assert resolve_device("cpu", "mixed") == "cpu"


def test_a_gpu_index_torch_does_not_see_is_refused(monkeypatch):
    _fake_gpus(monkeypatch, 2, 2)
    with pytest.raises(BadValueError, match=r"config.device: expected a GPU torch sees: cuda:0 to cuda:1, "
                       r"received 'cuda:2'"):
        resolve_device("cuda:2", "torch")


def test_mixed_needs_jax_to_see_the_gpu_too(monkeypatch):
    """A CPU-only jax beside a CUDA torch: auto falls back to the CPU (the env could not run on
    the GPU), an explicit cuda is refused, naming what JAX sees; torch alone is not affected."""
    _fake_gpus(monkeypatch, 1, 0)
    assert resolve_device("auto", "mixed") == "cpu"
    assert resolve_device("auto", "torch") == "cuda:0"
    with pytest.raises(BadValueError, match=r"config.device: expected a GPU that JAX sees too .*JAX sees no GPU "
                       r"\(a CPU-only jax; pip install 'jax\[cuda12\]'\), received 'cuda'"):
        resolve_device("cuda", "mixed")
    _fake_gpus(monkeypatch, 2, 1)
    with pytest.raises(BadValueError, match="JAX sees 1 GPUs, received 'cuda:1'"):
        resolve_device("cuda:1", "mixed")


def test_resolve_device_checks_its_arguments():
    with pytest.raises(BadValueError, match="config.device: expected one of"):
        resolve_device("gpu")
    with pytest.raises(BadValueError, match=r"backend: expected 'torch' or 'mixed' \(the jax pipeline runs on "
                       r"JAX's default backend\), received 'jax'"):
        resolve_device("auto", "jax")


def test_torchrun_ranks_train_on_the_cpu(monkeypatch):
    from puffer_backend.pipelines.torch.ppo import check_device

    _fake_gpus(monkeypatch, 1, 0)
    assert check_device(TrainConfig(backend="torch"), world_size=1) == "cuda:0"
    assert check_device(TrainConfig(backend="torch"), world_size=2) == "cpu"
    with pytest.raises(BadValueError, match=r"config.device: expected 'cpu' or 'auto' under torchrun"):
        check_device(TrainConfig(backend="torch", device="cuda"), world_size=2)


# --- an explicit cpu is today's run, bit for bit ------------------------------------------------

def _short_run(backend, tmp_path, name, **fields):
    pytest.importorskip("gymnasium" if backend == "torch" else "gymnax")
    config = TrainConfig(backend=backend, total_steps=3 * 64, num_envs=2, num_steps=32, num_minibatches=2,
                         update_epochs=2, target_return=None, **fields)
    logger = MemoryLogger(tmp_path / name)
    summary = load_pipeline(backend).train(config, logger)
    return logger.records, summary, load_checkpoint(logger.run_dir)[1]


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_an_explicit_cpu_run_is_the_default_run_bit_for_bit(backend, tmp_path, monkeypatch):
    """Whatever the machine, "cpu" and (without a GPU) "auto" train the same run: the same
    losses at every update, the same weights, Adam state, generator and env state."""
    _fake_gpus(monkeypatch, 0, 0)  # auto -> cpu even on a GPU machine
    default_records, default_summary, default_ckpt = _short_run(backend, tmp_path, "default")
    cpu_records, cpu_summary, cpu_ckpt = _short_run(backend, tmp_path, "cpu", device="cpu")
    assert default_summary["device"] == cpu_summary["device"] == "cpu"
    drop_time = lambda rows: [{k: v for k, v in row.items() if k not in ("sps", "wall_time")} for row in rows]  # noqa: E731
    assert drop_time(default_records) == drop_time(cpu_records)
    for group in ("params", "optimizer", "state"):
        a, b = getattr(default_ckpt, group), getattr(cpu_ckpt, group)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{group}/{key}")
    assert default_ckpt.info["generator_device"] == "cpu"


# --- checkpoints load onto the device a run now uses -----------------------------------------------

DEVICES = ["cpu"] + ([] if NO_GPU else ["cuda"])


@pytest.mark.parametrize("device", DEVICES)
def test_a_checkpoint_loads_onto_the_agents_device(device):
    """Saved from an agent on `device`, loaded into a fresh agent on `device`: the same weights
    and Adam state, on that device (the checkpoint itself holds numpy arrays)."""
    pytest.importorskip("gymnasium")
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
    from puffer_backend.pipelines.torch.learner import make_optimizer
    from puffer_backend.pipelines.torch.policy import build_agent
    from puffer_backend.pipelines.torch.runtime import seed_everything
    from puffer_backend.pipelines.torch.saving import agent_checkpoint, restore_learner

    env = GymVecEnv("CartPole-v1", 2)
    try:
        learners = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            agent = build_agent(env, 16).to(device)
            learners.append((agent, make_optimizer(agent, 1e-2), seed_everything(seed, device)))
    finally:
        env.close()
    (agent, optimizer, generator), (other, other_optimizer, other_generator) = learners
    flat = optimizer.param_groups[0]["params"][0]
    flat.grad.copy_(torch.ones_like(flat))
    optimizer.step()
    saved = agent_checkpoint("torch", 10, 1, agent, optimizer, generator)
    assert all(isinstance(value, np.ndarray) for value in saved.params.values())
    assert saved.info["generator_device"] == torch.device(device).type
    assert restore_learner(other, other_optimizer, other_generator, saved)
    for (name, a), (_, b) in zip(agent.state_dict().items(), other.state_dict().items()):
        assert b.device.type == torch.device(device).type, name
        assert torch.equal(a, b), name
    for state in other_optimizer.state.values():
        assert all(v.device.type == torch.device(device).type for v in state.values())  # fused Adam: step too
    assert torch.equal(generator.get_state(), other_generator.get_state())


def test_a_generator_saved_on_another_kind_of_device_is_left_as_it_is():
    """A CUDA generator's state cannot seed a CPU generator: restore_learner says so (False) and
    leaves it; the weights and Adam come back all the same (the loop then reseeds)."""
    pytest.importorskip("gymnasium")
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
    from puffer_backend.pipelines.torch.learner import make_optimizer
    from puffer_backend.pipelines.torch.policy import build_agent
    from puffer_backend.pipelines.torch.saving import agent_checkpoint, restore_learner

    env = GymVecEnv("CartPole-v1", 2)
    try:
        agent, other = build_agent(env, 16), build_agent(env, 16)
    finally:
        env.close()
    saved = agent_checkpoint("torch", 0, 0, agent, make_optimizer(agent, 1e-2), torch.Generator().manual_seed(0))
    saved = dataclasses.replace(saved, info={**saved.info, "generator_device": "cuda"})
    generator = torch.Generator().manual_seed(7)
    before = generator.get_state()
    assert not restore_learner(other, make_optimizer(other, 1e-2), generator, saved)
    assert torch.equal(generator.get_state(), before)
    assert all(torch.equal(a, b) for a, b in zip(agent.state_dict().values(), other.state_dict().values()))


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_a_cpu_runs_checkpoint_evaluates_and_resumes(backend, tmp_path, monkeypatch):
    """A checkpoint saved by a run on the CPU evaluates, and resumes with device="cpu" given
    explicitly (a resumed run may change its device) on to the end."""
    from puffer_backend.pipelines.resume import resume_config

    _fake_gpus(monkeypatch, 0, 0)
    pytest.importorskip("gymnasium" if backend == "torch" else "gymnax")
    pipeline = load_pipeline(backend)
    config = TrainConfig(backend=backend, total_steps=2 * 64, num_envs=2, num_steps=32, num_minibatches=2,
                         update_epochs=1, target_return=None)
    run_dir = tmp_path / "run"
    pipeline.train(config, MemoryLogger(run_dir))
    assert np.isfinite(pipeline.evaluate(run_dir, episodes=2))
    resumed = resume_config(run_dir, total_steps=3 * 64, device="cpu")
    summary = pipeline.train(resumed, MemoryLogger(run_dir), resume=True)
    assert summary["steps"] == 3 * 64 and summary["device"] == "cpu"
