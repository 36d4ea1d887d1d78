"""jax_impl sampling with jax_enable_x64 on, in a subprocess (x64 is process-wide)."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from puffer_backend import jax_impl as J

    x = np.random.default_rng(0).normal(size=(64, 5)) * 10
    x[:, 1] = np.finfo(np.float64).min
    a, lp, ent = J.sample_logits(jax.random.key(0), jnp.asarray(x))
    assert a.dtype == np.int64 and lp.dtype == ent.dtype == np.float64, (a.dtype, lp.dtype)
    assert (np.asarray(a) != 1).all()
    logp = x - np.logaddexp.reduce(x, -1, keepdims=True)
    np.testing.assert_allclose(lp, logp[np.arange(64), np.asarray(a)], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ent, -(np.exp(logp) * logp).sum(-1), rtol=1e-10, atol=1e-12)
    g = jax.grad(lambda l: J.entropy(l).sum())(jnp.asarray(x))
    assert g.dtype == np.float64 and np.isfinite(g).all()
    print("ok")
""")


def test_float64_and_int64_under_x64():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
