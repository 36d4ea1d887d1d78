"""The jax pipeline on gymnax envs beyond CartPole and with a user's policy: an image-like
MinAtar observation, a user's factory, continuous control with normalization, a flax policy
that is the built-in network trains to the built-in run's params.

Each jitted program costs a compile of several seconds, so the runs are few and small."""
import re

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.envs import gymnax_vec  # noqa: E402
from puffer_backend.pipelines.jax import policy as jax_policy, ppo  # noqa: E402

SHORT = dict(total_steps=128, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1)


def test_minatar_trains_and_evaluates(tmp_path):
    logger = MemoryLogger(tmp_path)
    summary = ppo.train(TrainConfig.for_env("Breakout-MinAtar", "jax", **SHORT), logger)
    assert summary["steps"] == 128 and len(logger.records) == 2
    _, checkpoint = load_checkpoint(tmp_path)
    # network "auto": MinAtar's 10 x 10 x 4 leaf through one 3x3 conv of 16 channels, then the MLP
    assert checkpoint.params["cnn/0/conv0/kernel"].shape == (3, 3, 4, 16)
    assert checkpoint.params["actor/0/kernel"].shape == (8 * 8 * 16, 64)
    assert np.isfinite(ppo.evaluate(tmp_path, episodes=2))


def test_a_factory_builds_the_program():
    """`package.module:function` and a callable reach the same env (the mixed pipeline trains
    on a factory; here the program is built, not compiled)."""
    from tests.pipelines.envs import toy_envs

    config = TrainConfig(backend="jax", env_id="tests.pipelines.envs.toy_envs:make_gymnax_cartpole", **SHORT)
    ppo.check_env(config)
    assert ppo.make_program(config).gymnax_env.max_episode_steps == 500
    program = ppo.make_program(TrainConfig(backend="jax", env_id="mine", **SHORT), env=toy_envs.make_gymnax_cartpole)
    assert (program.gymnax_env.env_id, program.gymnax_env.obs_dim) == ("mine", 4)
    with pytest.raises(ValueError, match="env_id: expected a factory returning a gymnax"):
        ppo.check_env(TrainConfig(backend="jax", env_id="tests.pipelines.envs.toy_envs:make_not_an_env"))


def test_normalization_statistics_are_saved_and_counted(tmp_path):
    """Pendulum's preset normalizes: the checkpoint holds the statistics, whose count is the
    reset batch plus one batch per step (from gymnasium's prior count 1e-4)."""
    config = TrainConfig.for_env("Pendulum-v1", "jax", total_steps=256, num_envs=2, num_steps=64, num_minibatches=2,
                                 update_epochs=1)
    assert config.norm_obs and config.norm_reward
    ppo.train(config, MemoryLogger(tmp_path))
    _, checkpoint = load_checkpoint(tmp_path)
    assert float(checkpoint.state["obs_rms/count"]) == pytest.approx(1e-4 + 2 * (1 + 128), rel=1e-6)
    assert float(checkpoint.state["return_rms/count"]) == pytest.approx(1e-4 + 2 * 128, rel=1e-6)
    # Pendulum's (cos, sin) entries are in [-1, 1]: a variance above 1 would be a wrong statistic.
    assert np.all(checkpoint.state["obs_rms/var"][:2] <= 1.0) and checkpoint.state["norm_returns"].shape == (2,)
    assert np.isfinite(ppo.evaluate(tmp_path, episodes=2))


def _builtin_as_flax(gymnax_env, hidden):
    """The built-in network (tanh MLPs, actor and critic apart) as a user would write it in flax."""
    import flax.linen as nn

    class ActorCritic(nn.Module):
        @nn.compact
        def __call__(self, obs):
            def mlp(x, out, name):
                for i in range(2):
                    x = jnp.tanh(nn.Dense(hidden, name=f"{name}{i}")(x))
                return nn.Dense(out, name=f"{name}2")(x)
            return mlp(obs, gymnax_env.num_actions, "actor"), mlp(obs, 1, "critic")

    return ActorCritic()


def _to_flax(params):
    return {"params": {f"{part}{i}": dict(params[part][str(i)]) for part in ("actor", "critic") for i in range(3)}}


