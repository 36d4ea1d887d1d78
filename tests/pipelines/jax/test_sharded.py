"""JAX PPO data parallel over 8 virtual CPU devices, in a subprocess.

XLA_FLAGS must be set before jax is imported, so the checks run in a child interpreter and
report back as JSON. They check: envs split over the mesh and params replicated (before and
after a jitted chunk), finite losses, the error for a num_envs not divisible by the device
count, and that one data-parallel minibatch step (gradients pmean'd over 8 shards) equals
the single-device step on the whole minibatch.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")

CHILD = textwrap.dedent(r"""
    import json, math, sys, tempfile
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import PartitionSpec as P
    from puffer_backend.pipelines import MemoryLogger, TrainConfig
    from puffer_backend.pipelines.envs import gymnax_vec as gymnax_envs
    from puffer_backend.pipelines.jax import learner as jax_learner, policy as jax_policy, ppo as jax_ppo

    out = {"devices": len(jax.devices())}
    cfg = TrainConfig(backend="jax", total_steps=8 * 16 * 2, num_envs=8, num_steps=16, update_epochs=1,
                      num_minibatches=2, seed=0, extra={"chunk_updates": 2})
    program = jax_ppo.make_program(cfg)
    state = program.init_state(jax.random.PRNGKey(0))

    def layout(state):
        obs_shards = state.obs.addressable_shards
        kernel = state.params["actor"]["0"]["kernel"]
        copies = [np.asarray(s.data) for s in kernel.addressable_shards]
        return {
            "obs_spec": list(state.obs.sharding.spec), "obs_shard_shapes": sorted({tuple(s.data.shape) for s in obs_shards}),
            "obs_devices": len({s.device for s in obs_shards}),
            "params_replicated": bool(kernel.sharding.is_fully_replicated),
            "params_copies_equal": all(np.array_equal(c, copies[0]) for c in copies),
            "keys_spec": list(state.keys.sharding.spec),
        }

    out["before"] = layout(state)
    state, metrics = program.train_chunk(state)
    out["after"] = layout(state)
    out["metrics_finite"] = bool(np.isfinite(np.asarray(metrics)[:, 1:]).all())
    out["updates"] = int(state.update)

    try:
        jax_ppo.make_program(TrainConfig(num_envs=4))
        out["bad_envs"] = None
    except ValueError as e:
        out["bad_envs"] = str(e)

    # One minibatch step, data parallel vs one device on the whole minibatch.
    spec = gymnax_envs.make_env("CartPole-v1")
    params = jax_policy.init_params(jax.random.PRNGKey(1), spec, 16)
    rng = np.random.default_rng(0)
    B = 64
    mb = (rng.normal(size=(B, 4)).astype(np.float32), rng.integers(0, 2, B).astype(np.int32),
          np.log(rng.uniform(0.3, 0.7, B)).astype(np.float32), rng.normal(size=B).astype(np.float32),
          (rng.normal(size=B) + 0.5).astype(np.float32), rng.normal(size=B).astype(np.float32))
    mb = tuple(map(jnp.asarray, mb))
    tx = jax_learner.make_optimizer(TrainConfig(learning_rate=1e-2), 10)
    opt = tx.init(params)
    key = jax.random.PRNGKey(2)
    single = jax.jit(lambda p, o, m: jax_learner.minibatch_step(p, o, m, key, TrainConfig(), tx, None))(params, opt, mb)
    mesh = jax_ppo.make_mesh()
    sharded_fn = jax.jit(jax.shard_map(
        lambda p, o, m: jax_learner.minibatch_step(p, o, m, key, TrainConfig(), tx, jax_ppo.AXIS),
        mesh=mesh, in_specs=(P(), P(), P(jax_ppo.AXIS)), out_specs=(P(), P(), P()), check_vma=False))
    multi = sharded_fn(params, opt, mb)
    diffs = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), (single[0], single[2]), (multi[0], multi[2]))
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), params, single[0])
    out["dp_max_diff"] = max(jax.tree.leaves(diffs))
    out["step_moved"] = max(jax.tree.leaves(moved))

    with tempfile.TemporaryDirectory() as d:
        summary = jax_ppo.train(cfg, MemoryLogger(d))
        out["train_devices"] = summary["devices"]
        out["train_steps"] = summary["steps"]
        out["eval"] = jax_ppo.evaluate(d, episodes=8)
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def child_result():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_envs_split_params_replicated(child_result):
    assert child_result["devices"] == 8
    for when in ("before", "after"):
        lay = child_result[when]
        assert lay["obs_spec"] == ["data"], (when, lay)
        assert lay["obs_devices"] == 8 and lay["obs_shard_shapes"] == [[1, 4]], (when, lay)
        assert lay["params_replicated"] and lay["params_copies_equal"], (when, lay)
        assert lay["keys_spec"] == ["data"], (when, lay)
    assert child_result["metrics_finite"] and child_result["updates"] == 2


def test_num_envs_must_divide_over_devices(child_result):
    msg = child_result["bad_envs"]
    assert msg is not None and msg.startswith("num_envs: expected a multiple of the device count 8") and "received 4" in msg


def test_data_parallel_step_equals_whole_minibatch_step(child_result):
    assert child_result["step_moved"] > 1e-4  # the step did change the params
    assert child_result["dp_max_diff"] < 1e-5


def test_train_and_evaluate_on_eight_devices(child_result):
    assert child_result["train_devices"] == 8 and child_result["train_steps"] == 256
    assert 1.0 <= child_result["eval"] <= 500.0
