"""benchmarks/scaling.py end to end in its smoke mode: the CSV holds one row per run with the
stated columns, the PNG is a PNG, a failing run is reported missing instead of crashing the
sweep, and the baselines are found from their declarations."""
import csv
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def scaling():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import scaling as module
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_baselines_are_found_from_their_declarations(scaling, tmp_path):
    import runner
    found = runner.baseline_modules()
    assert found["cleanrl-style"] == "cleanrl_style_ppo"
    assert found["purejaxrl-style"] == "purejaxrl_style_ppo"
    assert scaling.all_systems()[:3] == ["torch", "jax", "mixed"]
    assert set(scaling.all_systems()[3:]) == set(found)
    (tmp_path / "declared.py").write_text('import os\nNAME = "mine"\n')
    (tmp_path / "not_declared.py").write_text("NAME_OF_THING = 'not a declaration'\n")
    assert runner.declared_name(tmp_path / "declared.py") == "mine"
    assert runner.declared_name(tmp_path / "not_declared.py") is None


def test_quick_sweep_writes_csv_rows_and_a_png(scaling, tmp_path, capsys):
    pytest.importorskip("gymnasium")
    pytest.importorskip("matplotlib")
    out_csv, out_png = tmp_path / "s.csv", tmp_path / "s.png"
    systems = ["torch", "cleanrl-style"]  # the jax systems compile for ~10 s each: too slow here
    assert scaling.main(["--quick", "--systems", *systems, "--csv", str(out_csv), "--png", str(out_png)]) == 0

    with open(out_csv, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == scaling.COLUMNS
    assert sorted((r["system"], int(r["num_envs"])) for r in rows) == sorted(
        (s, n) for s in systems for n in (4, 8))
    for row in rows:
        n = int(row["num_envs"])
        assert int(row["repeat"]) == 0
        assert int(row["steps"]) == 1 * n * 128  # --quick: one update at every size
        assert float(row["sps"]) > 0 and float(row["wall_s"]) > 0
    compile_s = {r["system"]: r["compile_s"] for r in rows}
    assert compile_s["cleanrl-style"] == ""  # nothing to compile: left empty, not 0
    assert float(compile_s["torch"]) >= 0

    import matplotlib.image
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(str(out_png))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    printed = capsys.readouterr().out
    assert "# command:" in printed and "cpu capability" in printed and "| torch |" in printed


def test_a_failing_run_is_reported_missing_and_the_sweep_goes_on(scaling):
    said = []
    # 0 envs (0 steps) is refused by TrainConfig inside the child: the child fails, the parent does not.
    rows, missing = scaling.sweep(["torch"], [0], updates=1, repeats=2, timeout_s=300,
                                  say=lambda *a, **k: said.append(a[0]))
    assert rows == []
    assert list(missing) == ["torch"] and "ValueError: config." in missing["torch"]
    assert len(said) == 1  # not retried on the second repeat
    table = scaling.format_table(["torch"], [0], rows, missing)
    assert "| torch | missing |" in table


def test_bad_arguments_are_refused(scaling):
    with pytest.raises(SystemExit):
        scaling.main(["--systems", "no-such-system"])
    with pytest.raises(SystemExit):
        scaling.main(["--num-envs", "0"])