def test_flax_policy_that_is_the_built_in_network_trains_to_its_params(tmp_path):
    pytest.importorskip("flax")
    config = TrainConfig(backend="jax", seed=2, total_steps=256, num_envs=4, num_steps=32, num_minibatches=2,
                         update_epochs=2)
    gymnax_env = gymnax_vec.make_env("CartPole-v1")
    module = _builtin_as_flax(gymnax_env, 64)
    # init: the built-in init, as the program calls it (same key), in flax's tree.
    start = jax_policy.init_params
    policy = (lambda key, obs: _to_flax(start(key, gymnax_env, 64)), module.apply)
    ppo.train(config, MemoryLogger(tmp_path / "built-in"))
    ppo.train(config, MemoryLogger(tmp_path / "flax"), policy=policy)
    _, want = load_checkpoint(tmp_path / "built-in")
    _, got = load_checkpoint(tmp_path / "flax")
    for part in ("actor", "critic"):
        for i in range(3):
            for leaf in ("kernel", "bias"):
                np.testing.assert_allclose(got.params[f"params/{part}{i}/{leaf}"], want.params[f"{part}/{i}/{leaf}"],
                                           rtol=1e-4, atol=1e-5)
    # Evaluation takes the flax module itself and loads the saved params into its tree: the
    # same return as the built-in policy evaluated with those params.
    from puffer_backend.pipelines.checkpoint import save_checkpoint

    renamed = {f"{part}/{i}/{leaf}": got.params[f"params/{part}{i}/{leaf}"] for part in ("actor", "critic")
               for i in range(3) for leaf in ("kernel", "bias")}
    save_checkpoint(tmp_path / "renamed", config, type(got)("jax", got.step, got.update, params=renamed))
    assert ppo.evaluate(tmp_path / "flax", episodes=3, policy=module) == ppo.evaluate(tmp_path / "renamed", episodes=3)


def test_user_policy_errors(tmp_path):
    with pytest.raises(TypeError, match="policy: expected a flax module or an"):
        ppo.train(TrainConfig(backend="jax", **SHORT), MemoryLogger(tmp_path), policy=42)

    def apply(params, obs):
        return obs @ params, jnp.zeros((obs.shape[0], 2))  # a value of the wrong shape

    with pytest.raises(ValueError, match=r"policy: expected a value of shape \(\d+,\) or \(\d+, 1\)"):
        ppo.train(TrainConfig(backend="jax", **SHORT), MemoryLogger(tmp_path),
                  policy=(lambda key, obs: jnp.zeros((4, 2)), apply))


def _fixed(width, *, normal=False):
    """(init, apply) of a policy whose distribution is `width` wide, whatever the env."""
    from puffer_backend import jax_impl

    def init(key, obs):
        return {"bias": jnp.zeros((width,))}

    def apply(params, obs):
        out = jnp.zeros((obs.shape[0], width)) + params["bias"]
        return (jax_impl.Normal(out, jnp.ones_like(out)) if normal else out), jnp.zeros((obs.shape[0],))

    return init, apply


@pytest.mark.parametrize("env_id, policy, message", [
    ("CartPole-v1", _fixed(1), r"logits of shape \(2, 2\): one logit per action of the env's 2 Discrete actions, "
                               r"received logits of shape \(2, 1\)$"),
    ("CartPole-v1", _fixed(3), r"logits of shape \(2, 2\).*received logits of shape \(2, 3\)$"),
    ("CartPole-v1", _fixed(2, normal=True), r"logits of shape \(2, 2\).*received a Normal$"),
    ("Pendulum-v1", _fixed(2, normal=True), r"a jax_impl.Normal over \(1, 1\) for the env's 1-wide Box actions, "
                                            r"received a Normal over \(1, 2\)$"),
    ("Pendulum-v1", _fixed(1), r"a jax_impl.Normal over \(1, 1\).*received an array of shape \(1, 1\), not a "
                               r"Normal$"),
])
def test_a_policy_whose_distribution_does_not_fit_the_actions_is_refused(tmp_path, env_id, policy, message):
    """Fewer logits than actions would train without ever taking the last ones: refused while
    the program is traced, before any update (the batch is each device's, here 2 envs or 1)."""
    from puffer_backend.spec.errors import BadValueError

    logger = MemoryLogger(tmp_path)
    config = TrainConfig.for_env(env_id, "jax", **{**SHORT, "num_envs": 2 if env_id == "CartPole-v1" else 1})
    with pytest.raises(BadValueError) as info:
        ppo.train(config, logger, policy=policy)
    # raised while JAX traces, which appends its traceback note to the text: the parts are whole
    assert re.match("^policy: expected " + message, str(info.value.renamed("policy"))), str(info.value)
    assert logger.records == [] and not (tmp_path / "checkpoint.npz").exists()


def test_a_flax_module_with_fewer_logits_is_refused(tmp_path):
    import flax.linen as nn

    from puffer_backend.spec.errors import BadValueError

    class OneLogit(nn.Module):
        @nn.compact
        def __call__(self, obs):
            return nn.Dense(1)(obs), nn.Dense(1)(obs)

    with pytest.raises(BadValueError) as info:
        ppo.train(TrainConfig(backend="jax", **SHORT), MemoryLogger(tmp_path), policy=OneLogit())
    assert (info.value.argument, info.value.expected.split(":")[0], info.value.received) == (
        "policy", "logits of shape (2, 2)", "logits of shape (2, 1)")
