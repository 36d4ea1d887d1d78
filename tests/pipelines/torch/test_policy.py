"""The torch agent: features from packed rows, the fused rollout step equal to forward, pickling."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
gymnasium = pytest.importorskip("gymnasium")

from puffer_backend.pipelines.envs.gym_vec import GymVecEnv  # noqa: E402
from puffer_backend.pipelines.torch.policy import build_agent  # noqa: E402


def test_blackjack_features_follow_the_tuple():
    env = GymVecEnv("Blackjack-v1", 6)
    agent = build_agent(env, 8)
    obs = env.reset(seed=2)
    raw, _ = env.env.reset(seed=2)
    want = np.stack([np.asarray(part, np.float32) for part in raw], axis=1)
    np.testing.assert_array_equal(agent.features(obs).numpy(), want)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_fused_rollout_step_matches_forward(env_id):
    env = GymVecEnv(env_id, 16)
    agent = build_agent(env, 64)
    obs = env.reset(seed=4)
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.1, fused=True)  # the pipelines' kernel
    for round_ in range(2):
        agent.refresh_rollout_weights()
        with torch.inference_mode():
            a1, lp1, v1 = agent.rollout_step(obs, torch.Generator().manual_seed(round_))
            a2, lp2, _, v2 = agent(obs, generator=torch.Generator().manual_seed(round_))
        torch.testing.assert_close(a1, a2)
        torch.testing.assert_close(lp1, lp2, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(v1, v2, rtol=1e-5, atol=1e-6)
        # A training step changes the weights; the fused copy must follow.
        optimizer.zero_grad()
        agent(obs)[3].sum().backward()
        optimizer.step()


def test_agent_deepcopies_and_pickles():
    import copy
    import io
    env = GymVecEnv("CartPole-v1", 2)
    agent = build_agent(env, 8)
    clone = copy.deepcopy(agent)
    obs = env.reset(seed=0)
    with torch.no_grad():
        torch.testing.assert_close(clone.get_value(obs), agent.get_value(obs))
    torch.save(agent, io.BytesIO())


# --- structured and pixel observations (pipelines.networks) ---------------------------------

from puffer_backend import torch_impl  # noqa: E402
from puffer_backend.pipelines.torch.policy import Agent, action_mask_path  # noqa: E402
from puffer_backend.pipelines.torch.user_policy import UserPolicy  # noqa: E402
from puffer_backend.spec import Discrete, MultiDiscrete  # noqa: E402
from tests.pipelines.policy_cases import CASES, obs_dim, torch_layout  # noqa: E402


@pytest.mark.parametrize("case", list(CASES))
def test_image_leaves_get_a_cnn_of_the_documented_width(case):
    obs_leaves, width = CASES[case]
    agent = Agent(torch_layout(obs_leaves), Discrete(4), 16)
    assert agent.network == "cnn" and agent.actor[0].in_features == width == agent.critic[0].in_features
    obs = torch.rand(5, obs_dim(obs_leaves))
    if case == "snake":
        obs[:, -4:] = 1.0  # every action allowed
    assert agent.features(obs).shape == (5, width)
    action, logprob, entropy, value = agent(obs)
    assert action.shape == logprob.shape == entropy.shape == value.shape == (5,)
    assert action.dtype == torch.int64 and torch.isfinite(logprob).all() and torch.isfinite(value).all()


def test_mlp_network_is_the_flat_agent():
    """network="mlp" on an image leaf: the flat MLP over the flattened row, the fused rollout."""
    layout = torch_layout(CASES["minatar"][0])
    agent = Agent(layout, Discrete(3), 8, "mlp")
    assert agent.network == "mlp" and tuple(agent.actor[0].weight.shape) == (8, 400)
    assert not any(name.startswith("encoders") for name, _ in agent.named_parameters())
    obs = torch.rand(4, 400)
    torch.testing.assert_close(agent.features(obs), obs, rtol=0, atol=0)


def test_cnn_is_refused_without_an_image_leaf():
    env = GymVecEnv("CartPole-v1", 2)
    with pytest.raises(ValueError, match=r"^config.network: expected 'auto' or 'mlp' for an observation without "
                                         r"an image leaf .*received 'cnn' for leaves of shapes \(4,\)$"):
        build_agent(env, 8, "cnn")
    with pytest.raises(ValueError, match=r"^network: expected one of \['auto', 'mlp', 'cnn'\], received 'big'$"):
        Agent(env.observation_layout, env.action_spec, 8, "big")


def test_cnn_rollout_step_is_forward():
    agent = Agent(torch_layout(CASES["navix"][0]), Discrete(7), 16)
    obs = torch.rand(6, 75)
    agent.refresh_rollout_weights()
    with torch.no_grad():
        a1, lp1, v1 = agent.rollout_step(obs, torch.Generator().manual_seed(3))
        a2, lp2, _, v2 = agent(obs, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close((a1, lp1, v1), (a2, lp2, v2), rtol=0, atol=0)


def test_cnn_encoder_is_convolutions_by_hand():
    """The MinAtar encoder is relu(conv 3x3) over the channels-last leaf, flattened in (h, w, c)
    order: checked against a loop over the 3x3 windows in numpy."""
    agent = Agent(torch_layout(CASES["navix"][0]), Discrete(3), 8)
    conv = agent.encoders["0"].convs[0]
    x = torch.randn(2, 5, 5, 3)
    weight, bias = conv.weight.detach().numpy(), conv.bias.detach().numpy()  # (16, 3, 3, 3)
    want = np.zeros((2, 3, 3, 16), np.float32)
    for i in range(3):
        for j in range(3):
            window = x.numpy()[:, i:i + 3, j:j + 3, :]  # (batch, kh, kw, c)
            want[:, i, j] = np.einsum("bhwc,ochw->bo", window, weight) + bias
    got = agent.encoders["0"](x).detach().numpy()
    np.testing.assert_allclose(got, np.maximum(want, 0).reshape(2, -1), rtol=1e-5, atol=1e-5)


def test_uint8_pixels_are_scaled_to_unit_range():
    """A uint8 image leaf (a gymnasium pixel Box) is divided by 255 before its convolutions; a
    float leaf is taken as it is."""
    space = gymnasium.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    agent = Agent(torch_impl.nativize_dtype(space), Discrete(3), 8)
    rows = torch.randint(0, 256, (4, 192), dtype=torch.uint8)
    encoder = agent.encoders["0"]
    with torch.no_grad():
        got = agent.features(rows)
        encoder.scale = None  # the float encoder on pixels scaled by hand
        want = encoder(rows.float().reshape(4, 8, 8, 3) / 255.0)
    torch.testing.assert_close(got, want)
    assert Agent(torch_layout(CASES["navix"][0]), Discrete(3), 8).encoders["0"].scale is None


# --- action masks --------------------------------------------------------------------------

def _masked_rows(rows: int, width: int, seed: int, at: slice = slice(0, 4)):
    """Random rows whose columns `at` hold a random mask of 4 actions that allows at least one."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(rows, 4, generator=gen) < 0.5
    mask[torch.arange(rows), torch.randint(0, 4, (rows,), generator=gen)] = True
    obs = torch.randn(rows, width, generator=gen) * 3
    obs[:, at] = mask.float()
    return obs, mask


