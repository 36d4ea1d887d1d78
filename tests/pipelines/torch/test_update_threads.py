"""The update's thread rule and OpenMP's passive waiting (pipelines.openmp, torch.runtime)."""
import json
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


CHILD = """
import json, os, sys, tempfile
import puffer_backend.pipelines as pipelines  # first: OpenMP then waits passively
import torch
from puffer_backend.pipelines.torch import loop
seen = []
update = loop.ppo_update
def counting(*args, **kwargs):
    seen.append(torch.get_num_threads())
    return update(*args, **kwargs)
loop.ppo_update = counting
runs = []
for _ in range(2):
    with tempfile.TemporaryDirectory() as out:
        config = pipelines.TrainConfig(backend="torch", env_id="CartPole-v1", num_envs=8, num_steps=128,
                                       num_minibatches=1, update_epochs=2, total_steps=2 * 8 * 128,
                                       out_dir=out, run_name="r")
        logger = pipelines.MemoryLogger(os.path.join(out, "r"))
        pipelines.load_pipeline("torch").train(config, logger)
        runs.append([[r[k] for k in ("policy_loss", "value_loss", "approx_kl")] for r in logger.records])
print(json.dumps({"threads": seen, "outside": torch.get_num_threads(), "runs": runs}))
"""


def test_a_large_minibatch_update_runs_on_every_core_and_stays_deterministic():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["threads"] == [cores()] * 4  # 1024-row minibatches, 2 updates of each run
    first, second = result["runs"]
    assert first == second  # the same seed, bit for bit, on several threads
