"""benchmarks/families_speed.py: the table and the goal come from the children's rows (faked
here), and each variant trains the pipeline and setting it names."""
from .importing import import_benchmark


def _row(variant, n, repeat, sps):
    return {"env": "brax/inverted_pendulum", "backend": variant, "num_envs": n, "repeat": repeat, "steps": 2048,
            "sps": sps, "compile_s": 1.0, "wall_s": 2.0}


def test_the_ratios_are_of_the_medians_and_each_variant_is_judged(monkeypatch, capsys):
    module = import_benchmark("families_speed")
    sps = {("jax", 64): [100.0, 300.0, 200.0], ("mixed", 64): [90.0, 95.0, 10.0],
           ("mixed-compile", 64): [120.0, 110.0, 130.0]}
    calls = []

    def fake_child(env_id, variant, n, num_steps, updates, repeat, timeout_s):
        calls.append(variant)
        return _row(variant, n, repeat, sps[variant, n][repeat]), ""

    monkeypatch.setattr(module, "run_child", fake_child)
    # mixed misses the goal at 64 envs: the exit status says so
    assert module.main(["--envs", "brax/inverted_pendulum", "--num-envs", "64", "--repeats", "3", "--compile"]) == 1
    out = capsys.readouterr().out
    assert calls == ["jax", "mixed", "mixed-compile"] * 3  # interleaved repeat by repeat
    # medians: jax 200, mixed 90 (0.45, short of 0.5), mixed-compile 120 (0.60)
    assert "| brax/inverted_pendulum | 64 | 200 | 90 | 0.45 | no | 120 | 0.60 | yes |" in out
    assert "mixed-compile / jax" in out and "# command: python benchmarks/families_speed.py" in out


def test_without_compile_two_variants_and_a_missing_point_fails_the_goal(monkeypatch):
    module = import_benchmark("families_speed")
    rows = [_row("jax", 64, 0, 100.0), _row("mixed", 64, 0, 60.0), _row("jax", 256, 0, 100.0)]
    table, ok = module.ratio_table(rows, ["brax/inverted_pendulum"], [64])
    assert ok and "| 64 | 100 | 60 | 0.60 | yes |" in table and "compile" not in table
    table, ok = module.ratio_table(rows, ["brax/inverted_pendulum"], [64, 256])
    assert not ok and "| brax/inverted_pendulum | 256 | missing |" in table
    # below 64 envs a short ratio is shown but is not part of the goal
    table, ok = module.ratio_table([_row("jax", 8, 0, 100.0), _row("mixed", 8, 0, 10.0)],
                                   ["brax/inverted_pendulum"], [8])
    assert ok and "| 0.10 | no |" in table


def test_each_variant_trains_its_backend_with_its_compile_setting(monkeypatch):
    module = import_benchmark("families_speed")
    import puffer_backend.pipelines as pipelines

    seen = []

    class FakePipeline:
        @staticmethod
        def train(config, logger):
            seen.append((config.backend, config.compile, config.num_envs, config.total_steps))
            return {"steps": config.total_steps, "sps": 1000.0, "compile_s": 0.5}

    monkeypatch.setattr(pipelines, "load_pipeline", lambda backend: FakePipeline)
    for variant in ("jax", "mixed", "mixed-compile"):
        row = module.run_here("brax/inverted_pendulum", variant, 8, 4, 2, 0)
        assert row["backend"] == variant and row["sps"] == 1000.0
    assert seen == [("jax", False, 8, 64), ("mixed", False, 8, 64), ("mixed", True, 8, 64)]


def test_the_exit_status_is_0_only_when_every_point_meets_the_goal(monkeypatch, capsys):
    module = import_benchmark("families_speed")
    sps = {"jax": 100.0, "mixed": 50.0}
    monkeypatch.setattr(module, "run_child", lambda env_id, variant, n, *rest: (_row(variant, n, 0, sps[variant]), ""))
    assert module.main(["--envs", "brax/inverted_pendulum", "--num-envs", "64", "--repeats", "1"]) == 0
    monkeypatch.setattr(module, "run_child", lambda *args: (None, "timed out after 600s"))
    assert module.main(["--envs", "brax/inverted_pendulum", "--num-envs", "64", "--repeats", "1"]) == 1
    assert "missing (timed out after 600s)" in capsys.readouterr().out
