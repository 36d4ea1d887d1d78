"""The command on the real pipelines: a short run and eval per backend, what the metrics mean,
Ctrl-C, eval without a checkpoint, torchrun."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from puffer_backend.cli import runs
from puffer_backend.pipelines import PIPELINES, TrainConfig, envs
from puffer_backend.pipelines.checkpoint import load_checkpoint
from puffer_backend.pipelines.config import load_config, write_config

from .helpers import ROOT

# --- the real pipelines, a short run each (skipped until a pipeline lands) ----------------------------

def _pipeline_ready(backend):
    return importlib.util.find_spec(PIPELINES[backend]) is not None and not envs.missing_modules(backend)


def _sigint_as_in_a_terminal():
    """In the child before it starts: SIGINT's default action, as a command started from a
    terminal has it. A runner launched in the background ignores SIGINT, its children inherit
    that, and Python then leaves Ctrl-C ignored, as it should."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env():
    return {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device: 4 envs always divide


def _command(*args, timeout=300, python_options=()):
    return subprocess.run([sys.executable, *python_options, "-m", "puffer_backend", *args], capture_output=True,
                          text=True, cwd=ROOT, env=_env(), timeout=timeout)


# What a jax run on CartPole-v1 that writes curve.png does not need (each import is start-up time
# every run pays): the other framework, gymnax's registry of every env and flax.linen, gymnax's
# renderers' seaborn and pandas, pyplot, the optional loggers.
JAX_RUN_LEAVES_UNIMPORTED = ("torch", "gymnax.registration", "gymnax.environments.misc",
                             "gymnax.environments.bsuite", "flax.linen", "seaborn", "pandas", "matplotlib.pyplot",
                             "tensorboard", "wandb", "tqdm")


def _imported(stderr: str) -> set:
    """The modules that `python -X importtime` reported importing."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_real_pipeline_train_then_eval(backend, tmp_path):
    """A short run per backend, its metrics read back as a user would, then eval. The metrics
    mean the same in every backend (pipelines.metrics): wall_time rises row by row, sps is
    steps over training time (compile excluded), compile_s is reported on its own line and in
    summary.json, which has one time key."""
    if not _pipeline_ready(backend):
        pytest.skip(f"the {backend} pipeline or its framework is not installed")
    result = _command("train", "--backend", backend, "--steps", "2048", "--out", str(tmp_path), "--name", "smoke",
                      "--progress", "plain", python_options=("-X", "importtime") if backend == "jax" else ())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    if backend == "jax":  # the list is the process's imports: it holds what the run used
        imported = _imported(result.stderr)
        assert {"jax", "matplotlib.figure", "gymnax.environments.classic_control.cartpole"} <= imported
        assert not imported & set(JAX_RUN_LEAVES_UNIMPORTED), sorted(imported & set(JAX_RUN_LEAVES_UNIMPORTED))
    run = tmp_path / "smoke"
    metrics = runs.read_metrics(run)
    assert metrics["step"] == [512.0, 1024.0, 1536.0, 2048.0]
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "sps", "mean_return", "episodes"):
        assert all(v == v and abs(v) != float("inf") for v in metrics[key]), key  # finite
    assert all(0.0 <= v <= 1.0 for v in metrics["clipfrac"])  # a fraction (0 early in CartPole: small steps)
    assert (run / runs.CURVE_FILE).exists() and load_config(run).backend == backend
    assert result.stdout.startswith("done: steps 2048 ")

    summary = json.loads((run / runs.SUMMARY_FILE).read_text())
    assert {"steps", "sps", "compile_s", "wall_time", "mean_return", "episodes"} <= set(summary)
    assert not {"wall_s", "sps_with_compile"} & set(summary)  # one time key
    compile_s, wall = summary["compile_s"], metrics["wall_time"]
    assert compile_s == 0.0 if backend == "torch" else compile_s > 0.0  # torch without --compile compiles nothing
    assert all(b > a for a, b in zip(wall, wall[1:])), wall  # each row its own time
    for step, sps, wall_time in zip(metrics["step"], metrics["sps"], wall):
        training = step / sps  # sps: steps per second of training, over the run so far
        assert 0.0 < training <= wall_time - compile_s + 1e-6, (step, sps, wall_time, compile_s)
    training = summary["steps"] / summary["sps"]
    assert 0.0 <= training - metrics["step"][-1] / metrics["sps"][-1] < 0.5  # the summary: the same clock
    assert training <= summary["wall_time"] - compile_s + 1e-6
    if backend != "torch":  # "compiling ..." on its own line before training, then the time it took
        lines = result.stderr.splitlines()
        compiling = next(i for i, line in enumerate(lines) if line.startswith("puffer-backend: compiling "))
        compiled = next(i for i, line in enumerate(lines) if line.startswith("puffer-backend: compiled in "))
        first_row = next(i for i, line in enumerate(lines) if line.startswith("step "))
        assert compiling < compiled < first_row

    result = _command("eval", str(run), "--episodes", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    mean_return = float(result.stdout.split()[1])
    assert 1.0 <= mean_return <= 500.0  # CartPole: every episode lasts 1..500 steps


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_eval_without_a_checkpoint_is_one_line_and_exit_2(backend, tmp_path):
    if not _pipeline_ready(backend):
        pytest.skip(f"the {backend} pipeline or its framework is not installed")
    write_config(tmp_path / "cut", TrainConfig(backend=backend))  # a run that never reached its checkpoint
    result = _command("eval", str(tmp_path / "cut"))
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("puffer-backend: error: RUN: ") and "no checkpoint to evaluate" in line


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_ctrl_c_saves_the_last_update_then_exits_130(backend, tmp_path):
    """SIGINT after the first metrics row: the update under way finishes, its checkpoint is
    written, the command exits 130, and the interrupted run can be evaluated."""
    if not _pipeline_ready(backend):
        pytest.skip(f"the {backend} pipeline or its framework is not installed")
    run = tmp_path / "cut"
    process = subprocess.Popen([sys.executable, "-m", "puffer_backend", "train", "--backend", backend, "--steps", "5M",
                                "--out", str(tmp_path), "--name", "cut", "--progress", "plain"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
                               preexec_fn=_sigint_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            metrics = run / runs.METRICS_FILE
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:  # header and a row
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1][-3000:]
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and stdout == ""
    assert "interrupted at step" in stderr and "checkpoint saved" in stderr
    steps = runs.read_metrics(run)["step"]
    _, checkpoint = load_checkpoint(run, backend)
    assert checkpoint.step == steps[-1] < 5_000_000 and checkpoint.update == len(steps)  # the last finished update
    result = _command("eval", str(run), "--episodes", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("mean_return ")


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


# --- any env, presets, videos: through the command --------------------------------------------------

def test_any_env_and_a_video_through_the_command(tmp_path):
    """A user's factory trains from the command; eval --video writes a gif of the clock env's
    frames; an env the pipeline cannot train is one line and exit 2, with no run folder left
    behind."""
    if not _pipeline_ready("torch"):
        pytest.skip("the torch pipeline or its framework is not installed")
    toy = "tests.pipelines.envs.toy_envs"
    result = _command("train", "--backend", "torch", "--env", f"{toy}:make_clock_env", "--steps", "512",
                      "--out", str(tmp_path), "--name", "clock", "--quiet", "--no-early-stop")
    assert result.returncode == 0, result.stderr[-3000:]
    video = tmp_path / "clock.gif"
    result = _command("eval", str(tmp_path / "clock"), "--episodes", "2", "--video", str(video))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("mean_return 7.00  episodes 2") and "(16 frames)" in result.stdout
    from PIL import Image

    with Image.open(video) as image:
        assert image.n_frames == 16
    result = _command("train", "--backend", "torch", "--env", f"{toy}:make_tuple_action_env", "--out", str(tmp_path),
                      "--name", "refused")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("puffer-backend: error: --env: expected an env with Discrete, MultiDiscrete, ")
    assert f"'{toy}:make_tuple_action_env' with Tuple(Discrete(2), Discrete(2))" in lines[0]
    assert not (tmp_path / "refused").exists()
    result = _command("train", "--backend", "torch", "--env", "Blackjack-v1", "--set", "norm_obs=true",
                      "--out", str(tmp_path), "--name", "refused")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert "--set norm_obs: expected an env whose packed observations are floats" in lines[0]
    result = _command("eval", str(tmp_path / "clock"), "--video", str(tmp_path / "x.avi"))
    assert result.returncode == 2 and "--video: expected a file name ending in .mp4 or .gif" in result.stderr


def test_a_run_that_goes_non_finite_is_one_line_and_exit_1(tmp_path):
    """The command reports a run stopped on a NaN as one line naming the update, exit 1, the
    run folder kept with its last checkpoint."""
    if not _pipeline_ready("torch"):
        pytest.skip("the torch pipeline or its framework is not installed")
    result = _command("train", "--backend", "torch", "--env", "tests.pipelines.envs.toy_envs:make_poisoned_env",
                      "--steps", "512", "--num-envs", "2", "--set", "num_steps=32", "--set", "num_minibatches=2",
                      "--save-every", "1", "--out", str(tmp_path), "--name", "poisoned", "--quiet")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("puffer-backend: update")]
    assert "update 4: " in line and "the checkpoint of update 3 is kept" in line and str(tmp_path / "poisoned") in line
    assert load_checkpoint(tmp_path / "poisoned")[1].update == 3
