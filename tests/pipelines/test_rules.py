"""Each PPO rule once (pipelines.rules, pipelines.gae's bootstrap), the torch and JAX learners'
uses of it agreeing, each against an independent truth: the closed-form schedule, torch's
`clip_grad_norm_`, torch's and optax's Adam, numpy's unbiased std, the sum definition of GAE."""
import numpy as np
import pytest

from puffer_backend.pipelines import TrainConfig
from puffer_backend.pipelines.gae import gae_numpy
from puffer_backend.pipelines.rules import ADAM_BETAS, ADAM_EPS, learning_rate_at, normalized_advantages

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
pytest.importorskip("optax")
pytest.importorskip("gymnax")
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from puffer_backend.pipelines.jax import learner as jax_learner  # noqa: E402
from puffer_backend.pipelines.torch import learner as torch_learner  # noqa: E402

from .test_gae import gae_by_sums  # noqa: E402


def test_learning_rate_schedule_is_one_formula_in_both_learners():
    """CleanRL's `frac = 1 - (update - 1) / num_updates; lr = frac * learning_rate`, per update:
    the torch learner sets it per update, the jax one reads it from Adam's step count."""
    config = TrainConfig(learning_rate=2.5e-4, update_epochs=3, num_minibatches=2)
    num_updates = 7
    schedule = jax_learner._learning_rate(config, num_updates)
    model = torch.nn.Linear(2, 1)
    optimizer = torch_learner.make_optimizer(model, config.learning_rate)
    for update in range(1, num_updates + 1):
        want = (1.0 - (update - 1.0) / num_updates) * config.learning_rate
        torch_learner.anneal_learning_rate(optimizer, update, num_updates, config.learning_rate)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12)
        for step in range(6):  # every optimizer step of the update: 3 epochs x 2 minibatches
            count = (update - 1) * 6 + step
            assert float(schedule(jnp.asarray(count, jnp.int32))) == pytest.approx(want, rel=1e-6)
    assert learning_rate_at(3, 7, 1e-3, anneal=False) == 1e-3


@pytest.mark.parametrize("scale, max_norm", [(1e-3, 0.5), (0.3, 0.5), (40.0, 0.5), (3e-5, 1e-4)])
def test_gradient_clip_is_one_formula_in_both_learners(scale, max_norm):
    """torch's `clip_grad_norm_` is the truth; the torch learner's clip, the jax learner's optax
    transformation and its flat Adam's clip scale the same gradients the same way. At a norm
    of ~1.4e-4 the 1e-6 in `max_norm / (norm + 1e-6)` moves the result by ~0.7%: optax's own
    clip (`max_norm / norm`) would fail that case."""
    rng = np.random.default_rng(int(scale * 10))
    grads = [rng.normal(size=(5, 3)).astype(np.float32) * scale, rng.normal(size=7).astype(np.float32) * scale]
    params = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    want = np.concatenate([p.grad.numpy().reshape(-1) for p in params])

    listed = [torch.from_numpy(g.copy()) for g in grads]
    torch_learner.clip_gradients_(listed, max_norm)
    np.testing.assert_allclose(np.concatenate([g.numpy().reshape(-1) for g in listed]), want, rtol=1e-6)

    tree = {"a": jnp.asarray(grads[0]), "b": jnp.asarray(grads[1])}
    clip = jax_learner.clip_by_global_norm(max_norm)
    clipped, _ = clip.update(tree, clip.init(tree))
    np.testing.assert_allclose(np.concatenate([np.asarray(clipped["a"]).reshape(-1), np.asarray(clipped["b"])]),
                               want, rtol=1e-6)

    # The flat Adam clips inside its step: with lr 0 nothing moves, so read the clipped
    # gradient from Adam's first moment, (1 - beta1) * g.
    config = TrainConfig(learning_rate=0.0, max_grad_norm=max_norm, anneal_lr=False)
    adam = jax_learner.flat_adam(config, 1, tree)
    tx = jax_learner.make_optimizer(config, 1)
    flat_grad = jnp.concatenate([tree["a"].reshape(-1), tree["b"]])
    stepped = adam.step(adam.pack(tree, tx.init(tree)), flat_grad)
    np.testing.assert_allclose(np.asarray(stepped.mu) / (1.0 - ADAM_BETAS[0]), want, rtol=1e-5)


