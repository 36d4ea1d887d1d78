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


# --- structured and pixel observations (pipelines.networks) ---------------------------------

from tests.pipelines.policy_cases import CASES, gymnax_env  # noqa: E402


@pytest.mark.parametrize("case", list(CASES))
def test_image_leaves_get_a_cnn_of_the_documented_width(case):
    obs_leaves, width = CASES[case]
    spec = gymnax_env(obs_leaves)
    policy = jax_policy.make_policy(spec, 16)
    params = policy.init(jax.random.PRNGKey(0), jax.numpy.zeros((1, spec.obs_dim)))
    assert params["actor"]["0"]["kernel"].shape == (width, 16) == params["critic"]["0"]["kernel"].shape
    assert set(params["cnn"]) == {"0"}  # the image leaf is the first in every case
    obs = jax.random.uniform(jax.random.PRNGKey(1), (5, spec.obs_dim))
    logits, value = jax.jit(policy.apply)(params, obs)
    assert logits.shape == (5, 4) and value.shape == (5,)
    assert np.isfinite(np.asarray(logits)).all() and np.isfinite(np.asarray(value)).all()
    rollout_logits, rollout_value = policy.rollout(params)(obs)
    np.testing.assert_array_equal(rollout_logits, logits)
    np.testing.assert_array_equal(rollout_value, value)


def test_minatar_is_a_cnn_unless_mlp_is_asked():
    spec = gymnax_envs.make_env("Breakout-MinAtar")
    assert jax_policy.encoder_plan(spec) is not None
    assert jax_policy.encoder_plan(spec, "mlp") is None
    flat = jax_policy.init_params(jax.random.PRNGKey(0), spec, 8, "mlp")
    assert set(flat) == {"actor", "critic"} and flat["actor"]["0"]["kernel"].shape == (400, 8)
    # "mlp" is the flat policy exactly: the same params as before the CNN existed
    cartpole = gymnax_envs.make_env("CartPole-v1")
    for a, b in zip(jax.tree.leaves(jax_policy.init_params(jax.random.PRNGKey(5), cartpole, 8)),
                    jax.tree.leaves(jax_policy.init_params(jax.random.PRNGKey(5), cartpole, 8, "mlp"))):
        np.testing.assert_array_equal(a, b)


def test_cnn_without_an_image_and_bad_leaves_are_refused():
    cartpole = gymnax_envs.make_env("CartPole-v1")
    with pytest.raises(ValueError, match=r"^config.network: expected 'auto' or 'mlp' for an observation without "
                                         r"an image leaf .*received 'cnn' for leaves of shapes \(4,\)$"):
        jax_policy.make_policy(cartpole, 8, network="cnn")
    with pytest.raises(ValueError, match=r"^network: expected one of \['auto', 'mlp', 'cnn'\], received 'big'$"):
        jax_policy.builtin_policy(cartpole, 8, "big")
    wrong = gymnax_env((("", (10, 10, 4)),))
    wrong = type(wrong)(**{**wrong.__dict__, "obs_dim": 401})
    with pytest.raises(ValueError, match=r"^gymnax_env.obs_leaves: expected leaves of 401 elements"):
        jax_policy.encoder_plan(wrong)


def test_cnn_encoder_is_convolutions_by_hand():
    """The JAX MinAtar encoder: relu(conv 3x3) of the channels-last leaf, flattened in (h, w, c)
    order, checked against a loop over the windows in numpy."""
    spec = gymnax_env(CASES["navix"][0])
    params = jax_policy.init_params(jax.random.PRNGKey(2), spec, 8)
    layer = params["cnn"]["0"]["conv0"]
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (2, 5, 5, 3)))
    want = np.zeros((2, 3, 3, 16), np.float32)
    for i in range(3):
        for j in range(3):
            want[:, i, j] = np.einsum("bhwc,hwco->bo", x[:, i:i + 3, j:j + 3], np.asarray(layer["kernel"]))
    want = np.maximum(want + np.asarray(layer["bias"]), 0).reshape(2, -1)
    plan = jax_policy.encoder_plan(spec)
    got = jax_policy._encode(params["cnn"]["0"], plan.parts[0][2], x.reshape(2, -1))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
