"""The XLA:CPU flags the jax pipeline sets when asked (PUFFER_XLA_FLAGS=1): added to a user's
XLA_FLAGS, never over them; JAX's defaults otherwise."""
import os
import subprocess
import sys

from puffer_backend.pipelines.jax import xla_flags


def test_flags_are_appended_and_a_users_choice_is_kept(monkeypatch):
    monkeypatch.setattr(xla_flags, "_backend_started", lambda: False)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PUFFER_XLA_FLAGS": "1"}
    assert xla_flags.apply_cpu_flags(env) == ["--xla_cpu_multi_thread_eigen=false"]
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=4 --xla_cpu_multi_thread_eigen=false"
    assert xla_flags.apply_cpu_flags(env) == []  # applied once
    mine = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true", "PUFFER_XLA_FLAGS": "1"}
    assert xla_flags.apply_cpu_flags(mine) == [] and mine["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=true"
    empty = {"PUFFER_XLA_FLAGS": "1"}
    assert xla_flags.apply_cpu_flags(empty) and empty["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"
    for off in ({}, {"PUFFER_XLA_FLAGS": "0"}):  # by default JAX's own settings stay
        assert xla_flags.apply_cpu_flags(off) == [] and "XLA_FLAGS" not in off


def test_nothing_is_added_once_a_backend_exists(monkeypatch):
    monkeypatch.setattr(xla_flags, "_backend_started", lambda: True)
    env = {"PUFFER_XLA_FLAGS": "1"}
    assert xla_flags.apply_cpu_flags(env) == [] and "XLA_FLAGS" not in env


def test_the_pipeline_sets_them_before_jax_starts():
    """In a fresh interpreter with PUFFER_XLA_FLAGS=1, loading the jax pipeline leaves the flag
    in XLA_FLAGS before the backend exists, and the backend then starts with it (an unknown
    flag would abort)."""
    code = ("import os; from puffer_backend.pipelines import load_pipeline; load_pipeline('jax'); "
            "import jax; print(os.environ['XLA_FLAGS']); print(jax.numpy.ones(2).sum())")
    env = {**{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}, "PUFFER_XLA_FLAGS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["--xla_cpu_multi_thread_eigen=false", "2.0"]
