"""The command's arguments: every error path in a subprocess (one line, exit 2, no framework
imported), the value forms users type, the entry points and --help."""
import argparse
import subprocess
import sys

import pytest

from puffer_backend import cli
from puffer_backend.cli import parser as cli_parser

from .helpers import ROOT, assert_usage_error, run_cli

# --- errors: one line on stderr, exit 2, nothing imported or written ---------------------------------

ERROR_CASES = [
    (["train", "--steps", "0"], ["--steps", "positive integer", "'0'"]),
    (["train", "--steps", "-5"], ["--steps", "'-5'"]),
    (["train", "--steps", "lots"], ["--steps", "'lots'"]),
    (["train", "--steps", "1.5k5"], ["--steps", "'1.5k5'"]),
    (["train", "--steps", "2.5"], ["--steps", "'2.5'"]),
    (["--num-envs", "0"], ["--num-envs", "positive integer"]),
    (["train", "--seed", "-1"], ["--seed", "'-1'"]),
    (["train", "--env", "Nope-v0"], ["--env", "CartPole-v1", "'Nope-v0'"]),
    (["train", "--backend", "jax", "--env", "Blackjack-v1"], ["--env", "backend jax", "--backend torch"]),
    (["train", "--backend", "tensorflow"], ["--backend", "'tensorflow'"]),
    (["train", "--name", "a/b"], ["--name", "'a/b'"]),
    (["train", "--out", "tests", "--name", "pipelines"], ["--name", "already exists"]),
    (["train", "--out", "pyproject.toml"], ["--out", "'pyproject.toml'", "file"]),
    (["train", "--set", "learning_rate"], ["--set", "KEY=VALUE"]),
    (["train", "--set", "lr=0.1"], ["--set", "learning_rate", "'lr'"]),
    (["train", "--set", "seed=3"], ["--set", "--seed"]),
    (["train", "--set", "extra.=3"], ["--set: expected extra.NAME=VALUE, received 'extra.=3'"]),
    (["train", "--set", "extra=3"], ["--set: extra cannot be set here"]),
    (["train", "--set", "gamma=high"], ["--set gamma", "'high'"]),
    (["train", "--set", "num_minibatches=3"], ["num_minibatches", "512", "3"]),
    (["train", "--set", "gamma=2"], ["--set gamma: expected a number in [0, 1], received 2.0"]),
    (["train", "--set", "gae_lambda=-0.5"], ["--set gae_lambda: expected a number in [0, 1]"]),
    (["train", "--set", "learning_rate=-1e-3"], ["--set learning_rate: expected a number > 0"]),
    (["train", "--set", "ent_coef=-1"], ["--set ent_coef: expected a number >= 0"]),
    (["train", "--set", "num_steps=0"], ["--set num_steps: expected a positive int, received 0"]),
    (["train", "--seed", "4294967296"], ["--seed: expected an int in [0, 4294967295], received 4294967296"]),
    (["train", "--target-return", "nan"], ["--target-return", "'nan'"]),
    (["train", "--device", "gpu"], ["--device: expected one of ['auto', 'cpu', 'cuda'] or 'cuda:N'", "'gpu'"]),
    (["train", "--device", "cuda:-1"], ["--device: expected", "'cuda:-1'"]),
    (["train", "--backend", "jax", "--device", "cpu"], ["--device: expected 'auto' for backend jax", "'cpu'"]),
    (["train", "--set", "device=cpu"], ["--set", "--device"]),
    (["train", "--bogus"], ["--bogus"]),
    (["fly"], ["'fly'"]),
    (["eval"], ["RUN"]),
    (["eval", "does-not-exist"], ["RUN", "'does-not-exist'", "no such folder"]),
    (["eval", "tests"], ["RUN", "config.json"]),
    (["eval", "tests", "--episodes", "0"], ["--episodes", "'0'"]),
    (["compare"], ["RUN"]),
    (["compare", "does-not-exist"], ["RUN", "'does-not-exist'"]),
    (["compare", "tests"], ["RUN", "metrics.csv"]),
]


@pytest.mark.parametrize("argv, fragments", ERROR_CASES, ids=[" ".join(a) for a, _ in ERROR_CASES])
def test_bad_arguments_give_one_line_and_exit_2(argv, fragments):
    # Blocking torch and jax proves the checks run before any framework import.
    result = run_cli(*argv, prelude="import sys; sys.modules['torch'] = None; sys.modules['jax'] = None")
    assert_usage_error(result, *fragments)


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_a_gpu_this_machine_lacks_is_one_line_before_any_run_folder(backend, tmp_path):
    """Decided once torch is imported (and JAX for mixed), before the run folder exists."""
    pytest.importorskip("torch")
    pytest.importorskip("gymnasium" if backend == "torch" else "gymnax")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_cli("train", "--backend", backend, "--device", "cuda", "--steps", "256", "--out", str(tmp_path))
    assert_usage_error(result, "--device: expected 'cpu' or 'auto' on this machine (torch sees no CUDA GPU",
                       "received 'cuda'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, expected", [("500000", 500_000), ("500_000", 500_000), ("5e5", 500_000),
                                           ("2.5e5", 250_000), ("500k", 500_000), ("0.5M", 500_000),
                                           ("1M", 1_000_000), ("1536", 1536)])
def test_step_counts_in_the_forms_users_type(text, expected):
    assert cli_parser.positive_int(text) == expected


@pytest.mark.parametrize("text", ["0", "-5", "2.5", "1e-3", "0.0001k", "nan", "inf", "k", "", "5 e5"])
def test_step_counts_that_are_not_positive_whole_numbers(text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        cli_parser.positive_int(text)


@pytest.mark.parametrize("backend, module", [("torch", "torch"), ("jax", "jax"), ("mixed", "jax")])
def test_missing_framework(backend, module):
    result = run_cli("train", "--backend", backend, prelude=f"import sys; sys.modules[{module!r}] = None")
    assert_usage_error(result, f"backend {backend}", f"not installed: {module}", "pip install")


def test_console_script_and_module_entry_points():
    result = subprocess.run([sys.executable, "-m", "puffer_backend", "--steps", "0"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert_usage_error(result, "--steps")
    result = subprocess.run([sys.executable, "-m", "puffer_backend", "--version"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().startswith("puffer-backend ")


def test_help_lists_commands_and_envs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--backend", "--steps", "--num-envs", "--out", "--name", "--compile", "--quiet", "Blackjack-v1"):
        assert word in text




@pytest.mark.parametrize("text, expected", [
    ("extra.chunk_updates=8", {"chunk_updates": 8}), ("extra.scale=0.5", {"scale": 0.5}),
    ("extra.flag=true", {"flag": True}), ("extra.mode=fast", {"mode": "fast"}),
    ('extra.name="a b"', {"name": "a b"}), ("extra.sizes=[1, 2]", {"sizes": [1, 2]}),
    ("extra.note=3 apples", {"note": "3 apples"}),  # not a TOML value: the text itself
])
def test_set_extra_reads_toml_values(text, expected):
    assert cli_parser.parse_override(text) == ("extra", expected)
