"""config.recurrent (torch/recurrent.py, jax/recurrent.py): the torch and JAX LSTM policies compute
the same function from the same weights; the state is reset where an episode starts; the update
re-runs a stored segment to the rollout's own log-probabilities and values; each backend trains,
evaluates with the state carried, and resumes bit for bit; bad combinations are refused."""
import dataclasses

import numpy as np
import pytest

from puffer_backend.pipelines import MemoryLogger, TrainConfig
from tests.pipelines.policy_cases import CASES, obs_dim

from .resuming import differing, groups, interrupt, resume

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")


def _jax_params(agent) -> dict:
    """The torch RecurrentAgent's weights in the JAX policy's names and layouts (dense and LSTM
    weights transposed, conv weights (out, in, h, w) -> (h, w, in, out))."""
    w = {name: value.detach().numpy() for name, value in agent.state_dict().items()}
    params = {"lstm": {"kernel_ih": w["lstm.weight_ih"].T, "kernel_hh": w["lstm.weight_hh"].T,
                       "bias_ih": w["lstm.bias_ih"], "bias_hh": w["lstm.bias_hh"]}}
    for name in ("encoder", "actor", "critic"):
        params[name] = {"kernel": w[f"{name}.weight"].T, "bias": w[f"{name}.bias"]}
    for name in w:
        if name.startswith("encoders.") and name.endswith(".weight"):
            _, leaf, *where, _ = name.split(".")
            layer = "dense" if where == ["dense"] else f"conv{where[1]}"
            kernel = w[name]
            params.setdefault("cnn", {}).setdefault(leaf, {})[layer] = {
                "kernel": kernel.T if kernel.ndim == 2 else kernel.transpose(2, 3, 1, 0), "bias": w[name[:-6] + "bias"]}
    return params


def _policies(obs_leaves, hidden=16, actions=5):
    """The torch recurrent agent with random weights (biases too, so that a misplaced one shows)
    and the JAX recurrent policy with the same params."""
    from puffer_backend.pipelines.jax.recurrent import recurrent_policy
    from puffer_backend.pipelines.torch.recurrent import RecurrentAgent
    from puffer_backend.spec import Discrete
    from tests.pipelines.policy_cases import gymnax_env, torch_layout

    torch.manual_seed(3)
    agent = RecurrentAgent(torch_layout(obs_leaves), Discrete(actions), hidden)
    with torch.no_grad():
        for parameter in agent.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    pol = recurrent_policy(gymnax_env(obs_leaves, num_actions=actions), hidden)
    params = _jax_params(agent)
    # The tree of the policy's own init: every param converted, none missing.
    expected = jax.eval_shape(pol.init, jax.random.PRNGKey(0), None)
    assert jax.tree.structure(expected) == jax.tree.structure(params)
    assert [x.shape for x in jax.tree.leaves(expected)] == [np.shape(x) for x in jax.tree.leaves(params)]
    return pol, params, agent


FLAT = ((("", (6,)),), 6)


