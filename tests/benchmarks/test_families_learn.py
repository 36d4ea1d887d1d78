"""benchmarks/families_learn.py end to end in its smoke mode on the cheapest family (navix):
the CSV holds the run's curve with the stated columns, the PNG is a PNG, and the table
states the target and whether it was reached."""
import csv
import math

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


def _rows(steps, returns, episodes):
    return [{"step": s, "mean_return": r, "episodes": e} for s, r, e in zip(steps, returns, episodes)]


def test_last_quarter_mean_averages_the_rows_past_three_quarters_of_the_run():
    families_learn = import_benchmark("families_learn")
    # 8 updates of 100 steps: the last quarter is the rows past step 600, 700 and 800;
    # 30 episodes had ended at step 600, 75 at step 800.
    records = _rows(range(100, 900, 100), [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.75], [0, 5, 10, 15, 20, 30, 50, 75])
    assert families_learn.last_quarter_mean(records) == (0.5, 45)
    # A row with no episode yet (NaN) is skipped, not averaged as 0.
    records = _rows([10, 20, 30, 40, 50], [math.nan] * 3 + [math.nan, 2.0], [0, 0, 0, 0, 3])
    assert families_learn.last_quarter_mean(records) == (2.0, 3)
    mean, episodes = families_learn.last_quarter_mean([])
    assert math.isnan(mean) and episodes == 0


def test_a_last_quarter_run_reaches_its_target_only_when_its_control_does_not():
    families_learn = import_benchmark("families_learn")

    def run(backend, statistic):
        return {"env": "jumanji", "backend": backend, "judge": families_learn.LAST_QUARTER, "target": 0.4,
                "statistic": statistic, "quarter_episodes": 600}

    for trained, control, reached in ((0.5, 0.3, True), (0.5, 0.45, False), (0.35, 0.3, False)):
        runs = [run("jax", trained), run("jax control", control)]
        families_learn.judge_controls(runs)
        assert runs[0]["reached"] is reached and runs[0]["control_statistic"] == control
        assert runs[1]["reached"] is (control >= 0.4)
    alone = [run("mixed", 0.5)]  # no control run (it failed): not reached
    families_learn.judge_controls(alone)
    assert alone[0]["reached"] is False and families_learn.reached_text(alone[0]).startswith("no: 0.5 ")


def test_a_run_replaces_its_own_rows_in_the_csv_and_plot_only_redraws_from_it(tmp_path):
    pytest.importorskip("matplotlib")
    families_learn = import_benchmark("families_learn")
    path = tmp_path / "families_learn.csv"
    old = [{"step": 64, "wall_time": 1.0, "mean_return": 0.5, "episodes": 3, "sps": 10.0}]
    families_learn.write_csv(path, [{"env": "navix", "backend": "jax", "records": old},
                                    {"env": "jumanji", "backend": "jax", "records": old}])
    new = [dict(old[0], step=128, mean_return=0.75)]
    families_learn.write_csv(path, [{"env": "jumanji", "backend": "jax", "records": new}])
    rows = families_learn.read_csv(path)
    assert [(r["env"], r["backend"], r["step"], r["mean_return"]) for r in rows] == [
        ("navix", "jax", "64", "0.5"), ("jumanji", "jax", "128", "0.75")]

    assert families_learn.main(["--plot-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "families_learn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