MASK_LEAVES = (("action_mask", (4,)), ("x", (3,)))


@pytest.mark.parametrize("network_leaves", ["flat", "snake"])
def test_masked_agent_never_samples_a_disallowed_action(network_leaves):
    if network_leaves == "flat":
        layout, width, mask_at = torch_layout(MASK_LEAVES), 7, slice(0, 4)
    else:
        layout, width, mask_at = torch_layout(CASES["snake"][0]), obs_dim(CASES["snake"][0]), slice(-4, None)
    agent = Agent(layout, Discrete(4), 16)
    # A large actor head: unmasked, the policy would often pick what the mask forbids.
    with torch.no_grad():
        agent.actor[4].weight.mul_(300.0)
    obs, mask = _masked_rows(3000, width, seed=1, at=mask_at)
    agent.refresh_rollout_weights()
    with torch.no_grad():
        logits = agent.actor(agent.features(obs))
        assert (logits.argmax(1) != torch.where(mask, logits, -torch.inf).argmax(1)).any()  # the mask matters
        truth = torch.distributions.Categorical(logits=logits.masked_fill(~mask, -torch.inf))
        for action, logprob, entropy in [
                agent(obs)[:3], agent(obs, generator=torch.Generator().manual_seed(0))[:3],
                agent(obs, deterministic=True)[:3], (*agent.rollout_step(obs)[:2], None)]:
            assert mask[torch.arange(len(obs)), action].all()
            torch.testing.assert_close(logprob, truth.log_prob(action), rtol=1e-5, atol=1e-5)
            if entropy is not None:
                torch.testing.assert_close(entropy, truth.entropy(), rtol=1e-5, atol=1e-5)
        # Scoring the stored actions (the update's forward) uses the same masked distribution.
        stored = truth.sample()
        torch.testing.assert_close(agent(obs, stored)[1], truth.log_prob(stored), rtol=1e-5, atol=1e-5)