@pytest.mark.parametrize("case", ["flat", "navix"])
def test_torch_and_jax_lstm_policies_compute_the_same_function(case):
    obs_leaves, _ = FLAT if case == "flat" else CASES[case]
    pol, params, agent = _policies(obs_leaves)
    steps, envs = 5, 3
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (steps, envs, obs_dim(obs_leaves))).astype(np.float32)
    starts = np.zeros((steps, envs), np.float32)
    starts[0], starts[2, 1] = 1.0, 1.0
    actions = rng.integers(0, 5, (steps, envs))
    h0 = rng.normal(size=(envs, 16)).astype(np.float32)
    c0 = rng.normal(size=(envs, 16)).astype(np.float32)
    from puffer_backend import jax_impl

    # JAX step by step (the rollout), against torch step by step and torch's unroll (the update).
    @jax.jit
    def step(state, inputs):
        obs, start, action = inputs
        dist, value, state = pol.step(params, obs, state, start)
        return state, (jax_impl.sample_logits(jax.random.PRNGKey(0), dist, action)[1], value, state[0])

    _, (jax_logprob, jax_value, jax_h) = jax.lax.scan(step, (h0, c0), (obs, starts, actions))
    with torch.no_grad():
        state, torch_logprob, torch_value = (torch.from_numpy(h0), torch.from_numpy(c0)), [], []
        for t in range(steps):
            _, logprob, _, value, state = agent(torch.from_numpy(obs[t]), state, torch.from_numpy(starts[t]),
                                                torch.from_numpy(actions[t]))
            torch_logprob.append(logprob.numpy())
            torch_value.append(value.numpy())
            np.testing.assert_allclose(state[0].numpy(), jax_h[t], rtol=1e-5, atol=1e-5)
        unrolled = agent.unroll(torch.from_numpy(obs), (torch.from_numpy(h0), torch.from_numpy(c0)),
                                torch.from_numpy(starts), torch.from_numpy(actions))
    np.testing.assert_allclose(np.stack(torch_logprob), jax_logprob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack(torch_value), jax_value, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unrolled[0].numpy(), np.reshape(jax_logprob, -1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unrolled[2].numpy(), np.reshape(jax_value, -1), rtol=1e-5, atol=1e-5)
    _, value = jax.jit(pol.unroll)(params, obs, (h0, c0), starts)
    np.testing.assert_allclose(value, np.reshape(jax_value, -1), rtol=1e-5, atol=1e-5)


def test_the_state_is_reset_where_an_episode_starts():
    # A start flag makes the rest of the sequence what a fresh (zero) state gives, in both
    # backends; the carried state gives something else (so the reset is what matters).
    pol, params, agent = _policies(FLAT[0])
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (6, 2, 6)).astype(np.float32)
    h0, c0 = (rng.normal(size=(2, 16)).astype(np.float32) for _ in range(2))
    starts = np.zeros((6, 2), np.float32)
    starts[3, 0] = 1.0
    zeros = np.zeros((2, 16), np.float32)
    unroll = jax.jit(pol.unroll)
    _, reset = unroll(params, obs, (h0, c0), starts)
    _, fresh = unroll(params, obs[3:], (zeros, zeros), np.zeros((3, 2), np.float32))
    _, carried = unroll(params, obs, (h0, c0), np.zeros((6, 2), np.float32))
    reset, fresh, carried = (np.asarray(v).reshape(-1, 2) for v in (reset, fresh, carried))
    np.testing.assert_allclose(reset[3:, 0], fresh[:, 0], rtol=1e-6, atol=1e-6)
    assert np.abs(carried[3:, 0] - fresh[:, 0]).max() > 1e-3
    np.testing.assert_allclose(reset[:, 1], carried[:, 1], rtol=1e-6, atol=1e-6)  # env 1 never reset
    with torch.no_grad():
        args = (torch.zeros(6, 2, dtype=torch.int64),)
        torch_reset = agent.unroll(torch.from_numpy(obs), (torch.from_numpy(h0), torch.from_numpy(c0)),
                                   torch.from_numpy(starts), *args)[2].numpy().reshape(-1, 2)
        torch_fresh = agent.unroll(torch.from_numpy(obs[3:]), agent.initial_state(2), torch.zeros(3, 2),
                                   torch.zeros(3, 2, dtype=torch.int64))[2].numpy().reshape(-1, 2)
    np.testing.assert_allclose(torch_reset[3:, 0], torch_fresh[:, 0], rtol=1e-6, atol=1e-6)


