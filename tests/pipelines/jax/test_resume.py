"""Resuming the jax pipeline continues the run bit for bit: the checkpoint holds the whole
runner state, saved at the end of a chunk, and the resumed run follows the uninterrupted run's
chunk plan (program.plan_chunks)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")

from puffer_backend.pipelines import TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import Checkpoint  # noqa: E402
from puffer_backend.pipelines.jax import ppo as jax_ppo  # noqa: E402
from puffer_backend.pipelines.jax.program import make_program  # noqa: E402

from ..resuming import assert_seamless, differing, groups  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]

# The three runs share one process and a compilation cache (the same program compiles once):
# a JAX setting that must not leak into the test process.
RUNS = textwrap.dedent("""
    import dataclasses, json, sys
    from pathlib import Path
    from puffer_backend.pipelines import TrainConfig
    from puffer_backend.pipelines.jax import ppo
    from tests.pipelines.resuming import CheckpointSpy, interrupt, resume

    out = Path(sys.argv[1])
    config = TrainConfig(backend="jax", total_steps=4096, seed=2, extra={"chunk_updates": 2})  # 8 updates
    # Uninterrupted, saving at the end of the chunks that reach a multiple of 3 updates.
    spy = CheckpointSpy(out / "full")
    ppo.train(dataclasses.replace(config, save_every=3), spy)
    first = interrupt(ppo.train, config, out / "cut", 2048)  # Ctrl-C: at the end of chunk 2 (update 4)
    (out / "cut-at-4.npz").write_bytes((out / "cut" / "checkpoint.npz").read_bytes())
    resumed = resume(ppo.train, config, out / "cut")
    json.dump({"full": spy.records, "on_disk": spy.on_disk, "first": first.records, "resumed": resumed.records},
              open(out / "records.json", "w"))
""")


def test_interrupted_then_resumed_equals_the_uninterrupted_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    result = subprocess.run([sys.executable, "-c", RUNS, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads((tmp_path / "records.json").read_text())
    # rows of a chunk are recorded before its save: at update 5 the save of update 4 is on disk
    assert records["on_disk"] == {"2560": 4, "3072": 4, "3584": 6, "4096": 6}
    # Ctrl-C saved what the uninterrupted run saved after update 4, bit for bit.
    assert differing(groups(tmp_path / "cut-at-4.npz"), groups(tmp_path / "full" / "copies" / "4.npz")) == []
    assert_seamless(records["first"], records["resumed"], 512)
    names = groups(tmp_path / "full")
    assert {"state/keys", "state/update", "state/stats/recent", "state/env_state/time"} <= set(names)
    assert differing(groups(tmp_path / "cut"), names) == []
    for key in ("mean_return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl"):
        assert [r[key] for r in records["first"] + records["resumed"]] == [r[key] for r in records["full"]], key


def test_a_checkpoint_of_another_device_count_is_refused():
    program = make_program(TrainConfig(backend="jax", total_steps=512))
    state = program.init_state(jax.random.PRNGKey(0))
    foreign = Checkpoint("jax", 512, 1, info={"devices": program.mesh.size + 1})
    with pytest.raises(ValueError, match=f"expected a run saved on {program.mesh.size} devices"):
        jax_ppo._restore(state, foreign, program)
    multi_host = Checkpoint("jax", 512, 1, info={"devices": program.mesh.size})
    with pytest.raises(ValueError, match="saved on several hosts"):
        jax_ppo._restore(state, multi_host, program)
    from puffer_backend.pipelines.jax.trees import restore_tree

    with pytest.raises(ValueError, match="checkpoint: expected params/actor/0/bias, received a checkpoint without"):
        restore_tree(state.params, {}, "params")
