"""pipelines.networks: which leaves get a CNN and which; the torch and JAX built-in policies
compute the same function from the same weights."""
import numpy as np
import pytest

from puffer_backend.pipelines.networks import choose_encoders, encoder_for
from tests.pipelines.policy_cases import CASES, obs_dim


@pytest.mark.parametrize("shape, convs_out, out_size", [
    ((10, 10, 4), [(8, 8, 16)], 1024),                          # MinAtar
    ((5, 5, 3), [(3, 3, 16)], 144),                             # navix
    ((12, 12, 5), [(10, 10, 16)], 1600),                        # jumanji's grids
    ((35, 40, 1), [(33, 38, 16)], 33 * 38 * 16),                # below NatureCNN's smallest input
    ((36, 36, 1), [(8, 8, 32), (3, 3, 64), (1, 1, 64)], 512),   # NatureCNN's smallest input
    ((63, 63, 3), [(14, 14, 32), (6, 6, 64), (4, 4, 64)], 512),  # craftax pixels
    ((84, 84, 4), [(20, 20, 32), (9, 9, 64), (7, 7, 64)], 512),  # Atari, CleanRL's numbers
])
def test_image_leaves_and_their_encoders(shape, convs_out, out_size):
    encoder = encoder_for(shape)
    assert encoder.conv_shapes() == convs_out and encoder.out_size == out_size


@pytest.mark.parametrize("shape", [(), (1,), (4,), (10, 10), (4, 10, 10), (10, 4, 3), (2, 3, 4, 5)])
def test_other_leaves_are_not_images(shape):
    assert encoder_for(shape) is None


def test_the_network_choice():
    shapes = [(12, 12, 5), (), (4,)]
    assert [e is not None for e in choose_encoders(shapes, "auto")] == [True, False, False]
    assert choose_encoders(shapes, "cnn") == choose_encoders(shapes, "auto")
    assert choose_encoders(shapes, "mlp") == (None, None, None)
    assert choose_encoders([(4,)], "auto") == (None,)
    with pytest.raises(ValueError, match=r"^config.network: expected 'auto' or 'mlp' .*received 'cnn' for leaves "
                                         r"of shapes \(4,\), \(\)$"):
        choose_encoders([(4,), ()], "cnn", "config.network")
    with pytest.raises(ValueError, match=r"^network: expected one of \['auto', 'mlp', 'cnn'\], received 'CNN'$"):
        choose_encoders([(4,)], "CNN")


def _torch_state(params) -> dict:
    """The JAX params in the torch Agent's names and layouts: dense kernels (in, out) -> (out,
    in), conv kernels (h, w, in, out) -> (out, in, h, w)."""
    import torch
    state = {}
    for head, depth in (("actor", 3), ("critic", 3)):
        for i in range(depth):
            state[f"{head}.{2 * i}.weight"] = np.asarray(params[head][str(i)]["kernel"]).T
            state[f"{head}.{2 * i}.bias"] = np.asarray(params[head][str(i)]["bias"])
    for leaf, layers in params.get("cnn", {}).items():
        for name, layer in layers.items():
            kernel = np.asarray(layer["kernel"])
            where = f"encoders.{leaf}.dense" if name == "dense" else f"encoders.{leaf}.convs.{name[len('conv'):]}"
            state[f"{where}.weight"] = kernel.T if kernel.ndim == 2 else kernel.transpose(3, 2, 0, 1)
            state[f"{where}.bias"] = np.asarray(layer["bias"])
    return {name: torch.from_numpy(np.array(value)) for name, value in state.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_and_jax_policies_compute_the_same_function(case):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    from puffer_backend.pipelines.jax import policy as jax_policy
    from puffer_backend.pipelines.torch.policy import Agent
    from puffer_backend.spec import Discrete
    from tests.pipelines.policy_cases import gymnax_env, torch_layout

    obs_leaves, _ = CASES[case]
    spec = gymnax_env(obs_leaves, num_actions=5)
    params = jax_policy.init_params(jax.random.PRNGKey(7), spec, 32)
    # Biases are zero at init: random ones, so that a misplaced bias shows.
    params = jax.tree.map(lambda x: x + 0.1 * jax.random.normal(jax.random.PRNGKey(x.size), x.shape), params)
    agent = Agent(torch_layout(obs_leaves), Discrete(5), 32)
    state = _torch_state(params)
    assert set(state) == set(agent.state_dict())
    agent.load_state_dict(state)

    obs = np.array(jax.random.uniform(jax.random.PRNGKey(8), (6, obs_dim(obs_leaves))))
    logits, value = jax_policy.apply_policy(params, obs, jax_policy.encoder_plan(spec))
    with torch.no_grad():
        rows = torch.from_numpy(obs)
        torch_logits, torch_value = agent.actor(agent.features(rows)), agent.get_value(rows)
    np.testing.assert_allclose(torch_logits.numpy(), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(torch_value.numpy(), value, rtol=1e-5, atol=1e-5)
