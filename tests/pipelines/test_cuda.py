"""The torch and mixed pipelines on a CUDA GPU (config.device): where every tensor lives, that
the mixed env's JAX arrays are on the same GPU, that a mixed rollout never waits for the
host and a torch rollout waits once per step (its actions go back to gymnasium), and that
runs train, evaluate and resume. Skipped without a GPU (the CPU side: test_devices.py)."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False)", allow_module_level=True)

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline  # noqa: E402
from puffer_backend.pipelines.devices import jax_gpu_count, resolve_device  # noqa: E402
from puffer_backend.pipelines.torch.learner import RolloutBuffer  # noqa: E402
from puffer_backend.pipelines.torch.loop import collect_rollout, finish_rollout  # noqa: E402
from puffer_backend.pipelines.torch.policy import build_agent, rollout_fn  # noqa: E402
from puffer_backend.pipelines.torch.runtime import seed_everything, unchecked_values  # noqa: E402

CUDA = f"cuda:{torch.cuda.current_device()}"


def _needs_jax_gpu():
    pytest.importorskip("gymnax")
    if jax_gpu_count() == 0:
        pytest.skip("JAX sees no GPU (a CPU-only jax)")


def _config(backend, **fields):
    return TrainConfig(backend=backend, total_steps=3 * 128, num_envs=4, num_steps=32, num_minibatches=2,
                       update_epochs=2, target_return=None, **fields)


def _rollout_parts(env, seed=0):
    """(agent, act, buffer, generator) on the env's device, as train_on builds them."""
    generator = seed_everything(seed, env.device)
    agent = build_agent(env, 16).to(env.device)
    buf = RolloutBuffer(env.num_steps, env.num_envs, env.obs_width, env.obs_dtype, env.action_spec.action_shape,
                        torch.int64, env.device)
    return agent, rollout_fn(agent, agent, False, generator), buf, generator


def _syncs(function):
    """(result, count of host synchronizations torch reports while `function` runs)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = function()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return result, sum("synchroniz" in str(w.message) for w in caught)


def test_auto_resolves_to_the_gpu():
    assert resolve_device("auto", "torch") == CUDA
    assert resolve_device("cuda", "torch") == CUDA


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_a_run_on_the_gpu_trains_evaluates_and_records_its_device(backend, tmp_path):
    if backend == "mixed":
        _needs_jax_gpu()
    else:
        pytest.importorskip("gymnasium")
    pipeline = load_pipeline(backend)
    logger = MemoryLogger(tmp_path / "run")
    summary = pipeline.train(_config(backend, device="cuda"), logger)
    assert summary["device"] == CUDA and summary["steps"] == 3 * 128
    assert len(logger.records) == 3 and all(np.isfinite(r["value_loss"]) for r in logger.records)
    assert np.isfinite(pipeline.evaluate(logger.run_dir, episodes=2))  # evaluation runs on the CPU


def test_the_torch_envs_tensors_and_the_buffer_live_on_the_gpu_one_sync_per_step():
    pytest.importorskip("gymnasium")
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv

    env = GymVecEnv("CartPole-v1", 4, 16, device="cuda")
    try:
        agent, act, buf, _ = _rollout_parts(env)
        with torch.inference_mode():
            obs = env.reset(0)
        assert obs.device == torch.device(CUDA)
        with unchecked_values():
            obs, syncs = _syncs(lambda: collect_rollout(env, act, buf, obs))
            assert syncs <= env.num_steps  # the actions' copy to the host, nothing else
            finish_rollout(env, agent.get_value, buf, obs, _config("torch"))
        for tensor in (obs, buf.obs, buf.actions, buf.logprobs, buf.values, buf.rewards, buf.advantages):
            assert tensor.is_cuda
        assert torch.isfinite(buf.advantages).all()
    finally:
        env.close()


def test_the_mixed_env_lives_on_the_same_gpu_and_a_rollout_never_syncs():
    _needs_jax_gpu()
    import jax

    from puffer_backend.pipelines.mixed.env import GymnaxTorchEnv

    env = GymnaxTorchEnv("CartPole-v1", 4, 16, device="cuda")
    assert env.device == torch.device("cuda")
    agent, act, buf, _ = _rollout_parts(env)
    with torch.inference_mode():
        obs = env.reset(0)
    env.warm_up()
    agent.refresh_rollout_weights()
    gpu = next(iter(env.last_obs.devices()))
    assert gpu.platform == "gpu" and obs.is_cuda
    assert all(leaf.devices() == {gpu} for leaf in jax.tree.leaves(env.carry))
    with unchecked_values():
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any host synchronization raises
        try:
            obs = collect_rollout(env, act, buf, obs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        finish_rollout(env, agent.get_value, buf, obs, _config("mixed"))
    assert obs.is_cuda and next(iter(env.last_obs.devices())) == gpu
    assert all(leaf.devices() == {gpu} for leaf in jax.tree.leaves(env.carry))
    assert buf.obs.is_cuda and torch.isfinite(buf.advantages).all()


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_a_cpu_run_resumes_on_the_gpu(backend, tmp_path):
    """The checkpoint's numpy arrays load onto the GPU; the CPU generator's state cannot seed a
    CUDA generator, so the run goes on reseeded, and says so."""
    if backend == "mixed":
        _needs_jax_gpu()
    else:
        pytest.importorskip("gymnasium")
    from puffer_backend.pipelines.resume import resume_config

    pipeline = load_pipeline(backend)
    run_dir = tmp_path / "run"
    pipeline.train(_config(backend, device="cpu", total_steps=2 * 128), MemoryLogger(run_dir))
    logger = MemoryLogger(run_dir)
    summary = pipeline.train(resume_config(run_dir, device="cuda"), logger, resume=True)
    assert summary["device"] == CUDA and summary["steps"] == 3 * 128
    assert any("reseeded" in note for note in logger.notes)
