"""Run folders, the progress display and the plots, read back and checked against what was recorded."""
import csv
import io
import json
import math

import numpy as np
import pytest

from puffer_backend.pipelines import METRIC_KEYS, TrainConfig
from puffer_backend.cli import runs
from puffer_backend.pipelines.envs import REQUIRED_MODULES, SUPPORTED_ENVS, missing_modules, supported_envs
from puffer_backend.cli.progress import Progress, format_line

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(n=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        metrics = {k: float(v) for k, v in zip(METRIC_KEYS, rng.normal(size=len(METRIC_KEYS)))}
        metrics["mean_return"] = math.nan if i == 0 else 20.0 * i  # no episode finished at first
        rows.append(((i + 1) * 512, metrics))
    return rows


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_metrics_csv_is_written_as_records_arrive(tmp_path):
    logger = runs.RunLogger(tmp_path / "run")
    rows = _rows()
    for i, (step, metrics) in enumerate(rows):
        logger.record(np.int64(step), **{k: np.float32(v) for k, v in metrics.items()})
        table = _read_csv(tmp_path / "run" / runs.METRICS_FILE)  # read while the run goes on
        assert table[0] == ["step", *METRIC_KEYS, "wall_time"]
        assert len(table) == i + 2
    logger.close()
    columns = runs.read_metrics(tmp_path / "run")
    assert columns["step"] == [float(s) for s, _ in rows]
    for key in METRIC_KEYS:
        expected = np.array([np.float32(m[key]) for _, m in rows], dtype=np.float64)
        np.testing.assert_array_equal(np.array(columns[key]), expected)  # exact: repr round-trips
    assert math.isnan(columns["mean_return"][0])
    wall = columns["wall_time"]
    assert all(b >= a for a, b in zip(wall, wall[1:])) and wall[0] >= 0


def test_missing_and_extra_keys(tmp_path):
    logger = runs.RunLogger(tmp_path)
    logger.record(100, mean_return=1.0, sps=10.0, clipfrac=0.25)
    logger.record(200, mean_return=2.0, later_key=3.0)  # sps missing, a new key after the header
    logger.close()
    header = _read_csv(tmp_path / runs.METRICS_FILE)[0]
    assert header == ["step", *METRIC_KEYS, "clipfrac", "wall_time"]
    columns = runs.read_metrics(tmp_path / runs.METRICS_FILE)
    assert columns["sps"][0] == 10.0 and math.isnan(columns["sps"][1])
    assert columns["clipfrac"][0] == 0.25 and math.isnan(columns["clipfrac"][1])
    assert logger.columns()["later_key"][1] == 3.0  # kept in memory


@pytest.mark.parametrize("step, error", [("abc", TypeError), (1.5, ValueError), (True, TypeError)])
def test_record_rejects_bad_step(tmp_path, step, error):
    with pytest.raises(error, match="step: expected an integer"):
        runs.RunLogger(tmp_path).record(step, mean_return=1.0)


def test_record_rejects_non_numbers(tmp_path):
    with pytest.raises(TypeError, match="policy_loss: expected a number"):
        runs.RunLogger(tmp_path).record(1, policy_loss="high")


def test_close_writes_curve_and_summary(tmp_path):
    logger = runs.RunLogger(tmp_path, target=475.0)
    for step, metrics in _rows():
        logger.record(step, **metrics)
    logger.close({"steps": np.int64(2560), "sps": np.float32(1234.5), "mean_return": 80.0, "nan": math.nan})
    assert (tmp_path / runs.CURVE_FILE).read_bytes()[:8] == PNG_MAGIC
    summary = json.loads((tmp_path / runs.SUMMARY_FILE).read_text())
    assert summary == {"steps": 2560, "sps": 1234.5, "mean_return": 80.0, "nan": None}
    logger.close()  # idempotent


def test_no_plot_without_records(tmp_path):
    runs.RunLogger(tmp_path).close()
    assert not (tmp_path / runs.CURVE_FILE).exists()


def test_write_false_writes_nothing(tmp_path):
    logger = runs.RunLogger(tmp_path / "r", write=False)
    logger.record(10, mean_return=1.0)
    logger.close({"steps": 10})
    assert not (tmp_path / "r").exists()
    assert logger.records[0]["step"] == 10


def test_create_run_dir_never_reuses_a_folder(tmp_path):
    first = runs.create_run_dir(tmp_path / "out", "a")
    (first / "keep").write_text("data")
    with pytest.raises(FileExistsError, match="already exists"):
        runs.create_run_dir(tmp_path / "out", "a")
    assert runs.create_run_dir(tmp_path / "out", "a", unique=True).name == "a-1"
    assert runs.create_run_dir(tmp_path / "out", "a", unique=True).name == "a-2"
    assert (first / "keep").read_text() == "data"
    for bad in ("", "..", "x/y"):
        with pytest.raises(ValueError, match="name: expected a folder name"):
            runs.create_run_dir(tmp_path, bad)


def test_default_run_name():
    from datetime import datetime

    name = runs.default_run_name(TrainConfig(backend="torch", env_id="Blackjack-v1", seed=3),
                                 datetime(2025, 1, 2, 3, 4, 5))
    assert name == "torch-Blackjack-v1-s3-20250102-030405"


@pytest.mark.parametrize("env, expected", [({}, True), ({"WORLD_SIZE": "1", "RANK": "0"}, True),
                                           ({"WORLD_SIZE": "2", "RANK": "0"}, True),
                                           ({"WORLD_SIZE": "2", "RANK": "1"}, False)])
def test_is_main_process(monkeypatch, env, expected):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert runs.is_main_process() is expected


# --- progress ------------------------------------------------------------------------------------

def test_progress_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(500000, stream=stream, interval_s=0)
    assert progress.mode == "plain"
    progress.update(12288, sps=31012.4, mean_return=87.31)
    progress.update(24576, sps=30000.0, mean_return=math.nan)
    progress.close()
    assert stream.getvalue().splitlines() == ["step 12288/500000  sps 31012  mean_return 87.3",
                                              "step 24576/500000  sps 30000  mean_return -"]


def test_progress_plain_interval_holds_lines_back_but_prints_the_last():
    stream = io.StringIO()
    progress = Progress(1000, stream=stream, interval_s=3600)
    for step in range(100, 1001, 100):
        progress.update(step, sps=1.0, mean_return=float(step))
    assert stream.getvalue().splitlines() == [format_line(100, 1000, 1.0, 100.0)]
    progress.close()
    assert stream.getvalue().splitlines() == [format_line(100, 1000, 1.0, 100.0), format_line(1000, 1000, 1.0, 1000.0)]


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal():
    stream = _FakeTerminal()
    progress = Progress(1000, stream=stream)
    assert progress.mode == "bar"
    progress.update(400, sps=123.0, mean_return=9.5)
    progress.update(1000, sps=123.0, mean_return=10.0)
    progress.close()
    text = stream.getvalue()
    assert "1.00k/1.00k" in text and "mean_return 10.0" in text


def test_progress_off_and_bad_arguments():
    stream = io.StringIO()
    progress = Progress(10, stream=stream, mode="off")
    progress.update(5, sps=1.0, mean_return=1.0)
    progress.close()
    assert stream.getvalue() == ""
    with pytest.raises(ValueError, match="mode: expected one of"):
        Progress(10, mode="fancy")
    with pytest.raises(ValueError, match="interval_s: expected"):
        Progress(10, interval_s=-1)


def test_logger_feeds_progress(tmp_path):
    stream = io.StringIO()
    logger = runs.RunLogger(tmp_path, progress=Progress(1024, stream=stream, interval_s=0))
    logger.record(512, sps=100.0, mean_return=5.0)
    logger.close()
    assert stream.getvalue().splitlines() == ["step 512/1024  sps 100  mean_return 5.0"]


# --- plots ---------------------------------------------------------------------------------------

def test_curve_figure_plots_the_recorded_data(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    from puffer_backend.cli.plots import curve_figure, plot_curve

    metrics = {"step": [512.0, 1024.0, 1536.0], "mean_return": [10.0, 50.0, 200.0]}
    figure = curve_figure(metrics, title="run-a", target=475)
    lines = figure.axes[0].get_lines()
    np.testing.assert_array_equal(lines[0].get_xdata(), metrics["step"])
    np.testing.assert_array_equal(lines[0].get_ydata(), metrics["mean_return"])
    assert figure.axes[0].get_title() == "run-a"
    assert list(lines[1].get_ydata()) == [475, 475]  # the target line
    path = plot_curve(metrics, tmp_path / "sub" / "curve.png")
    image = matplotlib_image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0  # drawn, not blank
    with pytest.raises(ValueError, match="expected a 'mean_return' column"):
        curve_figure({"step": [1.0]})


def test_compare_figure_one_line_per_run(tmp_path):
    pytest.importorskip("matplotlib")
    from puffer_backend.cli.plots import compare_figure

    a = {"step": [1.0, 2.0], "mean_return": [3.0, 4.0], "wall_time": [0.1, 0.2]}
    b = {"step": [1.0, 2.0, 3.0], "mean_return": [5.0, 6.0, 7.0], "wall_time": [0.5, 0.6, 0.9]}
    figure = compare_figure([("a", a), ("b", b)], x="wall_time")
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    np.testing.assert_array_equal(lines[1].get_xdata(), b["wall_time"])
    np.testing.assert_array_equal(lines[1].get_ydata(), b["mean_return"])
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="runs: expected at least one"):
        compare_figure([])


# --- env table -----------------------------------------------------------------------------------

def test_env_table():
    assert set(SUPPORTED_ENVS) == set(REQUIRED_MODULES) == {"torch", "jax", "mixed"}
    assert "Blackjack-v1" in supported_envs("torch") and "Blackjack-v1" not in supported_envs("jax")
    with pytest.raises(ValueError, match="backend: expected one of"):
        supported_envs("tf")
    with pytest.raises(ValueError, match="backend: expected one of"):
        missing_modules("tf")


def test_missing_modules_sees_a_blocked_module(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gymnasium", None)  # how a failed/blocked import looks
    assert "gymnasium" in missing_modules("torch")