def test_a_mask_of_another_width_or_action_space_is_a_plain_leaf():
    layout = torch_layout(MASK_LEAVES)
    assert action_mask_path(layout, Discrete(4)) == ("action_mask",)
    assert action_mask_path(layout, Discrete(5)) is None
    assert action_mask_path(layout, MultiDiscrete((2, 2))) is None
    assert action_mask_path(torch_layout((("x", (4,)),)), Discrete(4)) is None


class _Uniform(torch.nn.Module):
    """A user's policy that ignores the mask: equal logits for the 4 actions."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(4))

    def forward(self, obs):
        return self.bias.expand(obs.shape[0], 4), obs[:, 0]


def test_users_policy_is_masked_by_the_observation():
    obs, mask = _masked_rows(3000, 7, seed=2)
    model = UserPolicy(_Uniform(), torch_layout(MASK_LEAVES), Discrete(4))
    truth = torch.distributions.Categorical(logits=torch.zeros(3000, 4).masked_fill(~mask, -torch.inf))
    with torch.no_grad():
        for action, logprob in [model(obs)[:2], model.rollout_step(obs)[:2], model(obs, deterministic=True)[:2]]:
            assert mask[torch.arange(len(obs)), action].all()
            torch.testing.assert_close(logprob, truth.log_prob(action))
        unmasked = UserPolicy(_Uniform())(obs)[0]
    assert not mask[torch.arange(len(obs)), unmasked].all()  # without the layout, no mask


@pytest.mark.parametrize("part, words", [("loc", "logits.loc"), ("scale", "logits.scale")])
def test_a_continuous_head_that_is_not_finite_is_refused_by_the_sampler(part, words):
    """The agent builds its Normal without torch.distributions' own argument checks;
    sample_logits' checks refuse a NaN mean or an infinite standard deviation instead, in
    the rollout step, forward and the update's re-scoring alike."""
    from puffer_backend.spec import Continuous

    agent = Agent((torch.float32, (3,), 0, 3), Continuous((2,)), 8)  # one float32 leaf: rows are observations
    obs = torch.randn(5, 3)
    with torch.no_grad():
        if part == "loc":
            agent.actor[4].bias.fill_(float("nan"))
        else:
            agent.actor_logstd.fill_(float("inf"))
    for call in (lambda: agent(obs), lambda: agent(obs, torch.zeros(5, 2)), lambda: agent.rollout_step(obs)):
        with pytest.raises(ValueError, match=words):
            call()