def test_adam_settings_and_step_agree_between_the_learners():
    """One optimizer step from the same weights and gradients: the torch learner's flat fused
    Adam, optax's chain of the jax learner and its flat Adam give the same weights (and use
    ADAM_BETAS / ADAM_EPS)."""
    config = TrainConfig(learning_rate=1e-2, max_grad_norm=0.5, anneal_lr=False)
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(3, 2)).astype(np.float32)
    grad = rng.normal(size=(3, 2)).astype(np.float32)

    module = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight))
    optimizer = torch_learner.make_optimizer(module, config.learning_rate)
    assert optimizer.param_groups[0]["betas"] == ADAM_BETAS and optimizer.param_groups[0]["eps"] == ADAM_EPS
    (flat,) = optimizer.param_groups[0]["params"]
    flat.grad.copy_(torch.from_numpy(grad.reshape(-1)))
    torch_learner.clip_gradients_([flat.grad], config.max_grad_norm)
    optimizer.step()
    want = module.weight.detach().numpy()

    params = {"w": jnp.asarray(weight)}
    tx = jax_learner.make_optimizer(config, 10)
    updates, _ = tx.update({"w": jnp.asarray(grad)}, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(optax.apply_updates(params, updates)["w"]), want, rtol=1e-5, atol=1e-7)

    adam = jax_learner.flat_adam(config, 10, params)
    stepped = adam.step(adam.pack(params, tx.init(params)), jnp.asarray(grad.reshape(-1)))
    np.testing.assert_allclose(np.asarray(adam.unravel(stepped.params)["w"]), want, rtol=1e-5, atol=1e-7)


def test_advantage_normalization_is_one_formula_in_both_learners():
    """numpy's `(adv - mean) / (std(ddof=1) + 1e-8)` is the truth, for torch tensors, JAX arrays
    and a minibatch split over devices (pmean over a named axis)."""
    adv = np.random.default_rng(1).normal(2.0, 3.0, size=64).astype(np.float32)
    want = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
    np.testing.assert_allclose(normalized_advantages(torch.from_numpy(adv)).numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(normalized_advantages(jnp.asarray(adv))), want, rtol=1e-5, atol=1e-6)
    split = jax.vmap(lambda part: normalized_advantages(part, lambda x: jax.lax.pmean(x, "devices"), 64),
                     axis_name="devices")(jnp.asarray(adv).reshape(4, 16))
    np.testing.assert_allclose(np.asarray(split).reshape(-1), want, rtol=1e-5, atol=1e-6)


def test_time_limit_bootstrap_is_one_formula_in_both_forms():
    """GAE with `limit_values` is GAE of `rewards + gamma * limit_values` by the sum definition,
    in the numpy form (torch and mixed) and the JAX form (jax)."""
    from puffer_backend.pipelines.gae import gae_jax

    rng = np.random.default_rng(2)
    rewards, values = rng.normal(size=(9, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)
    dones = rng.random((9, 3)) < 0.3
    limits = dones & (rng.random((9, 3)) < 0.5)
    limit_values = np.where(limits, rng.normal(size=(9, 3)), 0.0).astype(np.float32)
    last = rng.normal(size=3).astype(np.float32)
    want = gae_by_sums(rewards + 0.9 * limit_values, values, dones, last, 0.9, 0.8)
    got_numpy = gae_numpy(rewards, values, dones, last, 0.9, 0.8, limit_values=limit_values)
    got_jax = gae_jax(jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(dones), jnp.asarray(last), 0.9, 0.8,
                      jnp.asarray(limit_values))
    np.testing.assert_allclose(got_numpy, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_jax), want, rtol=1e-5, atol=1e-5)