def test_torch_update_re_runs_the_rollout_to_its_logprobs_and_values():
    # What the update sees at its first epoch (before any step): the rollout's own numbers,
    # from the stored initial state and start flags, on a subset of whole envs.
    from puffer_backend.pipelines.envs.gym_vec import GymVecEnv
    from puffer_backend.pipelines.torch.learner import RolloutBuffer
    from puffer_backend.pipelines.torch.policy import build_agent
    from puffer_backend.pipelines.torch.recurrent import (RecurrentMemory, collect_recurrent_rollout,
                                                          finish_recurrent_rollout)

    config = TrainConfig(backend="torch", num_envs=4, num_steps=48, recurrent=True, hidden_size=16)
    env = GymVecEnv("CartPole-v1", 4, 48)
    torch.manual_seed(0)
    agent = build_agent(env, 16, recurrent=True)
    with torch.no_grad():
        agent.actor.weight.mul_(100.0)  # confident logits: a wrong state shows in the log-probabilities
    buf = RolloutBuffer(48, 4, env.obs_width, env.obs_dtype, (), torch.int64)
    memory = RecurrentMemory(agent, 48, 4, "cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        obs = env.reset(0)
    for _ in range(2):  # the second rollout starts from a carried, non-zero state
        obs = collect_recurrent_rollout(env, agent, memory, buf, obs, generator)
        finish_recurrent_rollout(env, agent, memory, buf, obs, config)
    env.close()
    assert memory.starts[1:].sum() > 0 and memory.initial[0].abs().sum() > 0
    envs = torch.tensor([3, 1])
    with torch.no_grad():
        logprob, _, value = agent.unroll(buf.obs[:, envs], (memory.initial[0][envs], memory.initial[1][envs]),
                                         memory.starts[:, envs], buf.actions[:, envs])
        np.testing.assert_allclose(logprob, buf.logprobs[:, envs].reshape(-1), atol=1e-5)
        np.testing.assert_allclose(value, buf.values[:, envs].reshape(-1), atol=1e-5)
        # Without the start flags (or from a zero state) the re-run is another function.
        wrong = agent.unroll(buf.obs[:, envs], (memory.initial[0][envs], memory.initial[1][envs]),
                             torch.zeros_like(memory.starts[:, envs]), buf.actions[:, envs])
        assert (wrong[2] - buf.values[:, envs].reshape(-1)).abs().max() > 1e-3


def _jax_first_epoch_kl(monkeypatch, ignore_starts: bool) -> np.ndarray:
    """approx_kl of each update of a jax recurrent run whose steps change nothing that shows
    (learning rate 1e-9): every minibatch (2 sets of whole envs, 2 epochs) then sees the rollout's
    params, so ~0 when the re-run reproduces the rollout. The actor is scaled up so that a wrong
    state, flag or segment would show."""
    from puffer_backend.pipelines.jax import program as program_module
    from puffer_backend.pipelines.jax.program import make_program, metrics_dict
    from puffer_backend.pipelines.jax.recurrent import recurrent_policy

    def make_policy(gymnax_env, hidden_size, policy=None, network="auto", recurrent=False):
        pol = recurrent_policy(gymnax_env, hidden_size, network)

        def init(key, obs):
            params = pol.init(key, obs)
            params["actor"]["kernel"] = params["actor"]["kernel"] * 1000.0
            return params

        unroll = pol.unroll
        if ignore_starts:
            def unroll(params, obs, state, starts):  # noqa: F811
                return pol.unroll(params, obs, state, starts * 0.0)
        return pol._replace(init=init, unroll=unroll)

    monkeypatch.setattr(program_module, "make_policy", make_policy)
    config = TrainConfig(backend="jax", total_steps=3 * 4 * 48, num_envs=4, num_steps=48, num_minibatches=2,
                         update_epochs=2, recurrent=True, hidden_size=16, learning_rate=1e-9)
    program = make_program(config, chunk_updates=3)
    _, metrics = program.train_chunk(program.init_state(jax.random.PRNGKey(0)))
    return metrics_dict(metrics)["approx_kl"]


def test_jax_update_re_runs_the_rollout_to_its_logprobs(monkeypatch):
    assert np.all(np.abs(_jax_first_epoch_kl(monkeypatch, ignore_starts=False)) < 1e-6)


@pytest.mark.heavy
def test_jax_first_epoch_kl_sees_a_wrong_re_run(monkeypatch):
    # The check above can fail: a re-run that ignores the start flags gives another policy.
    assert np.abs(_jax_first_epoch_kl(monkeypatch, ignore_starts=True)).max() > 1e-4


CONFIG = TrainConfig(total_steps=256, num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2,
                     recurrent=True, hidden_size=16, seed=4)


@pytest.fixture
def cache_every_program():
    """The three runs of a test compile the same programs: JAX's persistent cache (the suite's
    folder) keeps them however fast they compiled, for this test only."""
    names = ("jax_persistent_cache_min_compile_time_secs", "jax_persistent_cache_min_entry_size_bytes")
    before = [getattr(jax.config, name) for name in names]
    for name in names:
        jax.config.update(name, 0)
    yield
    for name, value in zip(names, before):
        jax.config.update(name, value)


@pytest.mark.parametrize("backend", ["torch", "mixed", "jax"])
def test_each_backend_trains_evaluates_and_resumes_bit_for_bit(tmp_path, backend, cache_every_program):
    from puffer_backend.pipelines import load_pipeline

    pipeline = load_pipeline(backend)
    config = dataclasses.replace(CONFIG, backend=backend)
    if backend == "jax":
        config = dataclasses.replace(config, extra={"chunk_updates": 1})
    full = MemoryLogger(tmp_path / "full")
    pipeline.train(config, full)
    assert len(full.records) == 2 and all(np.isfinite(r["policy_loss"]) for r in full.records)
    names = groups(tmp_path / "full")
    assert (any(n.startswith("state/memory/") for n in names) if backend == "jax"
            else "state/recurrent/h" in names)
    assert np.isfinite(pipeline.evaluate(tmp_path / "full", episodes=3))
    with pytest.raises(ValueError, match=r"^config.recurrent: expected False for record_video"):
        pipeline.record_video(tmp_path / "full", tmp_path / "play.gif")
    interrupt(pipeline.train, config, tmp_path / "cut", 128)
    resume(pipeline.train, config, tmp_path / "cut")
    if backend == "torch":  # gymnasium envs are reset at a resume (so is the state): another run
        assert "params/lstm.weight_ih" in differing(groups(tmp_path / "cut"), names)
    else:
        assert differing(groups(tmp_path / "cut"), names) == []


@pytest.mark.parametrize("change, message", [
    ({"num_envs": 6, "num_minibatches": 4}, r"^config.num_minibatches: expected a divisor of num_envs 6 when "
                                            r"recurrent \(minibatches are sets of whole envs\), received 4$"),
    ({"compile": True}, r"^config.recurrent: expected False with config.compile .*received True with compile=True$"),
    ({"policy": "my_policies:Policy"}, r"^config.recurrent: expected False with a user's policy .*received True "
                                       r"with config.policy 'my_policies:Policy'$"),
])
def test_bad_combinations_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(CONFIG, **change).validate()


def test_a_recurrent_run_refuses_a_policy_argument(tmp_path):
    from puffer_backend.pipelines.jax import ppo as jax_ppo
    from puffer_backend.pipelines.torch import ppo as torch_ppo

    with pytest.raises(ValueError, match=r"^policy: expected None when config.recurrent"):
        torch_ppo.train(dataclasses.replace(CONFIG, backend="torch"), MemoryLogger(tmp_path / "t"),
                        policy=torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"^policy: expected None when config.recurrent"):
        jax_ppo.train(dataclasses.replace(CONFIG, backend="jax"), MemoryLogger(tmp_path / "j"),
                      policy=(lambda key, obs: {}, lambda params, obs: (obs, obs[:, 0])))


def test_torchrun_is_refused():
    from puffer_backend.pipelines.torch.loop import _check_recurrent
    from puffer_backend.pipelines.torch.runtime import DistInfo

    _check_recurrent(None, DistInfo())
    with pytest.raises(ValueError, match=r"^config.recurrent: expected False under torchrun .*received True with "
                                         r"WORLD_SIZE=2$"):
        _check_recurrent(None, DistInfo(rank=1, world_size=2))


@pytest.mark.heavy
@pytest.mark.parametrize("backend", ["jax", "mixed"])
def test_the_lstm_learns_what_needs_memory_and_eval_carries_its_state(tmp_path, backend):
    # MemoryChain-bsuite: the first observation shows a bit that the sixth step must name
    # (+1 or -1); without memory the best mean return is 0. benchmarks/memory_learn.py's
    # config reaches 0.9 by ~10k steps on both backends; eval scores ~1 only if it carries the state.
    from puffer_backend.pipelines import load_pipeline

    pipeline = load_pipeline(backend)
    config = TrainConfig(backend=backend, env_id="MemoryChain-bsuite", total_steps=20_480, num_envs=32, num_steps=32,
                         learning_rate=1e-3, recurrent=True)
    summary = pipeline.train(config, MemoryLogger(tmp_path))
    assert summary["mean_return"] >= 0.9
    assert pipeline.evaluate(tmp_path, episodes=64) >= 0.9


def test_a_checkpoint_without_the_state_is_refused():
    from puffer_backend.pipelines.torch.recurrent import RecurrentAgent, RecurrentMemory
    from puffer_backend.spec import Discrete
    from tests.pipelines.policy_cases import torch_layout

    memory = RecurrentMemory(RecurrentAgent(torch_layout(FLAT[0]), Discrete(2), 8), 4, 3, "cpu")
    saved = memory.arrays()
    assert {name: a.shape for name, a in saved.items()} == {
        "recurrent/h": (3, 8), "recurrent/c": (3, 8), "recurrent/start": (3,)}
    memory.restore(saved)
    with pytest.raises(ValueError, match=r"^checkpoint: expected state/recurrent/c of shape \(3, 8\) \(a recurrent "
                                         r"run's\), received none$"):
        memory.restore({"recurrent/h": saved["recurrent/h"]})
    with pytest.raises(ValueError, match=r"received shape \(2, 8\)$"):
        memory.restore({**saved, "recurrent/h": np.zeros((2, 8), np.float32)})
