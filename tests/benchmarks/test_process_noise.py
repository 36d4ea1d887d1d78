"""benchmarks/process_noise.py: its summary is computed from the children's rows (faked
here), and one real child run times the sampler."""
from .importing import import_benchmark, run_benchmark_main


def test_the_spreads_come_from_the_process_rows(monkeypatch, capsys):
    module = import_benchmark("process_noise")
    rows = iter([[100.0, 110.0, 100.0], None, [150.0, 150.0, 160.0], [120.0, 120.0, 120.0]])

    def fake_child(command, mark, timeout_s):
        row = next(rows)
        return (row, "") if row is not None else (None, "timed out after 600s")

    monkeypatch.setattr(module, "child_row", fake_child)
    assert module.main(["--processes", "4", "--blocks", "3", "--calls", "5"]) == 0
    out = capsys.readouterr().out
    assert "process 1: no result (timed out after 600s)" in out
    # process medians 100, 150, 120: max/min 1.50; the widest process's blocks 110/100
    assert "min 100.0, median 120.0, max 150.0: max/min 1.50; within one process at most 1.10" in out
    assert "# cpu: " in out and "# command: python benchmarks/process_noise.py --processes 4" in out


def test_a_child_times_the_sampler(capsys):
    module = import_benchmark("process_noise")
    run_benchmark_main(module, ["--child", "[2, 3]"])
    line = capsys.readouterr().out.strip()
    assert line.startswith(module.ROW_MARK)
    blocks = __import__("json").loads(line[len(module.ROW_MARK):])
    assert len(blocks) == 2 and all(0 < b < 1e6 for b in blocks)
