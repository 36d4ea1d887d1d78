"""`--logger tensorboard`: event files beside metrics.csv holding the same scalars, read back
with TensorBoard's own reader; a resumed run's events continue without the rows dropped from
metrics.csv; a missing package is one line and exit 2 before training."""
import math

import numpy as np
import pytest

from puffer_backend import cli
from puffer_backend.cli import runs

from .helpers import assert_usage_error, run_cli

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_events(run_dir) -> dict:
    """{tag: [(step, value)]} of every scalar in a run folder's event files, as TensorBoard shows them."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})  # 0: keep every event
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def assert_events_match_metrics(run_dir):
    """Every metrics.csv column but step is a tag with one event per row, at the row's step,
    holding the row's value (as float32, TensorBoard's scalar type)."""
    columns = runs.read_metrics(run_dir)
    events = read_events(run_dir)
    assert set(events) == set(columns) - {"step"}
    for tag, points in events.items():
        assert [step for step, _ in points] == [int(s) for s in columns["step"]], tag
        want = np.asarray(columns[tag], dtype=np.float32)
        got = np.asarray([value for _, value in points], dtype=np.float32)
        np.testing.assert_array_equal(got, want, err_msg=tag)  # NaN where the csv holds NaN


def test_events_hold_the_csv_scalars(fake, capsys):
    assert cli.main(["train", "--quiet", "--name", "tb", "--logger", "tensorboard"]) == 0, capsys.readouterr().err
    run = fake / "runs" / "tb"
    assert list(run.glob("events.out.tfevents.*"))
    assert_events_match_metrics(run)
    assert len(runs.read_metrics(run)["step"]) == 3


def test_a_resumed_logger_drops_the_rows_after_the_checkpoint(tmp_path):
    """A run saved at step 20, wrote rows up to 40, and stopped; resumed from step 20, the
    rows after it are rewritten: metrics.csv and TensorBoard both show the resumed values."""
    def row(step, value):
        return dict(mean_return=value, episodes=step / 10, sps=100.0, policy_loss=-value, value_loss=value,
                    entropy=0.5, approx_kl=0.01, clipfrac=0.1, wall_time=step / 100)

    with runs.RunLogger(tmp_path, tensorboard=True) as first:
        for step in (10, 20, 30, 40):
            first.record(step, **row(step, 1.0))
        first.record(50, **row(50, math.nan))
    with runs.RunLogger(tmp_path, tensorboard=True, resume_step=20) as resumed:
        assert [r["step"] for r in resumed.records] == [10, 20]  # the kept rows, for the plot and summary
        for step in (30, 40):
            resumed.record(step, **row(step, 2.0))
    columns = runs.read_metrics(tmp_path)
    assert columns["step"] == [10, 20, 30, 40] and columns["mean_return"] == [1.0, 1.0, 2.0, 2.0]
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2
    assert_events_match_metrics(tmp_path)


def test_a_missing_package_is_one_line_before_training(tmp_path):
    result = run_cli("train", "--backend", "torch", "--logger", "tensorboard", "--out", str(tmp_path / "runs"),
                     prelude="import sys; sys.modules['tensorboard'] = None; sys.modules['torch'] = None")
    # torch blocked too: refused before the pipeline (and torch) is imported
    assert result.returncode == 2 and "not installed" in result.stderr
    assert_usage_error(result, "--logger tensorboard: needs the tensorboard package",
                       "pip install 'puffer-backend[tensorboard]'")
    assert not (tmp_path / "runs").exists()
