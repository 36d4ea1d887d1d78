"""The torch pipeline under torchrun with 2 processes: DistributedDataParallel on gloo, eager
and under --compile (torch.compile traces through the DDP module)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not built in", allow_module_level=True)

WORKER = textwrap.dedent("""
    import json, os, sys
    import torch
    from puffer_backend.pipelines import MemoryLogger, TrainConfig
    from puffer_backend.pipelines.torch import loop, ppo as torch_ppo
    rank = int(os.environ["RANK"])
    out, compiled = sys.argv[1], sys.argv[2] == "1"
    # Each rank gets its own logger folder so the test can see who wrote what.
    logger = MemoryLogger(os.path.join(out, f"rank{rank}"))
    seen = []
    original = torch_ppo.GymVecEnv.reset
    def spy(self, seed):
        obs = original(self, seed)
        seen.append(obs.tolist())
        return obs
    torch_ppo.GymVecEnv.reset = spy
    agents = []
    build = loop.build_agent
    loop.build_agent = lambda *a: agents.append(build(*a)) or agents[-1]
    # A random policy averages ~22 on CartPole: the target stops training after one or two
    # updates, and every rank must stop at the same one (rank 0 decides).
    summary = torch_ppo.train(TrainConfig(backend="torch", total_steps=4096, seed=3, target_return=15.0,
                                          compile=compiled), logger)
    from puffer_backend.pipelines.checkpoint import CHECKPOINT_FILE
    weights = [p.detach().double().sum().item() for p in agents[0].parameters()]
    json.dump({"summary": summary, "records": logger.records, "first_obs": seen[0], "weights": weights,
               "wrote_checkpoint": os.path.exists(os.path.join(out, f"rank{rank}", CHECKPOINT_FILE))},
              open(os.path.join(out, f"rank{rank}.json"), "w"))
""")


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.heavy)])
def test_two_process_ddp(tmp_path, compiled):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path), "1" if compiled else "0"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    # Steps count both ranks: 1024 per update of 4 envs x 128 steps on each.
    steps = r0["summary"]["steps"]
    assert steps in (1024, 2048) and r1["summary"]["steps"] == steps
    assert r0["summary"]["steps_to_target"] == r1["summary"]["steps_to_target"] == steps
    assert len(r0["records"]) == steps // 1024 and r1["records"] == []   # only rank 0 logs
    assert r0["wrote_checkpoint"] and not r1["wrote_checkpoint"]
    assert r0["first_obs"] != r1["first_obs"]                 # seed + rank: different envs
    # DDP averaged the gradients, so the ranks, fed different data, still hold equal weights,
    # and the weights moved away from the (broadcast) initialization.
    assert r0["weights"] == pytest.approx(r1["weights"], rel=1e-6, abs=1e-6)
    from puffer_backend.pipelines.checkpoint import load_checkpoint

    _, checkpoint = load_checkpoint(tmp_path / "rank0", "torch")
    saved = [v.astype("float64").sum() for v in checkpoint.params.values()]
    assert saved == pytest.approx(r0["weights"], rel=1e-6, abs=1e-6)
