"""benchmarks/seeds_speed.py's table from its children's rows (the runs themselves compile for
tens of seconds: faked here), and a run that fails reported missing instead of crashing."""
from .importing import import_benchmark


def test_the_table_is_the_median_of_the_repeats_and_its_ratio_to_the_first(monkeypatch, capsys):
    module = import_benchmark("seeds_speed")
    speeds = {"1": [100.0, 300.0], "4": [500.0, 700.0], "16": None}
    calls = []

    def fake_child(command, mark, timeout):
        seeds = command[command.index("--child") + 1]
        calls.append((seeds, command[command.index("--num-envs") + 1]))
        if speeds[seeds] is None:
            return None, "timed out after 5s"
        return {"seeds": int(seeds), "sps": speeds[seeds].pop(0), "compile_s": 2.0}, ""

    monkeypatch.setattr(module, "child_row", fake_child)
    assert module.main(["--seeds", "1", "4", "16", "--repeats", "2", "--num-envs", "8"]) == 0
    out = capsys.readouterr().out
    assert calls == [("1", "8"), ("4", "8"), ("16", "8")] * 2  # interleaved repeats, envs per seed passed on
    assert "| 1 | 200 | 1.0x | 200 | 2.0 |" in out  # medians: 200 and 600
    assert "| 4 | 600 | 3.0x | 150 | 2.0 |" in out
    assert "| 16 | missing | | | |" in out and "16 seeds, repeat 0: missing (timed out after 5s)" in out
    assert "# cpu: " in out and "# command: python " in out
