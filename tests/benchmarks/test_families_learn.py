"""benchmarks/families_learn.py end to end in its smoke mode on the cheapest family (navix):
the CSV holds the run's curve with the stated columns, the PNG is a PNG, and the table
states the target and whether it was reached."""
import csv

import pytest

from .importing import import_benchmark


def test_quick_navix_run_writes_the_curve_and_the_table(tmp_path, capsys):
    pytest.importorskip("navix")
    pytest.importorskip("matplotlib")
    families_learn = import_benchmark("families_learn")
    assert families_learn.main(["--quick", "--envs", "navix", "--backends", "jax", "--out", str(tmp_path)]) == 0

    with open(tmp_path / "families_learn.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == families_learn.COLUMNS
    quick = families_learn.QUICK
    per_update = quick["num_envs"] * quick["num_steps"]
    assert [(r["env"], r["backend"], int(r["step"])) for r in rows] == [
        ("navix", "jax", per_update), ("navix", "jax", 2 * per_update)]
    assert all(float(r["wall_time"]) > 0 for r in rows)
    assert (tmp_path / "families_learn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    out = capsys.readouterr().out
    target = families_learn.ENVS["navix"][1]
    assert "| navix/Navix-Empty-5x5-v0 | jax | " in out and f"| {target:g} |" in out
    assert "cpu capability" in out and "# command: python benchmarks/families_learn.py --quick" in out
