"""Config files: TOML keys are TrainConfig fields, layered defaults < env preset < file <
overrides; a bad key or value names the file and the key; the shipped example loads."""
import dataclasses
import sys
from pathlib import Path

import pytest

from puffer_backend.pipelines import config_file
from puffer_backend.pipelines.config import TrainConfig
from puffer_backend.pipelines.presets import preset
from puffer_backend.pipelines.config_file import (Setting, build_config, layered_config, read_config_file,
                                                  relabel_error)
from puffer_backend.spec.errors import BadValueError, bad_value

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cartpole.toml"


def _write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_example_file_loads_with_every_key_it_sets():
    with open(EXAMPLE, "rb") as handle:
        raw = tomllib.load(handle)
    config = build_config(EXAMPLE)
    assert raw, "the example sets keys"
    for key, value in raw.items():
        assert getattr(config, key) == value, key
    untouched = {f.name for f in dataclasses.fields(TrainConfig)} - set(raw)
    for key in untouched:
        assert getattr(config, key) == getattr(TrainConfig(), key), key


def test_layers_each_win_over_the_ones_before(tmp_path, monkeypatch):
    calls = []

    def preset(backend, env_id):
        calls.append((backend, env_id))
        return {"learning_rate": 1e-3, "gamma": 0.9, "num_steps": 64}

    monkeypatch.setattr(config_file, "env_preset", preset)
    path = _write(tmp_path, 'backend = "jax"\nenv_id = "Pendulum-v1"\ngamma = 0.95\nnum_steps = 32\n')
    config = build_config(path, {"num_steps": 16})
    assert calls == [("jax", "Pendulum-v1")]  # the preset of the backend and env the layers choose
    assert (config.learning_rate, config.gamma, config.num_steps) == (1e-3, 0.95, 16)
    assert config.num_envs == TrainConfig().num_envs
    assert build_config(path, {"num_steps": 16}, preset=False).learning_rate == TrainConfig().learning_rate


def test_the_env_layer_is_the_envs_preset():
    import gymnasium

    # CartPole: only its target (gymnasium's reward_threshold); Pendulum: CleanRL's continuous control.
    assert config_file.env_preset("mixed", "CartPole-v1") == {
        "target_return": float(gymnasium.registry["CartPole-v1"].reward_threshold)}
    pendulum = config_file.env_preset("jax", "Pendulum-v1")
    assert pendulum == preset("Pendulum-v1", "jax") and pendulum["norm_obs"] and pendulum["num_envs"] == 1
    assert build_config() == TrainConfig(target_return=475.0)
    assert build_config(preset=False) == TrainConfig()
    # A file or an override wins over the preset, None included (the early stop turned off).
    assert build_config(overrides={"target_return": None}).target_return is None


def test_values_take_their_fields_types(tmp_path):
    path = _write(tmp_path, 'learning_rate = 1\ntarget_return = "none"\nanneal_lr = false\n'
                            'run_name = "x"\n[extra]\nchunk_updates = 8\n')
    fields = read_config_file(path)
    assert fields == {"learning_rate": 1.0, "target_return": None, "anneal_lr": False, "run_name": "x",
                      "extra": {"chunk_updates": 8}}
    assert type(fields["learning_rate"]) is float
    assert build_config(_write(tmp_path, "target_return = 475\n", "t.toml")).target_return == 475.0


@pytest.mark.parametrize("text, words", [
    ("lr = 0.1\n", ["run.toml: lr: expected a TrainConfig key", "learning_rate", "received an unknown key"]),
    ('gamma = "high"\n', ["run.toml: gamma: expected a number, received 'high'"]),
    ("num_envs = 4.0\n", ["run.toml: num_envs: expected an integer, received 4.0"]),
    ("num_envs = true\n", ["run.toml: num_envs: expected an integer, received True"]),
    ('anneal_lr = "yes"\n', ["run.toml: anneal_lr: expected true or false, received 'yes'"]),
    ("env_id = 3\n", ["run.toml: env_id: expected a string, received 3"]),
    ("extra = 3\n", ["run.toml: extra: expected a table, received 3"]),
    ("gamma = 2.0\n", ["run.toml: gamma: expected a number in [0, 1], received 2.0"]),
    ("num_envs = 0\n", ["run.toml: num_envs: expected a positive int, received 0"]),
    ('backend = "tf"\n', ["run.toml: backend: expected one of ['torch', 'jax', 'mixed'], received 'tf'"]),
    ("num_minibatches = 3\n", ["run.toml: num_minibatches: expected a divisor of the batch size 512"]),
    ("gamma = \n", ["run.toml: expected TOML, received a file that fails to parse"]),
])
def test_bad_keys_and_values_name_the_file_and_the_key(tmp_path, text, words):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        build_config(path)
    message = str(info.value)
    assert message.startswith(str(path.parent)) and "\n" not in message
    for word in words:
        assert word.replace("run.toml", str(path)) in message, message


def test_an_override_is_blamed_not_the_file(tmp_path):
    path = _write(tmp_path, "num_envs = 4\n")
    with pytest.raises(ValueError, match=r"^config.num_minibatches: expected a divisor of the batch size 512"):
        build_config(path, {"num_minibatches": 3})
    with pytest.raises(ValueError, match="config.lr: expected a TrainConfig key"):
        build_config(None, {"lr": 0.1})


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_config_file("no-such-file.toml")


def test_cross_field_errors_name_the_last_layer_that_set_the_field():
    settings = [Setting("file.toml: num_envs", "num_envs", 3), Setting("--set num_minibatches", "num_minibatches", 5)]
    with pytest.raises(ValueError, match=r"^--set num_minibatches: expected a divisor of the batch size 384"):
        layered_config(settings)
    untouched = bad_value("config.gamma", "a number in [0, 1]", "2")
    assert relabel_error(untouched, settings) is untouched  # no setting claims gamma
    renamed = relabel_error(bad_value("config.num_envs", "x", "3"), settings)
    assert type(renamed) is BadValueError and str(renamed) == "file.toml: num_envs: expected x, received 3"
    # decided by the error's type and its `argument`, not its text: a plain ValueError is left alone
    lookalike = ValueError("config.num_envs: expected x, received 3")
    assert relabel_error(lookalike, settings) is lookalike


def test_the_example_in_the_docs_is_the_shipped_file():
    import re

    docs = (EXAMPLE.parents[1] / "docs" / "cli.md").read_text()
    (block,) = re.findall(r"^```toml\n(.*?)^```", docs, re.S | re.M)
    with open(EXAMPLE, "rb") as handle:
        assert tomllib.loads(block) == tomllib.load(handle)


def test_extra_tables_merge_key_by_key(tmp_path):
    """A file's [extra] table and an override of one extra key: both keys stay (`--set
    extra.NAME=VALUE` is such an override), the later layer winning per key."""
    path = _write(tmp_path, 'backend = "jax"\n[extra]\nchunk_updates = 16\nkeep = "me"\n')
    config = build_config(path, {"extra": {"chunk_updates": 4, "new": True}}, preset=False)
    assert config.extra == {"chunk_updates": 4, "keep": "me", "new": True}
    base = TrainConfig(backend="jax", extra={"from_run": 1})
    assert layered_config([Setting("--set extra.x", "extra", {"x": 2})], base=base, preset=False).extra == {
        "from_run": 1, "x": 2}
    assert base.extra == {"from_run": 1}  # the base config is not changed
