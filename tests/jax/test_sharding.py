"""A batch sharded over 8 virtual CPU devices stays sharded through the jitted API, with no
all-gather in the compiled program. Runs in a subprocess: XLA_FLAGS must be set before jax
is imported."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from puffer_backend import jax_impl as J
    assert len(jax.devices()) == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    rows, cols = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P("batch", None))
    batch = 64
    logits = jax.device_put(jnp.asarray(np.random.default_rng(0).normal(size=(batch, 6)), jnp.float32), cols)
    action = jax.device_put(jnp.arange(batch, dtype=jnp.int32) % 6, rows)
    structured = np.dtype([("a", np.float32, (3,)), ("b", np.int16), ("c", np.uint8, (2, 2))], align=True)
    native = J.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": structured})
    obs = jax.device_put(jnp.zeros((batch, structured.itemsize), jnp.uint8), cols)
    key = jax.random.key(0)

    def check(name, fn, *args):
        jitted = jax.jit(fn)
        hlo = jitted.lower(*args).compile().as_text()
        assert "all-gather" not in hlo and "all-to-all" not in hlo, name + " gathers the batch"
        for leaf in jax.tree_util.tree_leaves(jitted(*args)):
            spec = leaf.sharding.spec if isinstance(leaf.sharding, NamedSharding) else None
            assert spec is not None and len(spec) >= 1 and spec[0] == "batch", (name, leaf.sharding)
            assert len(leaf.sharding.device_set) == 8, name
        print(name, "ok")

    # The key is replicated; each device draws the uniforms of its own rows.
    check("sample_logits", lambda k, x: J.sample_logits(k, x), key, logits)
    check("sample_logits(action)", lambda x, a: J.sample_logits(None, x, a), logits, action)
    check("log_prob", J.log_prob, logits, action)
    check("entropy", J.entropy, logits)
    check("nativize_tensor", lambda o: J.nativize_tensor(o, native), obs)
    heads = (logits, jax.device_put(logits[:, :3], cols))
    check("sample_logits(heads)", lambda k, h: J.sample_logits(k, h), key, heads)
    # per-row scale: with a constant scale the entropy is a constant, and XLA rightly replicates it
    check("sample_logits(Normal)", lambda k, m: J.sample_logits(k, J.Normal(m, jnp.exp(0.1 * m))), key, logits)
    sharded = jax.jit(J.sample_logits)(key, logits)
    single = jax.jit(J.sample_logits)(key, np.asarray(logits))
    assert np.array_equal(np.asarray(sharded[0]), np.asarray(single[0])), "sharding changed the draw"
    print("done")
""")


def test_batch_sharding_is_kept_without_all_gather():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "done" in result.stdout, (result.stdout + result.stderr)[-3000:]
