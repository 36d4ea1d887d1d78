"""benchmarks/validate_args_cost.py runs, times every shape with the checks on and off, and
leaves the switch as it found it."""
import pytest

from .importing import import_benchmark


def test_times_each_shape_and_restores_the_switch(capsys):
    torch = pytest.importorskip("torch")
    from puffer_backend import torch_impl

    module = import_benchmark("validate_args_cost")
    threads = torch.get_num_threads()
    try:
        module.main(["--repeats", "3"])
    finally:
        torch.set_num_threads(threads)  # the script sets its own
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 + len(module.SHAPES) and "ATen capability" in out[0]
    assert all("checks on" in line and "off" in line for line in out[1:])
    assert torch_impl.default_validate_args() is True
