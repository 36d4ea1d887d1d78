"""One rule for what an update reports, the same in every pipeline (pipelines.metrics): the
last minibatch's policy_loss, value_loss, entropy and approx_kl, and the mean clipfrac. The
torch learner's `update_losses` and the jax program's `reported_losses` are given the same
minibatch terms and must report the same five numbers, which are checked against numpy."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines.jax.program import LOSSES, reported_losses  # noqa: E402
from puffer_backend.pipelines.torch.learner import update_losses  # noqa: E402


@pytest.mark.parametrize("epochs, minibatches", [(1, 1), (1, 4), (3, 2), (4, 4)])
def test_torch_and_jax_report_the_same_losses(epochs, minibatches):
    rng = np.random.default_rng(epochs * 10 + minibatches)
    terms = rng.normal(size=(epochs, minibatches, len(LOSSES))).astype(np.float32)
    terms[..., -1] = rng.uniform(size=(epochs, minibatches))  # clip fractions
    flat = terms.reshape(-1, len(LOSSES))
    want = dict(zip(LOSSES, [*flat[-1, :-1], flat[:, -1].astype(np.float64).mean()]))

    got_jax = dict(zip(LOSSES, map(float, reported_losses(jnp.asarray(terms)))))
    last = [torch.tensor(v) for v in flat[-1, :-1]]
    got_torch = update_losses(*last, [torch.tensor(v) for v in flat[:, -1]])
    for key in LOSSES:
        assert got_jax[key] == pytest.approx(want[key], rel=1e-6, abs=1e-7), key
        assert got_torch[key] == pytest.approx(want[key], rel=1e-6, abs=1e-7), key
    if epochs * minibatches > 1:  # the last minibatch's, not the mean: the two differ here
        assert got_jax["policy_loss"] != pytest.approx(float(flat[:, 0].mean()), rel=1e-3)
