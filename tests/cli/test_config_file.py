"""`train --config FILE` with the fake pipeline: the file's keys reach config.json, flags and
--set win over it, errors name the file and the key (one line, exit 2, before any framework
import), and `train --help` lists every key with its default and meaning."""
import dataclasses
import json

import pytest

from puffer_backend import cli
from puffer_backend.pipelines.config import CONFIG_FILE, TrainConfig, field_docs
from puffer_backend.pipelines.presets import preset

from .helpers import ROOT, assert_usage_error, run_cli

FILE = """\
backend = "jax"
env_id = "Pendulum-v1"
total_steps = 2048
seed = 3
learning_rate = 1e-3
gamma = 0.95
save_every = 2
run_name = "from-file"

[extra]
chunk_updates = 4
"""


def test_the_file_sets_the_run(fake, capsys):
    (fake / "run.toml").write_text(FILE)
    assert cli.main(["train", "--config", "run.toml", "--quiet"]) == 0, capsys.readouterr().err
    saved = json.loads((fake / "runs" / "from-file" / CONFIG_FILE).read_text())
    assert (saved["backend"], saved["env_id"], saved["total_steps"], saved["seed"]) == ("jax", "Pendulum-v1", 2048, 3)
    assert (saved["learning_rate"], saved["gamma"], saved["save_every"]) == (1e-3, 0.95, 2)
    # Pendulum's preset (CleanRL's continuous control) lies under the file: one env.
    assert saved["extra"] == {"chunk_updates": 4} and saved["num_envs"] == preset("Pendulum-v1", "jax")["num_envs"]


def test_flags_and_set_win_over_the_file(fake, capsys):
    (fake / "run.toml").write_text(FILE)
    argv = ["train", "--config", "run.toml", "--quiet", "--seed", "9", "--steps", "4k", "--name", "flagged",
            "--set", "gamma=0.9", "--no-compile", "--save-every", "0"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    saved = json.loads((fake / "runs" / "flagged" / CONFIG_FILE).read_text())
    assert (saved["seed"], saved["total_steps"], saved["gamma"], saved["save_every"]) == (9, 4000, 0.9, 0)
    assert saved["learning_rate"] == 1e-3 and saved["compile"] is False  # untouched keys stay the file's


def test_the_shipped_example_runs_without_tensorboard(fake, capsys, monkeypatch):
    """The README's `train --config examples/cartpole.toml`, as written, with what
    scripts/train.sh installs (the examples extra: no tensorboard)."""
    assert "tensorboard" not in (ROOT / "scripts" / "train.sh").read_text()
    monkeypatch.setitem(__import__("sys").modules, "tensorboard", None)  # not installed
    argv = ["train", "--config", str(ROOT / "examples" / "cartpole.toml"), "--quiet", "--name", "example"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    saved = json.loads((fake / "runs" / "example" / CONFIG_FILE).read_text())
    assert saved["target_return"] == 475.0 and saved["backend"] == "jax" and saved["logger"] == "csv"


def test_set_extra_keys_merge_with_the_files_extra_table(fake, capsys):
    (fake / "run.toml").write_text(FILE)
    argv = ["train", "--config", "run.toml", "--quiet", "--name", "extra", "--set", "extra.chunk_updates=2",
            "--set", "extra.fake=ok", "--set", "extra.note=kept as text"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    saved = json.loads((fake / "runs" / "extra" / CONFIG_FILE).read_text())
    assert saved["extra"] == {"chunk_updates": 2, "fake": "ok", "note": "kept as text"}


@pytest.mark.parametrize("text, fragments", [
    ("lr = 0.1\n", ["run.toml: lr: expected a TrainConfig key", "learning_rate", "unknown key"]),
    ("gamma = 2.0\n", ["run.toml: gamma: expected a number in [0, 1], received 2.0"]),
    ('gamma = "high"\n', ["run.toml: gamma: expected a number, received 'high'"]),
    ("num_envs = 2.5\n", ["run.toml: num_envs: expected an integer, received 2.5"]),
    ("num_minibatches = 3\n", ["run.toml: num_minibatches: expected a divisor of the batch size 512"]),
    ('env_id = "Nope-v0"\n', ["run.toml: env_id: expected a gymnax id for backend mixed", "'Nope-v0'"]),
    ("total_steps = \n", ["run.toml: expected TOML, received a file that fails to parse"]),
])
def test_bad_files_give_one_line_and_exit_2(tmp_path, text, fragments):
    (tmp_path / "run.toml").write_text(text)
    result = run_cli("train", "--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "runs"),
                     prelude="import sys; sys.modules['torch'] = None; sys.modules['jax'] = None")
    assert_usage_error(result, *[f.replace("run.toml", str(tmp_path / "run.toml")) for f in fragments])
    assert not (tmp_path / "runs").exists()


def test_a_set_over_a_file_value_is_blamed_on_the_set(tmp_path):
    (tmp_path / "run.toml").write_text("num_envs = 3\n")
    result = run_cli("train", "--config", str(tmp_path / "run.toml"), "--set", "num_minibatches=5",
                     prelude="import sys; sys.modules['torch'] = None; sys.modules['jax'] = None")
    assert_usage_error(result, "--set num_minibatches: expected a divisor of the batch size 384")


def test_a_missing_file(tmp_path):
    result = run_cli("train", "--config", str(tmp_path / "none.toml"))
    assert_usage_error(result, "--config: expected a TOML file", "no such file")


def test_help_lists_every_key_with_its_default_and_meaning(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    for field in dataclasses.fields(TrainConfig):
        assert f" {field.name} = " in text, field.name
        assert field_docs()[field.name] in text, field.name
    assert 'backend = "mixed"' in text and "gamma = 0.99" in text and "anneal_lr = true" in text
    assert "target_return = (unset)" in text and "extra = {}" in text
