"""`--policy package.module:Class` with `--set policy.KEY=VALUE`: recorded in config.json, so
that eval, eval --video and --resume rebuild the policy without further flags; a policy that
cannot be imported or built is one line, exit 2, before any run folder."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from puffer_backend.pipelines import TrainConfig
from puffer_backend.pipelines.checkpoint import load_checkpoint
from puffer_backend.pipelines.named_policy import build_policy, import_policy

from .helpers import ROOT, assert_usage_error
from .test_real_pipelines import _pipeline_ready

POLICIES = '''
import flax.linen as fnn
import torch
from torch import nn


class TorchPolicy(nn.Module):
    """For any env with Discrete actions: its constructor names obs_width and action_spec."""
    def __init__(self, obs_width, action_spec, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_width, hidden), nn.Tanh())
        self.logits = nn.Linear(hidden, action_spec.n)
        self.value = nn.Linear(hidden, 1)

    def forward(self, obs):
        hidden = self.trunk(obs.float())
        return self.logits(hidden), self.value(hidden)


class FlaxPolicy(fnn.Module):
    action_spec: object
    hidden: int = 64

    @fnn.compact
    def __call__(self, obs):
        hidden = fnn.tanh(fnn.Dense(self.hidden, name="trunk")(obs))
        return fnn.Dense(self.action_spec.n, name="logits")(hidden), fnn.Dense(1, name="value")(hidden)


class Plain:
    def __init__(self, width=3):
        self.width = width
'''


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "my_policies.py").write_text(POLICIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _cli(folder, *args):
    env = {**{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"},
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "puffer_backend", *args], capture_output=True, text=True,
                          cwd=folder, env=env, timeout=600)


def _ok(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_build_policy_passes_what_the_constructor_names(folder):
    pytest.importorskip("flax")
    from puffer_backend.spec import Discrete

    config = TrainConfig(policy="my_policies:Plain", policy_kwargs={"width": 5})
    assert build_policy(config, obs_width=4, action_spec=Discrete(2)).width == 5  # names neither
    torch_policy = build_policy(TrainConfig(policy="my_policies:TorchPolicy", policy_kwargs={"hidden": 7}),
                                obs_width=4, action_spec=Discrete(3), observation_layout=None)
    assert torch_policy.trunk[0].weight.shape == (7, 4) and torch_policy.logits.weight.shape == (3, 7)
    with pytest.raises(ValueError, match=r"config.policy_kwargs: expected keyword arguments that "
                                         r"my_policies:Plain accepts, received \{'depth': 2\}"):
        build_policy(TrainConfig(policy="my_policies:Plain", policy_kwargs={"depth": 2}))
    with pytest.raises(ValueError, match=r"config.policy: expected package.module:Class naming a class, "
                                         r"received 'my_policies:fnn.Dense.__call__'"):
        import_policy("my_policies:fnn.Dense.__call__")


@pytest.mark.parametrize("fields, message", [
    ({"policy": "no_colon"}, "config.policy: expected package.module:Class, a policy class named by import path, "
                             "received 'no_colon'"),
    ({"policy": "a:"}, "config.policy: expected package.module:Class"),
    ({"policy_kwargs": {"hidden": 3}}, "config.policy_kwargs: expected no kwargs without config.policy"),
    ({"policy": "a:B", "policy_kwargs": [1]}, "config.policy_kwargs: expected a dict of keyword arguments"),
])
def test_config_checks_the_policy_fields(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields).validate()


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_torch_policy_by_name_trains_evaluates_films_and_resumes(folder, backend):
    if not _pipeline_ready(backend):
        pytest.skip(f"the {backend} pipeline or its framework is not installed")
    _ok(_cli(folder, "train", "--backend", backend, "--steps", "1024", "--quiet", "--name", "t",
             "--policy", "my_policies:TorchPolicy", "--set", "policy.hidden=32", "--set", "policy.hidden=16"))
    run = folder / "runs" / "t"
    saved = json.loads((run / "config.json").read_text())
    assert saved["policy"] == "my_policies:TorchPolicy" and saved["policy_kwargs"] == {"hidden": 16}
    _, checkpoint = load_checkpoint(run, backend)
    shapes = {name: np.shape(value) for name, value in checkpoint.params.items()}
    assert shapes["trunk.0.weight"] == (16, 4) and shapes["logits.weight"] == (2, 16)  # CartPole: 4 wide, 2 actions
    assert "mean_return" in _ok(_cli(folder, "eval", str(run), "--episodes", "2")).stdout
    assert "(" in _ok(_cli(folder, "eval", str(run), "--episodes", "1", "--video", str(folder / "t.gif"))).stdout
    assert (folder / "t.gif").stat().st_size > 0
    _ok(_cli(folder, "train", "--resume", str(run), "--steps", "2048", "--quiet"))
    assert load_checkpoint(run, backend)[1].step == 2048


def test_flax_policy_by_name_trains_and_evaluates(folder):
    if not _pipeline_ready("jax"):
        pytest.skip("the jax pipeline or its framework is not installed")
    pytest.importorskip("flax")
    _ok(_cli(folder, "train", "--backend", "jax", "--steps", "1024", "--quiet", "--name", "j",
             "--policy", "my_policies:FlaxPolicy", "--set", "policy.hidden=8"))
    run = folder / "runs" / "j"
    _, checkpoint = load_checkpoint(run, "jax")
    assert np.shape(checkpoint.params["params/trunk/kernel"]) == (4, 8)
    assert np.shape(checkpoint.params["params/logits/kernel"]) == (8, 2)
    assert "mean_return" in _ok(_cli(folder, "eval", str(run), "--episodes", "2")).stdout


@pytest.mark.parametrize("args, fragments", [
    (["--policy", "nowhere_module:Policy"], ["--policy: expected package.module:Class, an importable policy class, "
                                             "received 'nowhere_module:Policy' (ModuleNotFoundError"]),
    (["--policy", "my_policies:Missing"], ["--policy: expected", "(AttributeError"]),
    (["--policy", "my_policies"], ["--policy: expected package.module:Class, a policy class named by import path"]),
    (["--set", "policy.hidden=8"], ["--set policy.hidden: expected no kwargs without config.policy"]),
    (["--policy", "my_policies:TorchPolicy", "--set", "policy.depth=2"],
     ["--set policy.KEY: expected keyword arguments that my_policies:TorchPolicy accepts, received {'depth': 2}"]),
])
def test_a_policy_that_cannot_be_had_is_one_line_before_any_run_folder(folder, args, fragments):
    if not _pipeline_ready("torch"):
        pytest.skip("the torch pipeline or its framework is not installed")
    result = _cli(folder, "train", "--backend", "torch", "--steps", "512", "--quiet", *args)
    assert_usage_error(result, *fragments)
    assert not (folder / "runs").exists() or not list((folder / "runs").iterdir())


def test_policy_kwargs_merge_key_by_key_over_a_config_file(fake, folder, capsys):
    """A file's [policy_kwargs] table, then --set policy.KEY=VALUE (TOML values), key by key."""
    pytest.importorskip("flax")
    from puffer_backend import cli

    (folder / "run.toml").write_text('policy = "my_policies:Plain"\n[policy_kwargs]\nwidth = 8\nname = "a"\n')
    code = cli.main(["train", "--quiet", "--name", "merged", "--config", str(folder / "run.toml"),
                     "--set", "policy.width=3", "--set", "policy.scale=0.5", "--set", "policy.tags=[1, 2]"])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((folder / "runs" / "merged" / "config.json").read_text())
    assert saved["policy"] == "my_policies:Plain"
    assert saved["policy_kwargs"] == {"width": 3, "name": "a", "scale": 0.5, "tags": [1, 2]}
