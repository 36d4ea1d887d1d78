"""The `puffer-backend` command: every error path in a subprocess, train/eval/compare with a fake
pipeline module (fast, framework-free), and a short real run per pipeline that exists."""
import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from puffer_backend import cli
from puffer_backend.cli import compare as cli_compare, parser as cli_parser
from puffer_backend.cli import runs
from puffer_backend.pipelines import METRIC_KEYS, PIPELINES, envs
from puffer_backend.pipelines.config import CONFIG_FILE, load_config

ROOT = Path(__file__).resolve().parents[2]

# A pipeline with the real interface: records a few rows, saves a checkpoint, evaluates from it.
FAKE_PIPELINE = textwrap.dedent('''
    import json, os
    from pathlib import Path

    def train(config, logger):
        behaviour = config.extra.get("fake", "ok")
        seen = json.loads((Path(logger.run_dir) / "config.json").read_text()) if os.environ.get("FAKE_MAIN", "1") == "1" else None
        if behaviour == "reject":
            raise ValueError("num_envs: expected a multiple of the device count 8, received 4")
        if behaviour == "bug":
            raise ValueError("something internal broke")
        steps = 0
        for update in range(1, 4):
            steps = update * config.num_envs * 8
            logger.record(steps, mean_return=10.0 * update + config.seed, episodes=20 * update, sps=1000.0 * update,
                          policy_loss=-0.01 * update, value_loss=0.5, entropy=0.69, approx_kl=0.001)
            if behaviour == "interrupt" and update == 2:
                raise KeyboardInterrupt
        (Path(logger.run_dir) / "fake.ckpt").write_text(json.dumps({"score": 30.0 + config.seed, "seen": seen}))
        return {"steps": steps, "sps": 3000.0, "mean_return": 30.0 + config.seed}

    def evaluate(run_dir, episodes=20, seed=0):
        data = json.loads((Path(run_dir) / "fake.ckpt").read_text())
        return data["score"] + episodes / 1000 + seed / 100
''')


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Points every backend at the fake pipeline and lets it run without torch/JAX installed."""
    (tmp_path / "fake_pipeline_mod.py").write_text(FAKE_PIPELINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    for backend in PIPELINES:
        monkeypatch.setitem(PIPELINES, backend, "fake_pipeline_mod")
        monkeypatch.setitem(envs.REQUIRED_MODULES, backend, ())
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_cli(*args, env=None, prelude=""):
    """The command in a fresh interpreter, as a user runs it (prelude: code run first)."""
    code = f"{prelude}\nimport sys\nfrom puffer_backend.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def _assert_usage_error(result, *fragments):
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


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
    (["train", "--set", "gamma=high"], ["--set gamma", "'high'"]),
    (["train", "--set", "num_minibatches=3"], ["num_minibatches", "512", "3"]),
    (["train", "--target-return", "nan"], ["--target-return", "'nan'"]),
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
    result = _run_cli(*argv, prelude="import sys; sys.modules['torch'] = None; sys.modules['jax'] = None")
    _assert_usage_error(result, *fragments)


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
    result = _run_cli("train", "--backend", backend, prelude=f"import sys; sys.modules[{module!r}] = None")
    _assert_usage_error(result, f"backend {backend}", f"not installed: {module}", "pip install")


def test_console_script_and_module_entry_points():
    result = subprocess.run([sys.executable, "-m", "puffer_backend", "--steps", "0"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    _assert_usage_error(result, "--steps")
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


# --- train / eval / compare with the fake pipeline ---------------------------------------------------

def test_train_writes_a_run_folder(fake, capsys):
    code = cli.main(["train", "--backend", "jax", "--env", "Pendulum-v1", "--steps", "2k", "--seed", "2",
                     "--num-envs", "2", "--out", "out", "--name", "r1", "--set", "learning_rate=3e-4",
                     "--set", "anneal_lr=false", "--target-return", "-200"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    run = fake / "out" / "r1"
    config = json.loads((run / CONFIG_FILE).read_text())
    assert config["backend"] == "jax" and config["env_id"] == "Pendulum-v1" and config["total_steps"] == 2000
    assert config["seed"] == 2 and config["num_envs"] == 2 and config["run_name"] == "r1"
    assert config["learning_rate"] == 3e-4 and config["anneal_lr"] is False and config["target_return"] == -200
    # config.json existed when train started: the fake read it back into its checkpoint
    assert json.loads((run / "fake.ckpt").read_text())["seen"] == config
    metrics = runs.read_metrics(run)
    assert metrics["step"] == [16.0, 32.0, 48.0]
    assert metrics["mean_return"] == [12.0, 22.0, 32.0]
    assert list(metrics) == ["step", *METRIC_KEYS, "wall_time"]
    assert (run / runs.CURVE_FILE).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run / runs.SUMMARY_FILE).read_text())["mean_return"] == 32.0
    # stdout: the summary line only; stderr: start line and plain progress (capsys is no terminal)
    out_lines = captured.out.strip().splitlines()
    assert len(out_lines) == 1 and out_lines[0].startswith("done: steps 48  sps 3000  mean_return 32.0")
    assert out_lines[0].endswith(f"run {Path('out') / 'r1'}")
    assert "step 16/1792  sps 1000  mean_return 12.0" in captured.err.splitlines()  # 7 whole updates of 256
    assert "(2000 rounded to whole updates of 256)" in captured.err


@pytest.mark.parametrize("target, expected", [(20.0, "target reached at step 64"), (1000.0, "target not reached")])
def test_target_return_is_reported(fake, capsys, target, expected):
    assert cli.main(["--quiet", "--name", "t", "--target-return", str(target)]) == 0
    assert expected in capsys.readouterr().out  # fake mean returns: 10, 20, 30 at steps 32, 64, 96
    summary = json.loads((fake / "runs" / "t" / runs.SUMMARY_FILE).read_text())
    assert summary["steps_to_target"] == (64 if target == 20.0 else None)


def test_bare_command_trains_with_defaults(fake, capsys):
    assert cli.main(["--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet: no start line, no progress
    (run,) = (fake / "runs").iterdir()
    assert run.name.startswith("mixed-CartPole-v1-s0-")
    config = load_config(run)
    assert (config.backend, config.env_id, config.total_steps, config.num_envs) == ("mixed", "CartPole-v1", 500000, 4)


def test_existing_name_is_never_overwritten(fake, capsys):
    assert cli.main(["--quiet", "--name", "same"]) == 0
    before = (fake / "runs" / "same" / runs.METRICS_FILE).read_text()
    capsys.readouterr()
    assert cli.main(["--quiet", "--name", "same", "--seed", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--name" in err and "already exists" in err
    assert (fake / "runs" / "same" / runs.METRICS_FILE).read_text() == before
    assert load_config(fake / "runs" / "same").seed == 0


def test_default_names_never_collide(fake, capsys):
    for _ in range(3):  # same second, same settings
        assert cli.main(["--quiet"]) == 0
    assert len(list((fake / "runs").iterdir())) == 3


def test_eval_reports_the_pipelines_mean_return(fake, capsys):
    assert cli.main(["--quiet", "--name", "r", "--seed", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["eval", "runs/r", "--episodes", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"mean_return {31.0 + 0.005 + 0.03:.2f}  episodes 5  run runs/r"


def test_eval_without_checkpoint_or_with_bad_config(fake, capsys):
    assert cli.main(["--quiet", "--name", "r"]) == 0
    (fake / "runs" / "r" / "fake.ckpt").unlink()
    capsys.readouterr()
    assert cli.main(["eval", "runs/r"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    (fake / "runs" / "r" / CONFIG_FILE).write_text("{broken")
    assert cli.main(["eval", "runs/r"]) == 2
    assert "expected JSON" in capsys.readouterr().err
    (fake / "runs" / "r" / CONFIG_FILE).write_text(json.dumps({"backend": "tf"}))
    assert cli.main(["eval", "runs/r"]) == 2
    assert "'tf'" in capsys.readouterr().err


def test_eval_with_the_framework_missing(fake, capsys, monkeypatch):
    assert cli.main(["--quiet", "--name", "r"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(envs.REQUIRED_MODULES, "mixed", ("no_such_framework_xyz",))
    assert cli.main(["eval", "runs/r"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not installed: no_such_framework_xyz" in err


def test_compile_with_jax_is_noted(fake, capsys):
    assert cli.main(["--backend", "jax", "--compile", "--quiet"]) == 0
    assert "--compile applies to the torch policy" in capsys.readouterr().err


def test_compare_overlays_runs(fake, capsys):
    mpimg = pytest.importorskip("matplotlib.image")
    for seed in (0, 1):
        assert cli.main(["--quiet", "--name", f"s{seed}", "--seed", str(seed)]) == 0
    capsys.readouterr()
    assert cli.main(["compare", "runs/s0", "runs/s1", "--out", "plots/both.png"]) == 0
    assert "plots/both.png" in capsys.readouterr().out
    image = mpimg.imread(fake / "plots" / "both.png")
    assert image.ndim == 3 and image.std() > 0
    assert cli.main(["compare", "runs/s0", "--metric", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--metric" in err and "'nope'" in err


def test_run_names_disambiguate_same_folder_names(tmp_path):
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    assert cli_compare.run_names([a, b, tmp_path / "z"]) == ["x/run", "y/run", "z"]


def test_pipeline_rejecting_its_config_is_a_usage_error(fake, capsys):
    # config.extra is not settable from the command line: wrap the fake's train to set it
    import fake_pipeline_mod

    original = fake_pipeline_mod.train
    fake_pipeline_mod.train = lambda config, logger: original(
        __import__("dataclasses").replace(config, extra={"fake": "reject"}), logger)
    try:
        assert cli.main(["--quiet", "--name", "rejected"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "num_envs: expected a multiple" in err
        assert not (fake / "runs" / "rejected").exists()  # nothing but config.json was there: removed
        fake_pipeline_mod.train = lambda config, logger: original(
            __import__("dataclasses").replace(config, extra={"fake": "bug"}), logger)
        with pytest.raises(ValueError, match="something internal broke"):  # a bug keeps its traceback
            cli.main(["--quiet", "--name", "buggy"])
    finally:
        fake_pipeline_mod.train = original


def test_interrupt_keeps_the_partial_run(fake, capsys):
    import dataclasses

    import fake_pipeline_mod

    original = fake_pipeline_mod.train
    fake_pipeline_mod.train = lambda config, logger: original(dataclasses.replace(config, extra={"fake": "interrupt"}),
                                                              logger)
    try:
        assert cli.main(["--quiet", "--name", "cut"]) == 130
    finally:
        fake_pipeline_mod.train = original
    assert "interrupted at step 64" in capsys.readouterr().err
    assert runs.read_metrics(fake / "runs" / "cut")["step"] == [32.0, 64.0]
    assert (fake / "runs" / "cut" / runs.CURVE_FILE).exists()


def test_summary_falls_back_to_the_last_record(fake, capsys):
    import fake_pipeline_mod

    original = fake_pipeline_mod.train
    fake_pipeline_mod.train = lambda config, logger: original(config, logger) and None  # returns None
    try:
        assert cli.main(["--quiet", "--name", "none"]) == 0
    finally:
        fake_pipeline_mod.train = original
    assert capsys.readouterr().out.startswith("done: steps 96  sps 3000  mean_return 30.0")
    summary = json.loads((fake / "runs" / "none" / runs.SUMMARY_FILE).read_text())
    assert set(summary) == {"wall_time"} and summary["wall_time"] > 0


def test_torchrun_other_ranks_write_and_print_nothing(fake, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("FAKE_MAIN", "0")
    assert cli.main(["--name", "dist"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert not (fake / "runs" / "dist").exists()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("FAKE_MAIN", "1")
    assert cli.main(["--name", "dist"]) == 0
    assert (fake / "runs" / "dist" / runs.METRICS_FILE).exists() and "done:" in capsys.readouterr().out


# --- the real pipelines, a short run each (skipped until a pipeline lands) ----------------------------

def _pipeline_ready(backend):
    return importlib.util.find_spec(PIPELINES[backend]) is not None and not envs.missing_modules(backend)


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_real_pipeline_train_then_eval(backend, tmp_path):
    if not _pipeline_ready(backend):
        pytest.skip(f"the {backend} pipeline or its framework is not installed")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device: 4 envs always divide
    result = subprocess.run([sys.executable, "-m", "puffer_backend", "train", "--backend", backend, "--steps", "2048",
                             "--out", str(tmp_path), "--name", "smoke"], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    run = tmp_path / "smoke"
    metrics = runs.read_metrics(run)
    assert metrics["step"] and metrics["step"][-1] >= 2048 - 512
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps"):
        assert all(v == v and abs(v) != float("inf") for v in metrics[key]), key  # finite losses
    assert (run / runs.CURVE_FILE).exists() and load_config(run).backend == backend
    assert result.stdout.startswith("done: steps ")
    result = subprocess.run([sys.executable, "-m", "puffer_backend", "eval", str(run), "--episodes", "2"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    mean_return = float(result.stdout.split()[1])
    assert 1.0 <= mean_return <= 500.0  # CartPole: every episode lasts 1..500 steps


@pytest.mark.slow
def test_torchrun_two_processes_one_run_folder(tmp_path):
    if not _pipeline_ready("torch"):
        pytest.skip("the torch pipeline or its framework is not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # --standalone: c10d rendezvous on a free port (`--master_port 0` would hand workers port 0).
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "puffer_backend", "train", "--backend", "torch", "--steps", "2048", "--out", str(tmp_path),
               "--progress", "plain"]
    # Own process group, so a hang kills the workers too instead of leaving them behind.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = tmp_path.iterdir()  # only rank 0 created a folder (default names carry a timestamp)
    summaries = [line for line in result.stdout.splitlines() if line.startswith("done:")]
    assert len(summaries) == 1 and summaries[0].startswith("done: steps 2048 ")
    assert sum(line.startswith("puffer-backend: training") for line in result.stderr.splitlines()) == 1
    assert runs.read_metrics(run)["step"] == [1024.0, 2048.0]  # one update = a batch on each of 2 ranks
    assert (run / runs.CURVE_FILE).exists() and load_config(run).total_steps == 2048
