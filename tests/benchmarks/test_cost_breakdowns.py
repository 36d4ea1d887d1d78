"""The cost-breakdown benchmarks: jax_update_cost's arithmetic (minibatch step from two epoch
counts, the fixed and width-dependent parts from the fit) on timings of a known model, and
mixed_step_cost's measurement on a short run of both pipelines' envs; the runner's --compile switch."""
import pytest

from .importing import import_benchmark as _import


def test_jax_update_cost_recovers_a_known_split(monkeypatch, capsys):
    module = _import("jax_update_cost")
    fixed_ms, slope_ms, rest_ms = 0.06, 0.1 / 64 ** 2, 1.4  # per minibatch step, per h^2, per update

    def fake(hidden, epochs, steps):  # T(epochs) = rest + 4 * epochs minibatch steps
        return rest_ms + 4 * epochs * (fixed_ms + slope_ms * hidden * hidden)
    monkeypatch.setattr(module, "ms_per_update", fake)
    assert module.main(["--hidden", "8", "64", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["64"])
    assert float(row[3]) == pytest.approx((fixed_ms + slope_ms * 64 * 64) * 1e3, abs=1)  # us per step
    assert float(row[4]) == pytest.approx(rest_ms, abs=0.01)
    assert "hidden 64: fit 60 us fixed + 100 us width-dependent" in out


def test_mixed_step_cost_times_every_part():
    pytest.importorskip("gymnax")
    module = _import("mixed_step_cost")
    from puffer_backend.pipelines.config import TrainConfig

    for env_id in ("CartPole-v1", "Pendulum-v1"):  # Pendulum: its preset, 1 env, normalized
        config = TrainConfig.for_env(env_id, "mixed")
        for case in (module.mixed_case, module.torch_case):
            result = case(config, 3, 1)
            assert set(result) == {"policy alone", "env alone", "policy in loop", "env in loop"}
            assert all(0 < wall < 1e6 and 0 <= cpu < 1e6 for wall, cpu in result.values())
    costs = module.update_costs(TrainConfig.for_env("CartPole-v1", "mixed", num_steps=8), 1)
    assert set(costs) == {"mixed", "torch"}
    for phases in costs.values():
        assert set(phases) == {"rollout", "rollout end", "update"}
        assert all(0 < wall < 1e6 and 0 <= cpu < 1e6 for wall, cpu in phases.values())


def test_runner_passes_compile_to_the_torch_pipelines_only(monkeypatch, tmp_path):
    runner = _import("runner")
    seen = {}

    class Pipeline:
        @staticmethod
        def train(config, logger):
            seen[config.backend] = config.compile
            return {"steps": 512, "sps": 1.0, "mean_return": 0.0, "compile_s": 0.0}
    import puffer_backend.pipelines as pipelines
    monkeypatch.setattr(pipelines, "load_pipeline", lambda backend: Pipeline)
    for backend in ("torch", "mixed", "jax"):
        runner.run_pipeline(backend, 0, 512, "CartPole-v1", str(tmp_path), torch_compile=True)
    assert seen == {"torch": True, "mixed": True, "jax": False}
