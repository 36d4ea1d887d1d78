"""`--logger wandb`: the same scalars as metrics.csv, the config and the summary in a wandb run,
checked in wandb's offline mode by reading the offline run's own file back (no network)."""
import json

import pytest

from puffer_backend import cli
from puffer_backend.cli import runs
from puffer_backend.pipelines.config import load_config

from .helpers import assert_usage_error, run_cli

pytest.importorskip("wandb")
from .wandb_files import read_offline_run  # noqa: E402


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    (tmp_path / "wb").mkdir()
    return tmp_path / "wb"


def _history(run):
    """The logged rows without wandb's own keys (`_step`, `_runtime`, `_timestamp`)."""
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in run["history"]]


@pytest.mark.parametrize("flags", [["--logger", "tensorboard,wandb"], ["--logger", "wandb", "--logger", "tensorboard"]])
def test_a_run_logs_the_csv_scalars_and_the_config(fake, offline, capsys, flags):
    pytest.importorskip("tensorboard")
    assert cli.main(["train", "--quiet", "--name", "w", "--set", "gamma=0.9", *flags]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("done: ")  # wandb printed nothing on stdout
    run_dir = fake / "runs" / "w"
    config = load_config(run_dir)
    assert config.logger == "tensorboard,wandb" and config.loggers == ("tensorboard", "wandb")
    logged = read_offline_run(offline)
    assert logged["name"] == "w" and logged["project"] == "puffer-backend"
    assert logged["id"] == json.loads((run_dir / "wandb.json").read_text())["id"]
    columns = runs.read_metrics(run_dir)
    rows = _history(logged)
    assert [row["step"] for row in rows] == columns["step"] == [32.0, 64.0, 96.0]
    for key, values in columns.items():
        assert [row[key] for row in rows] == values, key  # exact: float64 in JSON both ways
    assert {k: v for k, v in logged["config"].items() if k != "_wandb"} == json.loads(
        (run_dir / "config.json").read_text())
    summary = json.loads((run_dir / runs.SUMMARY_FILE).read_text())
    assert {k: logged["summary"][k] for k in summary} == summary
    assert list(run_dir.glob("events.out.tfevents.*"))  # tensorboard too


def test_python_logger_and_resume_continue_one_wandb_run(tmp_path, offline):
    """RunLogger(wandb=True) from Python; a resumed logger reuses the run's wandb id."""
    with runs.RunLogger(tmp_path / "r", wandb=True, config={"seed": 3}) as logger:
        logger.record(10, mean_return=1.0, clipfrac=0.5)
        logger.record(20, mean_return=2.0, clipfrac=0.25)
    first = json.loads((tmp_path / "r" / "wandb.json").read_text())
    logged = read_offline_run(offline)
    assert [(r["step"], r["mean_return"], r["clipfrac"]) for r in _history(logged)] == [(10, 1.0, 0.5), (20, 2.0, 0.25)]
    assert logged["config"]["seed"] == 3
    with runs.RunLogger(tmp_path / "r", wandb=True, config={"seed": 3}, resume_step=10) as logger:
        logger.record(20, mean_return=3.0)
    assert json.loads((tmp_path / "r" / "wandb.json").read_text()) == first
    # offline-run-<time>-<id>, with a "-<n>" suffix when a folder of that second exists
    ids = {p.name.split("-")[3] for p in (offline / "wandb").glob("offline-run-*")}
    assert ids == {first["id"]}


def test_no_row_no_wandb_run(tmp_path, offline):
    runs.RunLogger(tmp_path / "r", wandb=True, config={}).close()
    assert not list(offline.glob("wandb/offline-run-*")) and not (tmp_path / "r" / "wandb.json").exists()


def test_a_missing_package_is_one_line_naming_the_extra(tmp_path):
    result = run_cli("train", "--backend", "torch", "--logger", "wandb", "--out", str(tmp_path / "runs"),
                     prelude="import sys; sys.modules['wandb'] = None; sys.modules['torch'] = None")
    assert_usage_error(result, "--logger wandb: needs the wandb package",
                       "pip install 'puffer-backend[wandb]'")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value", ["mlflow", "csv,", ""])
def test_unknown_loggers_are_refused(tmp_path, value):
    result = run_cli("train", "--logger", value, "--out", str(tmp_path / "runs"),
                     prelude="import sys; sys.modules['torch'] = None; sys.modules['jax'] = None")
    assert_usage_error(result, "argument --logger: expected one of csv, tensorboard, wandb, or several joined by "
                       f"commas, received {value!r}")
