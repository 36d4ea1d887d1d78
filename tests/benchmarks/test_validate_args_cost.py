"""benchmarks/validate_args_cost.py runs, times every shape with the checks on and off, and
leaves the switch as it found it."""
import pytest

from .importing import import_benchmark, run_benchmark_main


def test_times_each_shape_and_restores_the_switch(capsys):
    pytest.importorskip("torch")
    from puffer_backend import torch_impl

    module = import_benchmark("validate_args_cost")
    run_benchmark_main(module, ["--repeats", "3"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 + len(module.SHAPES) and "ATen capability" in out[0]
    assert all("checks on" in line and "off" in line for line in out[1:])
    assert torch_impl.default_validate_args() is True
