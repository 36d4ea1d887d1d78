"""The jax learner: the PPO loss against numpy's CleanRL formula, the truncation bootstrap's
gathered critic pass, and the annealed optimizer."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines import TrainConfig  # noqa: E402
from puffer_backend.pipelines.envs import gymnax_vec as gymnax_envs  # noqa: E402
from puffer_backend.pipelines.jax import learner as jax_learner, policy as jax_policy  # noqa: E402


def _np_forward(layers, x):
    for i in range(len(layers)):
        x = x @ np.asarray(layers[str(i)]["kernel"], np.float64) + np.asarray(layers[str(i)]["bias"], np.float64)
        if i < len(layers) - 1:
            x = np.tanh(x)
    return x


@pytest.mark.parametrize("count", [0, 1, 3, 6])
def test_truncated_values_equal_dense_evaluation(count):
    """V(final_obs) on the gathered truncated rows equals V on every row, masked."""
    rng = np.random.default_rng(count)
    final_obs = jnp.asarray(rng.normal(size=(10, 3, 4)), jnp.float32)
    truncated = np.zeros((10, 3), bool)
    truncated.reshape(-1)[rng.choice(30, count, replace=False)] = True
    truncated[0, 0] = count > 0 or truncated[0, 0]  # index 0, which the padding repeats, is a real row
    value_fn = lambda o: jnp.tanh(o).sum(-1) + 1.0  # noqa: E731
    want = np.where(truncated, np.asarray(value_fn(final_obs)), 0.0)
    got = jax.jit(lambda o, t: jax_learner.truncated_values(value_fn, o, t, 7))(final_obs, jnp.asarray(truncated))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_ppo_loss_matches_numpy_cleanrl_formula():
    cfg = TrainConfig()
    spec = gymnax_envs.make_env("CartPole-v1")
    params = jax_policy.init_params(jax.random.PRNGKey(3), spec, 16)
    # Perturb the (near-uniform at init) actor head so that ratios move away from 1 and clip.
    params["actor"]["2"]["kernel"] = params["actor"]["2"]["kernel"] + 0.5
    rng = np.random.default_rng(2)
    B = 32
    obs = rng.normal(size=(B, 4)).astype(np.float32)
    action = rng.integers(0, 2, size=B).astype(np.int32)
    old_logprob = np.log(rng.uniform(0.2, 0.8, size=B)).astype(np.float32)
    old_value = rng.normal(size=B).astype(np.float32)
    adv = rng.normal(size=B).astype(np.float32)
    ret = rng.normal(size=B).astype(np.float32)
    mb = tuple(map(jnp.asarray, (obs, action, old_logprob, old_value, adv, ret)))
    loss, (pg, vl, ent, kl, clipfrac) = jax_learner.ppo_loss(params, mb, jax.random.PRNGKey(0), cfg)

    logits = _np_forward(params["actor"], obs.astype(np.float64))
    value = _np_forward(params["critic"], obs.astype(np.float64))[:, 0]
    logp_all = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    logp = logp_all[np.arange(B), action]
    ratio = np.exp(logp - old_logprob)
    nadv = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)  # CleanRL: torch's unbiased std
    pg_want = np.maximum(-nadv * ratio, -nadv * np.clip(ratio, 0.8, 1.2)).mean()
    clipped = old_value + np.clip(value - old_value, -0.2, 0.2)
    vl_want = 0.5 * np.maximum((value - ret) ** 2, (clipped - ret) ** 2).mean()
    ent_want = -(np.exp(logp_all) * logp_all).sum(-1).mean()
    kl_want = ((ratio - 1) - (logp - old_logprob)).mean()
    clipfrac_want = np.mean(np.abs(ratio - 1) > 0.2)
    assert 0 < clipfrac_want < 1  # the clip is exercised, not everywhere
    assert float(clipfrac) == clipfrac_want  # a count over 32 samples: exact
    for got, want in [(pg, pg_want), (vl, vl_want), (ent, ent_want), (kl, kl_want),
                      (loss, pg_want - 0.01 * ent_want + 0.5 * vl_want)]:
        np.testing.assert_allclose(float(got), want, rtol=2e-4, atol=1e-6)


def test_lr_anneals_linearly_per_update():
    cfg = TrainConfig(update_epochs=2, num_minibatches=2, learning_rate=1e-3)
    tx = jax_learner.make_optimizer(cfg, num_updates=4)
    params = {"w": jnp.zeros(())}
    state = tx.init(params)
    steps = []
    for _ in range(16):  # 4 updates x 4 minibatch steps; gradient 1 -> Adam's step is ~lr
        updates, state = tx.update({"w": jnp.ones(())}, state, params)
        steps.append(-float(updates["w"]))
    np.testing.assert_allclose(steps[::4], [1e-3, 7.5e-4, 5e-4, 2.5e-4], rtol=1e-3)


def _minibatch(rng, rows=32):
    return (jnp.asarray(rng.normal(size=(rows, 4)), jnp.float32), jnp.asarray(rng.integers(0, 2, rows)),
            jnp.asarray(rng.normal(-0.7, 0.1, rows), jnp.float32), jnp.asarray(rng.normal(size=rows), jnp.float32),
            jnp.asarray(rng.normal(size=rows), jnp.float32), jnp.asarray(rng.normal(size=rows), jnp.float32))


@pytest.mark.parametrize("anneal_lr, max_grad_norm", [(True, 0.5), (False, 0.5), (True, 100.0)])
def test_flat_adam_steps_as_optax(anneal_lr, max_grad_norm):
    """The program's flat optimizer gives optax's params and state after several minibatch
    steps, with the clip active (0.5) or not (100), the learning rate annealed or constant."""
    cfg = TrainConfig(update_epochs=2, num_minibatches=2, learning_rate=1e-2, anneal_lr=anneal_lr,
                      max_grad_norm=max_grad_norm)
    spec = gymnax_envs.make_env("CartPole-v1")
    params = jax_policy.init_params(jax.random.PRNGKey(0), spec, hidden_size=16)
    tx = jax_learner.make_optimizer(cfg, num_updates=3)
    adam = jax_learner.flat_adam(cfg, 3, params)
    rng = np.random.default_rng(1)
    ref, ref_state = params, tx.init(params)
    flat = adam.pack(params, tx.init(params))
    key = jax.random.PRNGKey(2)
    norms = []
    for _ in range(8):  # two updates' worth: the annealed rate changes after four steps
        mb = _minibatch(rng)
        grads = jax.grad(lambda p: jax_learner.ppo_loss(p, mb, key, cfg)[0])(ref)
        norms.append(float(jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads)))))
        ref, ref_state, ref_aux = jax_learner.minibatch_step(ref, ref_state, mb, key, cfg, tx)
        flat, aux = jax_learner.flat_minibatch_step(flat, mb, key, cfg, adam)
        np.testing.assert_allclose(np.asarray(aux), np.asarray(ref_aux), rtol=1e-4, atol=1e-6)
    assert (max(norms) > max_grad_norm) == (max_grad_norm < 1)  # the clip is exercised where meant
    got_params, got_state = adam.unpack(flat, tx.init(params))
    assert jax.tree.structure(got_state) == jax.tree.structure(ref_state)
    for got, want in zip(jax.tree.leaves((got_params, got_state)), jax.tree.leaves((ref, ref_state))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=1e-6)
    moved = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(got_params), jax.tree.leaves(params)))
    assert moved > 1e-3  # the steps did move the params


def test_flat_adam_declines_params_that_are_not_float32():
    cfg = TrainConfig()
    assert jax_learner.flat_adam(cfg, 3, {"w": jnp.zeros(3, jnp.bfloat16)}) is None
    assert jax_learner.flat_adam(cfg, 3, {"w": jax.ShapeDtypeStruct((3,), jnp.float32)}) is not None
