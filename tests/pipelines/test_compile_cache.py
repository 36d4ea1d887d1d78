"""JAX's persistent compilation cache in the jax and mixed pipelines (pipelines.compile_cache):
where it lives, that a second run with the same shapes loads its programs from it, that
--no-compile-cache writes nothing, that a cache folder the user set in JAX is used and left
alone, and that the setting is kept by --resume. JAX's config is only changed in subprocesses."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from puffer_backend.cli.parser import build_parser
from puffer_backend.cli.train import config_from_args
from puffer_backend.pipelines.compile_cache import CACHE_DIR_ENV, CacheReport, cache_dir
from puffer_backend.pipelines.config import load_config

ROOT = Path(__file__).resolve().parents[2]
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("gymnax") is None,
                               reason="jax and gymnax are not installed")


# --- where the cache lives ------------------------------------------------------------------------

def test_cache_dir_follows_the_variable_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "moved"))
    assert cache_dir() == tmp_path / "moved" / "jax"
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "puffer-backend" / "jax"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG rule: a relative path is ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "puffer-backend" / "jax"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cache_dir() == tmp_path / "home" / "Library" / "Caches" / "puffer-backend" / "jax"


def test_the_compile_line_says_where_the_programs_came_from():
    assert CacheReport().describe() == ""
    assert CacheReport("/c", "ours", requests=0, hits=0).describe() == ""  # nothing went through the cache
    assert CacheReport("/c", "ours", requests=3, hits=3).describe() == " (from the cache at /c)"
    assert CacheReport("/c", "yours", requests=3, hits=3).describe() == " (from your JAX cache at /c)"
    assert CacheReport("/c", "ours", requests=3, hits=1).describe() == " (1 of 3 programs from the cache at /c)"
    assert CacheReport("/c", "ours", requests=3, hits=0).describe().startswith(" (saved to the cache at /c;")


# --- the setting and its flags ----------------------------------------------------------------------

@pytest.mark.parametrize("flags, expected", [([], True), (["--no-compile-cache"], False),
                                             (["--compile-cache"], True),
                                             (["--no-compile-cache", "--compile-cache"], True)])
def test_flags_set_the_field(flags, expected):
    args = build_parser().parse_args(["train", "--backend", "jax", *flags])
    assert config_from_args(args).compile_cache is expected


def test_a_config_file_sets_it_and_the_flag_wins(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('backend = "jax"\ncompile_cache = false\n')
    assert config_from_args(build_parser().parse_args(["train", "--config", str(path)])).compile_cache is False
    args = build_parser().parse_args(["train", "--config", str(path), "--compile-cache"])
    assert config_from_args(args).compile_cache is True


def test_set_refuses_the_field_that_has_a_flag():
    from puffer_backend.cli.errors import UsageError
    from puffer_backend.cli.parser import parse_override

    with pytest.raises(UsageError, match="compile_cache is set with --compile-cache"):
        parse_override("compile_cache=false")


# --- real runs, each in its own process -------------------------------------------------------------

def _env(cache_root, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR")}
    env[CACHE_DIR_ENV] = str(cache_root)
    env.update(extra)
    return env


def _train(tmp_path, cache_root, *flags, backend="jax", name=None, env=None):
    args = ["train", "--backend", backend, "--steps", "1024", "--num-envs", "2", "--no-early-stop",
            "--out", str(tmp_path / "runs"), "--progress", "plain", *flags]
    if name is not None:
        args += ["--name", name]
    result = subprocess.run([sys.executable, "-m", "puffer_backend", *args], capture_output=True, text=True,
                            cwd=ROOT, env=env or _env(cache_root), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _compile_line(result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("puffer-backend: compiled in "))


def _entries(folder: Path) -> set:
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


@needs_jax
@pytest.mark.parametrize("backend", ["jax", "mixed"])
def test_a_second_run_loads_its_programs_from_the_cache(tmp_path, backend):
    if backend == "mixed" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    root = tmp_path / "cache"
    first = _train(tmp_path, root, backend=backend, name="first")
    saved = _entries(root / "jax")
    assert saved, "the first run wrote nothing to the cache"
    assert f"(saved to the cache at {root / 'jax'};" in _compile_line(first)

    second = _train(tmp_path, root, backend=backend, name="second")
    assert _compile_line(second).startswith("puffer-backend: compiled in ")
    assert f"(from the cache at {root / 'jax'})" in _compile_line(second)
    assert _entries(root / "jax") == saved  # every program was found: nothing new written
    # Same programs, same results: the cached run learns exactly what the compiled one did.
    rows = [(tmp_path / "runs" / n / "metrics.csv").read_text().splitlines() for n in ("first", "second")]
    assert [r.split(",")[:2] for r in rows[0]] == [r.split(",")[:2] for r in rows[1]]
    summaries = [json.loads((tmp_path / "runs" / n / "summary.json").read_text()) for n in ("first", "second")]
    assert summaries[0]["mean_return"] == summaries[1]["mean_return"]


@needs_jax
def test_a_cache_folder_set_in_jax_is_used_and_left_alone(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    result = _train(tmp_path, ours, env=_env(ours, JAX_COMPILATION_CACHE_DIR=str(theirs)))
    assert _entries(theirs) and not (ours / "jax").exists()
    assert f"your JAX cache at {theirs}" in _compile_line(result)


@needs_jax
def test_no_compile_cache_writes_nothing_and_survives_resume(tmp_path):
    root = tmp_path / "cache"
    first = _train(tmp_path, root, "--no-compile-cache", name="run")
    assert not (root / "jax").exists() and "cache" not in _compile_line(first)
    run = tmp_path / "runs" / "run"
    resumed = subprocess.run([sys.executable, "-m", "puffer_backend", "train", "--resume", str(run), "--steps", "2048",
                              "--progress", "plain"], capture_output=True, text=True, cwd=ROOT, env=_env(root),
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_config(run).compile_cache is False and not (root / "jax").exists()
    # A resumed run may turn it on (it does not change what is learned).
    again = subprocess.run([sys.executable, "-m", "puffer_backend", "train", "--resume", str(run), "--steps", "3072",
                            "--compile-cache", "--progress", "plain"], capture_output=True, text=True, cwd=ROOT,
                           env=_env(root), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert load_config(run).compile_cache is True and _entries(root / "jax")


@needs_jax
def test_jax_settings_are_restored_after_a_run(tmp_path):
    """From Python: train() sets the cache folder and thresholds for its own compiles only."""
    code = textwrap.dedent(f"""
        import pathlib
        import jax
        from puffer_backend.pipelines import MemoryLogger, TrainConfig
        from puffer_backend.pipelines.jax.ppo import train
        names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                 "jax_persistent_cache_min_entry_size_bytes")
        before = [getattr(jax.config, n) for n in names]
        config = TrainConfig(backend="jax", total_steps=512, num_envs=2, target_return=None)
        logger = MemoryLogger({str(tmp_path / "run")!r})
        train(config, logger)
        assert [getattr(jax.config, n) for n in names] == before, [getattr(jax.config, n) for n in names]
        assert any("(saved to the cache at" in note for note in logger.notes), logger.notes
        folder = pathlib.Path({str(tmp_path / "cache" / "jax")!r})
        count = len(list(folder.iterdir()))
        # Compiled after the run, with JAX's threshold at 0: cached only if our folder were still set.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.jit(lambda x: x * 3 + 1)(1.0)
        assert len(list(folder.iterdir())) == count
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env=_env(tmp_path / "cache"), timeout=600)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
