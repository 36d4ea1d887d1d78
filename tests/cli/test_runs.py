"""Run folders: metrics.csv written as records arrive, summary.json, curve.png, names, ranks."""
import csv
import io
import json
import math

import numpy as np
import pytest

from puffer_backend.cli import runs
from puffer_backend.cli.progress import Progress
from puffer_backend.pipelines import METRIC_KEYS, TrainConfig

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
    logger.record(100, mean_return=1.0, sps=10.0, grad_norm=0.25)
    logger.record(200, mean_return=2.0, later_key=3.0)  # sps missing, a new key after the header
    logger.close()
    header = _read_csv(tmp_path / runs.METRICS_FILE)[0]
    assert header == ["step", *METRIC_KEYS, "grad_norm", "wall_time"]
    columns = runs.read_metrics(tmp_path / runs.METRICS_FILE)
    assert columns["sps"][0] == 10.0 and math.isnan(columns["sps"][1])
    assert columns["grad_norm"][0] == 0.25 and math.isnan(columns["grad_norm"][1])
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


@pytest.mark.parametrize("env_id, part", [("my_envs:make_env", "my_envs-make_env"),
                                          ("pkg.envs:make", "pkg.envs-make"), ("ALE/Pong-v5", "ALE-Pong-v5"),
                                          ("a b\\c", "a-b-c"), (":", "env")])
def test_default_run_names_are_one_plain_folder_name(env_id, part):
    """A factory's `module:function` (and a namespaced gymnasium id) names a folder without a
    colon or a path separator."""
    from datetime import datetime

    name = runs.default_run_name(TrainConfig(backend="torch", env_id=env_id), datetime(2025, 1, 2, 3, 4, 5))
    assert name == f"torch-{part}-s0-20250102-030405"
    assert runs.is_folder_name(name) and ":" not in name


@pytest.mark.parametrize("env, expected", [({}, True), ({"WORLD_SIZE": "1", "RANK": "0"}, True),
                                           ({"WORLD_SIZE": "2", "RANK": "0"}, True),
                                           ({"WORLD_SIZE": "2", "RANK": "1"}, False)])
def test_is_main_process(monkeypatch, env, expected):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert runs.is_main_process() is expected


def test_rows_keep_the_pipelines_wall_time(tmp_path):
    logger = runs.RunLogger(tmp_path)
    logger.record(512, mean_return=1.0, wall_time=12.5)  # the pipeline's clock (pipelines.metrics)
    logger.record(1024, mean_return=2.0)                 # none given: seconds since the logger started
    logger.close()
    wall = runs.read_metrics(tmp_path)["wall_time"]
    assert wall[0] == 12.5 and 0.0 <= wall[1] < 12.5


def test_notes_go_to_the_progress_display_with_the_command_name(tmp_path):
    stream = io.StringIO()
    logger = runs.RunLogger(tmp_path, progress=Progress(10, stream=stream, mode="plain"))
    logger.note("compiling the jax program ...")
    runs.RunLogger(tmp_path / "quiet", progress=Progress(10, stream=stream, mode="off")).note("hidden")
    runs.RunLogger(tmp_path / "none").note("no display, no error")
    assert stream.getvalue() == "puffer-backend: compiling the jax program ...\n"


def test_resumes_are_recorded_in_summary_and_on_the_curve(tmp_path):
    """Each resume adds its checkpoint step to summary.json's resumed_at with its first row (a
    resumed run interrupted again keeps it); a point past a later resume's checkpoint is dropped with its rows."""
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    with runs.RunLogger(run) as logger:
        for step, metrics in _rows(4):
            logger.record(step, **metrics)
    assert not (run / runs.SUMMARY_FILE).exists()  # interrupted: no summary
    logger = runs.RunLogger(run, resume_step=1024)
    assert not (run / runs.SUMMARY_FILE).exists()  # a resume refused before its first row writes nothing
    logger.record(1536, mean_return=5.0)
    assert json.loads((run / runs.SUMMARY_FILE).read_text()) == {"resumed_at": [1024]}
    logger.close()  # interrupted again
    logger = runs.RunLogger(run, resume_step=1536)
    logger.record(2048, mean_return=6.0)
    logger.close({"steps": 2048})
    assert json.loads((run / runs.SUMMARY_FILE).read_text()) == {"steps": 2048, "resumed_at": [1024, 1536]}
    runs.RunLogger(run, resume_step=1024).close({"steps": 1024})  # back to an earlier checkpoint, no row
    assert json.loads((run / runs.SUMMARY_FILE).read_text())["resumed_at"] == [1024]
