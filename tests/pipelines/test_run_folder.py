"""A run folder is trained in by one process at a time (an OS lock that a killed process
releases), and a new run refuses a folder that holds another run; every pipeline's `train`
refuses a config of another backend. The lock is tested with real processes."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from puffer_backend.pipelines import PIPELINES, MemoryLogger, TrainConfig, load_pipeline
from puffer_backend.pipelines.checkpoint import Checkpoint, save_checkpoint
from puffer_backend.pipelines.config import write_config
from puffer_backend.pipelines.run_folder import (LOCK_FILE, check_new_run_folder, claim_run_folder,
                                                 lock_run_folder)
from puffer_backend.spec.errors import BadValueError

ROOT = Path(__file__).resolve().parents[2]


def _holder(run_dir: Path):
    """Another process that takes run_dir's lock, says so on stdout and sleeps."""
    code = textwrap.dedent(f"""
        import sys, time
        from puffer_backend.pipelines.run_folder import lock_run_folder
        with lock_run_folder({str(run_dir)!r}):
            print("locked", flush=True)
            time.sleep(120)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_folder_another_process_trains_in_is_refused_until_it_ends(tmp_path):
    holder = _holder(tmp_path / "run")
    try:
        with pytest.raises(BadValueError) as info:
            with lock_run_folder(tmp_path / "run"):
                pass
        assert str(info.value) == (f"run_dir: expected a run folder that no other process is training in, received "
                                   f"'{tmp_path / 'run'}', in use by process {holder.pid} (wait for it to end, or "
                                   "stop it)")
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up: the lock file stays behind, stale
        holder.wait()
    assert (tmp_path / "run" / LOCK_FILE).exists()
    with lock_run_folder(tmp_path / "run"):  # the OS released the killed process's lock
        assert (tmp_path / "run" / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not (tmp_path / "run" / LOCK_FILE).exists()  # a run that ends removes its lock file


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with lock_run_folder(tmp_path):
        with lock_run_folder(tmp_path / "." ):  # the command holds it, then the pipeline enters it
            assert (tmp_path / LOCK_FILE).exists()
        assert (tmp_path / LOCK_FILE).exists()
    assert not (tmp_path / LOCK_FILE).exists()


def test_ranks_other_than_0_neither_lock_nor_check(tmp_path):
    holder = _holder(tmp_path)
    try:
        save_checkpoint(tmp_path, TrainConfig(), Checkpoint("mixed", 512, 1))
        with claim_run_folder(tmp_path, TrainConfig(), resume=False, main=False):
            pass  # rank 1 under torchrun: rank 0 holds the folder, and this rank writes nothing there
    finally:
        holder.kill()
        holder.wait()


def test_what_counts_as_another_run(tmp_path):
    config = TrainConfig(backend="torch", total_steps=1024)
    check_new_run_folder(tmp_path / "missing", config)  # not there yet: a new folder
    check_new_run_folder(tmp_path, config)  # empty
    write_config(tmp_path, config)
    check_new_run_folder(tmp_path, config)  # the config.json of this run (the command writes it first)
    check_new_run_folder(tmp_path, TrainConfig(backend="torch", total_steps=1024, out_dir="elsewhere", run_name="x"))
    with pytest.raises(BadValueError, match=r"^run_dir: expected a new run's folder .*, which holds the config.json "
                                            r"of another run \(it differs in seed\)$"):
        check_new_run_folder(tmp_path, TrainConfig(backend="torch", total_steps=1024, seed=1))
    for name in ("checkpoint.npz", "metrics.csv", "summary.json"):
        other = tmp_path / name.split(".")[0]
        other.mkdir()
        (other / name).write_text("")
        with pytest.raises(BadValueError, match=f"which holds its {name}$"):
            check_new_run_folder(other, config)


@pytest.mark.parametrize("backend", sorted(PIPELINES))
def test_train_refuses_a_config_of_another_backend(backend, tmp_path):
    """A jax config trained by the torch pipeline would write "backend": "jax" and then be
    evaluated by the jax pipeline: refused before anything is written."""
    pipeline = _pipeline(backend)
    other = next(b for b in sorted(PIPELINES) if b != backend)
    with pytest.raises(BadValueError) as info:
        pipeline.train(TrainConfig(backend=other, total_steps=512), MemoryLogger(tmp_path))
    assert (info.value.argument, info.value.received) == ("config.backend", repr(other))
    assert info.value.expected.startswith(f"{backend!r}, the backend of this pipeline")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend", sorted(PIPELINES))
def test_train_refuses_a_folder_holding_another_run(backend, tmp_path):
    """The command refuses an existing --name; from Python, a new run in a folder holding a
    checkpoint is refused the same way, and the checkpoint stays as it was."""
    pipeline = _pipeline(backend)
    config = TrainConfig(backend=backend, total_steps=512)
    save_checkpoint(tmp_path, config, Checkpoint(backend, 512, 1, params={"w": np.arange(3.0)}))
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(BadValueError, match=r"^run_dir: expected a new run's folder \(resume=True continues the run "
                                            r"in it; a new run needs a folder of its own\), received .*, which holds "
                                            r"its checkpoint.npz$"):
        pipeline.train(config, MemoryLogger(tmp_path))
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "config.json"]


def test_train_refuses_a_folder_another_process_trains_in(tmp_path):
    pipeline = _pipeline("torch")
    holder = _holder(tmp_path)
    try:
        with pytest.raises(BadValueError, match=f"in use by process {holder.pid}"):
            pipeline.train(TrainConfig(backend="torch", total_steps=512), MemoryLogger(tmp_path))
    finally:
        holder.kill()
        holder.wait()


def test_two_python_processes_one_folder_one_refuses_nothing_lost(tmp_path):
    """Two processes start a torch run in one folder at the same moment: one trains to the end,
    the other is refused (by the lock, or by the first run's files), and the checkpoint is the
    finished run's."""
    _pipeline("torch")
    code = textwrap.dedent(f"""
        import sys
        from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline
        from puffer_backend.spec.errors import BadValueError
        config = TrainConfig(backend="torch", total_steps=2048, num_steps=64)
        try:
            summary = load_pipeline("torch").train(config, MemoryLogger({str(tmp_path / "run")!r}))
        except BadValueError as error:
            print("refused:", error)
            sys.exit(3)
        print("done", summary["steps"])
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=ROOT, env=env) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    assert sorted(code for code, _, _ in results) == [0, 3], results
    done = next(out for code, out, _ in results if code == 0)
    refused = next(out for code, out, _ in results if code == 3)
    assert done.strip() == "done 2048"
    assert refused.startswith("refused: run_dir: expected "), refused
    from puffer_backend.pipelines.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "run")[1].step == 2048
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def _pipeline(backend):
    pytest.importorskip("torch" if backend != "jax" else "jax")
    if backend != "torch":
        pytest.importorskip("jax")
        pytest.importorskip("gymnax")
    pytest.importorskip("gymnasium")
    return load_pipeline(backend)


def test_a_stale_lock_file_does_not_block(tmp_path):
    (tmp_path / LOCK_FILE).write_text("12345\n")  # left by a killed run
    start = time.monotonic()
    with lock_run_folder(tmp_path):
        pass
    assert time.monotonic() - start < 5
