"""TrainConfig: the only validation of a run's settings, the update count, and config.json."""
import dataclasses
import json
import math
import re

import numpy as np
import pytest

from puffer_backend.pipelines.config import (CONFIG_FILE, MAX_SEED, TrainConfig, check_positive_int, config_field,
                                             load_config, write_config)
from puffer_backend.spec.errors import BadValueError, bad_value

# (field, a value the field refuses, words the message must hold)
BAD_VALUES = [
    ("backend", "tf", "one of ['torch', 'jax', 'mixed']"),
    ("env_id", "", "a non-empty str"),
    ("env_id", 3, "a non-empty str"),
    ("total_steps", 0, "a positive int"),
    ("num_envs", -1, "a positive int"),
    ("num_envs", True, "a positive int"),
    ("num_steps", 2.0, "a positive int"),
    ("update_epochs", 0, "a positive int"),
    ("hidden_size", "64", "a positive int"),
    ("network", "resnet", "one of ['auto', 'mlp', 'cnn']"),
    ("network", None, "one of ['auto', 'mlp', 'cnn']"),
    ("seed", -1, f"an int in [0, {MAX_SEED}]"),
    ("seed", MAX_SEED + 1, f"an int in [0, {MAX_SEED}]"),
    ("learning_rate", 0.0, "a number > 0"),
    ("learning_rate", -1e-3, "a number > 0"),
    ("learning_rate", math.inf, "a number > 0"),
    ("gamma", 2.0, "a number in [0, 1]"),
    ("gamma", -0.1, "a number in [0, 1]"),
    ("gamma", math.nan, "a number in [0, 1]"),
    ("gae_lambda", 1.5, "a number in [0, 1]"),
    ("clip_coef", 0.0, "a number > 0"),
    ("ent_coef", -0.01, "a number >= 0"),
    ("vf_coef", -0.5, "a number >= 0"),
    ("max_grad_norm", 0.0, "a number > 0"),
    ("target_return", math.nan, "finite, or None"),
    ("target_return", "high", "finite, or None"),
    ("anneal_lr", 1, "a bool"),
    ("norm_adv", "yes", "a bool"),
    ("compile", None, "a bool"),
    ("run_name", 5, "a str or None"),
    ("extra", [], "a dict"),
    ("save_every", -1, "an int >= 0"),
    ("save_every", 1.0, "an int >= 0"),
    ("logger", "mlflow", "one of ['csv', 'tensorboard', 'wandb'], or several joined by commas"),
    ("logger", "csv,,wandb", "one of ['csv', 'tensorboard', 'wandb']"),
    ("logger", ["csv"], "or several joined by commas"),
    ("policy", "no_colon", "package.module:Class"),
    ("policy_kwargs", {"hidden": 8}, "no kwargs without config.policy"),
]


@pytest.mark.parametrize("field, value, words", BAD_VALUES, ids=[f"{f}={v!r}" for f, v, _ in BAD_VALUES])
def test_validate_refuses_every_out_of_range_field(field, value, words):
    config = dataclasses.replace(TrainConfig(), **{field: value})
    with pytest.raises(ValueError) as info:
        config.validate()
    message = str(info.value)
    assert message.startswith(f"config.{field}: expected ") and words in message and message.endswith(repr(value))


@pytest.mark.parametrize("change", [{}, {"gamma": 0.0}, {"gamma": 1}, {"gae_lambda": 1.0}, {"ent_coef": 0},
                                    {"vf_coef": 0.0}, {"seed": MAX_SEED}, {"seed": np.int64(3)},
                                    {"learning_rate": np.float32(1e-3)}, {"target_return": -200},
                                    {"backend": "jax", "env_id": "Pendulum-v1"}, {"num_minibatches": 256}])
def test_validate_accepts_the_edges_of_every_range(change):
    dataclasses.replace(TrainConfig(), **change).validate()


def test_minibatches_must_divide_the_batch_and_hold_two_rows():
    with pytest.raises(ValueError, match=r"config.num_minibatches: expected a divisor of the batch size 512 "
                                         r"\(num_envs x num_steps\), received 3"):
        TrainConfig(num_minibatches=3).validate()
    # Normalizing the advantages of a one-row minibatch divides by an undefined (unbiased) std.
    with pytest.raises(ValueError, match=r"config.num_minibatches: expected at most 256 .*received 512"):
        TrainConfig(num_minibatches=512).validate()
    TrainConfig(num_minibatches=512, norm_adv=False).validate()


@pytest.mark.parametrize("total, world, updates", [(500_000, 1, 976), (512, 1, 1), (100, 1, 1), (4096, 2, 4),
                                                   (5000, 2, 4), (1023, 2, 1)])
def test_num_updates_is_total_steps_in_whole_updates(total, world, updates):
    config = TrainConfig(total_steps=total)
    assert config.steps_per_update(world) == 512 * world
    assert config.num_updates_for(world) == updates
    assert config.num_updates == max(1, total // 512)


def test_check_positive_int():
    assert check_positive_int("episodes", np.int32(4)) == 4 and type(check_positive_int("n", np.int32(4))) is int
    for bad in (0, -2, True, 2.0, "3", None):
        with pytest.raises(ValueError, match=rf"^episodes: expected a positive int, received {re.escape(repr(bad))}$"):
            check_positive_int("episodes", bad)


def test_validate_errors_name_their_field_by_attribute_not_text():
    with pytest.raises(BadValueError) as raised:
        TrainConfig(gamma=2.0).validate()
    assert raised.value.argument == "config.gamma" and config_field(raised.value) == "gamma"
    assert config_field(bad_value("config.no_such_field", "x", "y")) is None
    assert config_field(bad_value("gamma", "x", "y")) is None  # a bare name is not validate's
    assert config_field(ValueError("config.gamma: expected x, received y")) is None  # text is not read


def test_config_round_trip(tmp_path):
    config = TrainConfig(backend="jax", env_id="Pendulum-v1", total_steps=12345, seed=7, target_return=-200.0,
                         learning_rate=3e-4, extra={"note": "x"})
    write_config(tmp_path, config)
    assert json.loads((tmp_path / CONFIG_FILE).read_text()) == config.to_dict()
    assert load_config(tmp_path) == config
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_FILE]  # the temporary file is gone


def test_load_config_ignores_unknown_keys_and_rejects_garbage(tmp_path):
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"backend": "torch", "from_the_future": 1}))
    assert load_config(tmp_path) == TrainConfig(backend="torch")
    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="expected JSON"):
        load_config(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_config(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"gamma": 2}))  # loading validates too
    with pytest.raises(ValueError, match=r"config.gamma: expected a number in \[0, 1\], received 2"):
        load_config(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing")


def test_every_field_has_a_docstring():
    """CleanRL's Args style: `--help` and the docs read each field's meaning from its docstring."""
    import ast
    import inspect

    from puffer_backend.pipelines import config as module

    tree = ast.parse(inspect.getsource(module))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrainConfig"]
    documented = set()
    for field, after in zip(cls.body, cls.body[1:]):
        if isinstance(field, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            documented.add(field.target.id)
    assert documented == {f.name for f in dataclasses.fields(TrainConfig)}


def test_field_docs_are_the_field_docstrings():
    """`train --help` reads the meanings from here: every field, one line each, as written."""
    from puffer_backend.pipelines.config import field_docs

    docs = field_docs()
    assert set(docs) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert docs["gamma"] == "discount factor, in [0, 1]"
    assert all("\n" not in text and "  " not in text for text in docs.values())
