"""The benchmarks are scripts run from their folder, not a package: the tests import them the
same way, with `benchmarks/` first on sys.path for the import only."""
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def import_benchmark(name: str, **kwargs):
    """The module `benchmarks/<name>.py` (or `baselines.<name>` with `fromlist`, as __import__)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__(name, **kwargs)
    finally:
        sys.path.remove(str(BENCHMARKS))


def run_benchmark_main(module, argv) -> None:
    """`module.main(argv)` for a torch benchmark that sets torch's thread count: the count is
    put back afterwards, so later tests run as they would have."""
    import torch

    threads = torch.get_num_threads()
    try:
        module.main(argv)
    finally:
        torch.set_num_threads(threads)
