"""The jax actor-critic: the rollout's fused block-diagonal MLP computes the policy."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")

from puffer_backend.pipelines.envs import gymnax_vec as gymnax_envs  # noqa: E402
from puffer_backend.pipelines.jax import policy as jax_policy  # noqa: E402


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_fused_policy_is_the_policy(env_id):
    """The rollout's block-diagonal MLP computes apply_policy's outputs."""
    spec = gymnax_envs.make_env(env_id)
    params = jax_policy.init_params(jax.random.PRNGKey(3), spec, 32)
    obs = jax.random.normal(jax.random.PRNGKey(4), (9, spec.obs_dim)) * 3
    want_out, want_value = jax_policy.apply_policy(params, obs)
    got_out, got_value = jax_policy.apply_fused(jax_policy.fuse_policy(params), obs, spec.policy_width)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_value, want_value, rtol=1e-5, atol=1e-6)
