"""benchmarks/reset_tiers.py: both variants are built as named (the sizes each step traced),
and a quick real run prints the table."""
from .importing import import_benchmark


def test_each_variant_traces_its_reset_sizes_and_the_threshold_is_put_back(monkeypatch):
    module = import_benchmark("reset_tiers")
    from puffer_backend import vector

    seen = []
    real = vector._reset_sizes
    monkeypatch.setattr(vector, "_reset_sizes", lambda n: seen.append(real(n)) or seen[-1])
    result = module.measure("CartPole-v1", 16, steps=2, repeats=1)
    assert seen == [(2,), (2, 4, 8)]  # traced once each: n/8 only, then every size
    assert vector.ALL_TIERS_FROM == 512
    assert set(result) == set(module.VARIANTS)
    assert all(compile_s > 0 and sps > 0 for compile_s, sps in result.values())


def test_a_quick_run_prints_both_rows_and_the_machine(capsys):
    module = import_benchmark("reset_tiers")
    assert module.main(["--env", "CartPole-v1", "--sizes", "8", "--steps", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| 8 | n/8 only |" in out and "| 8 | n/8, n/4, n/2 |" in out and "x |" in out
    assert "# cpu: " in out and "# command: python benchmarks/reset_tiers.py --env CartPole-v1" in out
