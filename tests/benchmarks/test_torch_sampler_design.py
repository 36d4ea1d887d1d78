"""benchmarks/torch_sampler_design.py (the figures behind torch_impl/cpu_draw.py) runs on a small
batch, times every choice, and leaves cpu_draw's thresholds as it found them."""
import pytest

from .importing import import_benchmark, run_benchmark_main


def test_every_choice_is_timed_and_the_thresholds_are_restored(capsys):
    pytest.importorskip("torch")
    from puffer_backend.torch_impl import cpu_draw
    module = import_benchmark("torch_sampler_design")
    before = {name: getattr(cpu_draw, name) for name in ("_MAX_ACTIONS_AS_COLUMNS", "_SEARCH_ROWS_LONGER_THAN",
                                                        "_SCRATCH_MIN_ELEMENTS")}
    run_benchmark_main(module, ["--batch", "64", "--repeats", "2"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 + 7 + 5 and "ATen capability" in out[0]
    assert all("as shipped" in line for line in out[-5:])
    assert before == {name: getattr(cpu_draw, name) for name in before}
