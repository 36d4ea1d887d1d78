"""The update's thread rule and OpenMP's passive waiting (pipelines.openmp, torch.runtime)."""
import os
import subprocess
import sys

import pytest

from puffer_backend.pipelines.openmp import parallel_update_allowed, prefer_passive_waiting
from puffer_backend.pipelines.torch.runtime import PARALLEL_UPDATE_ROWS, update_threads

PASSIVE = {"OMP_WAIT_POLICY": "passive"}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_passive_waiting_is_set_only_before_torch_loads_and_never_over_the_users_choice():
    environ = {}
    assert prefer_passive_waiting(environ, modules={}) and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {}
    assert not prefer_passive_waiting(environ, modules={"torch": object()}) and environ == {}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert not prefer_passive_waiting(environ, modules={}) and environ == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_importing_the_pipelines_first_makes_torchs_openmp_wait_passively():
    code = ("import os, puffer_backend.pipelines, torch; "
            "print(os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "PASSIVE"


@pytest.mark.parametrize("rows, world, environ, expected", [
    (PARALLEL_UPDATE_ROWS, 1, PASSIVE, "cores"),
    (PARALLEL_UPDATE_ROWS - 1, 1, PASSIVE, 1),     # small minibatches: hand-off costs more
    (PARALLEL_UPDATE_ROWS * 4, 2, PASSIVE, 1),     # torchrun: every rank has its share of cores
    (PARALLEL_UPDATE_ROWS * 4, 1, {}, 1),          # spinning threads collapse under load
    (PARALLEL_UPDATE_ROWS * 4, 1, {"OMP_WAIT_POLICY": "ACTIVE"}, 1),
])
def test_update_threads(rows, world, environ, expected):
    assert update_threads(rows, world, environ) == (cores() if expected == "cores" else expected)
    assert parallel_update_allowed(environ) == (environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE")
