"""A user's torch policy in the torch and mixed pipelines: `policy(obs) -> (dist_input, value)`.

The truth for the training path: a user's module that is the built-in agent's network, with
the same initial weights, trains to the same weights (the built-in path's fused rollout and
flat Adam are the same arithmetic). The truth for evaluation: a greedy rollout written here
with gymnasium and the module itself."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
gym = pytest.importorskip("gymnasium")
from torch import nn  # noqa: E402

from puffer_backend import torch_impl  # noqa: E402
from puffer_backend.pipelines import MemoryLogger, TrainConfig  # noqa: E402
from puffer_backend.pipelines.checkpoint import load_checkpoint  # noqa: E402
from puffer_backend.pipelines.torch import ppo  # noqa: E402
from puffer_backend.pipelines.torch.policy import Agent  # noqa: E402
from puffer_backend.pipelines.torch.runtime import seed_everything  # noqa: E402
from puffer_backend.spec import Continuous, Discrete, MultiDiscrete  # noqa: E402
from puffer_backend.spec.errors import BadValueError  # noqa: E402

SHORT = dict(total_steps=1024, num_envs=4, num_steps=64, num_minibatches=4, update_epochs=2)


class Twin(nn.Module):
    """The built-in agent's actor and critic, as a user would write them."""

    def __init__(self, agent: Agent):
        super().__init__()
        self.actor = agent.actor
        self.critic = agent.critic

    def forward(self, obs):
        x = obs.float()
        return self.actor(x), self.critic(x)


def _cartpole_agent(seed):
    seed_everything(seed)  # the pipeline seeds the same way before building its agent
    layout = torch_impl.nativize_dtype(gym.make("CartPole-v1").observation_space)
    return Agent(layout, Discrete(2), 64)


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_users_policy_trains_like_the_built_in_agent(backend, tmp_path):
    if backend == "mixed":
        pytest.importorskip("jax")
        pytest.importorskip("gymnax")
    config = TrainConfig(backend=backend, seed=5, **SHORT)
    pipeline = ppo if backend == "torch" else pytest.importorskip("puffer_backend.pipelines.mixed.ppo")
    built_in = MemoryLogger(tmp_path / "built-in")
    pipeline.train(config, built_in)
    twin = Twin(_cartpole_agent(5))
    logger = MemoryLogger(tmp_path / "user")
    pipeline.train(config, logger, policy=twin)
    # Trained in place, and saved under its own state-dict names.
    _, want = load_checkpoint(tmp_path / "built-in")
    _, got = load_checkpoint(tmp_path / "user")
    assert sorted(got.params) == sorted(twin.state_dict()) == sorted(k for k in want.params if k != "actor_logstd")
    for name, value in twin.state_dict().items():
        np.testing.assert_allclose(value.numpy(), want.params[name], rtol=2e-4, atol=2e-5)
        np.testing.assert_array_equal(value.numpy(), got.params[name])
    assert [row["episodes"] for row in logger.records] == [row["episodes"] for row in built_in.records]


def test_evaluate_with_users_policy_is_a_greedy_rollout(tmp_path):
    twin = Twin(_cartpole_agent(1))
    ppo.train(TrainConfig(backend="torch", seed=1, **SHORT), MemoryLogger(tmp_path), policy=twin)
    fresh = Twin(_cartpole_agent(99))  # other weights: evaluate must load the saved ones
    got = ppo.evaluate(tmp_path, episodes=3, seed=7, policy=fresh)
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    obs, _ = envs.reset(seed=7)
    returns, finished = np.zeros(3), np.zeros(3, bool)
    with torch.no_grad():
        while not finished.all():
            logits, _ = twin(torch.from_numpy(obs))
            obs, reward, terminated, truncated, _ = envs.step(logits.argmax(1).numpy())
            returns += np.where(finished, 0.0, reward)
            finished |= terminated | truncated
    assert got == pytest.approx(returns.mean())


class DictPolicy(nn.Module):
    """PufferLib-style: unpack the packed rows with nativize_tensor, one head per action."""

    def __init__(self, observation_space):
        super().__init__()
        self.layout = torch_impl.nativize_dtype(observation_space)
        self.encode = nn.Linear(2 + 3 + 3, 32)
        self.heads = nn.Linear(32, 3 + 2)
        self.value = nn.Linear(32, 1)

    def forward(self, obs):
        parts = torch_impl.nativize_tensor(obs, self.layout)
        goal = nn.functional.one_hot(parts["goal"].reshape(-1).long(), 3).float()
        x = torch.cat([parts["position"], goal, parts["flags"].float()], dim=1)
        hidden = torch.relu(self.encode(x))
        return torch.split(self.heads(hidden), [3, 2], dim=1), self.value(hidden)


def test_users_policy_on_a_dict_env_learns_the_rule(tmp_path):
    """The toy Dict env pays 1 when the first action head names the Discrete part: the policy,
    reading it through nativize_tensor, learns that rule (checked on fresh observations,
    packed as the pipeline packs them; a policy that ignores the goal is right 1/3 of the time)."""
    from gymnasium.vector.utils import concatenate, create_empty_array

    from puffer_backend.spec import pack_batch
    from tests.pipelines.envs.toy_envs import DictEnv

    space = DictEnv().observation_space
    policy = DictPolicy(space)
    config = TrainConfig(backend="torch", env_id="tests.pipelines.envs.toy_envs:make_dict_env", total_steps=10_240,
                         num_envs=4, num_steps=128, learning_rate=3e-3, seed=0)
    ppo.train(config, MemoryLogger(tmp_path), policy=policy)
    env = DictEnv()
    samples = [env.reset(seed=1000 + i)[0] for i in range(300)]
    rows = pack_batch(space, concatenate(space, samples, create_empty_array(space, len(samples))))
    with torch.no_grad():
        (first_head, _), _ = policy(torch.from_numpy(rows))
    goals = np.array([sample["goal"] for sample in samples])
    assert (first_head.argmax(1).numpy() == goals).mean() > 0.9


def test_policy_with_the_wrong_action_head_is_refused(tmp_path):
    class Continuous(nn.Module):
        def __init__(self):
            super().__init__()
            self.mean = nn.Linear(4, 1)

        def forward(self, obs):
            return torch.distributions.Normal(self.mean(obs), 1.0), self.mean(obs)

    with pytest.raises(ValueError, match=r"^policy: expected logits of shape \(4, 2\): one logit per action of the "
                                         r"env's Discrete\(n=2\), received a Normal$"):
        ppo.train(TrainConfig(backend="torch", **SHORT), MemoryLogger(tmp_path), policy=Continuous())

    class BadValue(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 2)

        def forward(self, obs):
            out = self.layer(obs)
            return out, out  # a value of shape (batch, 2)

    with pytest.raises(ValueError, match=r"^policy: expected a value of shape \(4,\) or \(4, 1\)"):
        ppo.train(TrainConfig(backend="torch", **SHORT), MemoryLogger(tmp_path), policy=BadValue())
    with pytest.raises(TypeError, match="^policy: expected a torch.nn.Module"):
        ppo.train(TrainConfig(backend="torch", **SHORT), MemoryLogger(tmp_path), policy=lambda obs: obs)


def test_multidiscrete_spec_check():
    from puffer_backend.pipelines.torch.user_policy import UserPolicy, check_policy_actions

    class Heads(nn.Module):
        def forward(self, obs):
            return (torch.zeros(obs.shape[0], 3), torch.zeros(obs.shape[0], 2)), torch.zeros(obs.shape[0])

    check_policy_actions(UserPolicy(Heads()), torch.zeros(5, 4), MultiDiscrete((3, 2)))
    with pytest.raises(ValueError, match="policy: expected"):
        check_policy_actions(UserPolicy(Heads()), torch.zeros(5, 4), MultiDiscrete((3, 2, 2)))


class _Logits(nn.Module):
    """Returns fixed logits of `widths` (one tensor, or a tuple of heads) and a zero value."""

    def __init__(self, *widths, heads=False):
        super().__init__()
        self.widths, self.heads = widths, heads
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, obs):
        logits = tuple(torch.zeros(obs.shape[0], w) + self.bias for w in self.widths)
        return (logits if self.heads else logits[0]), torch.zeros(obs.shape[0])


class _Gaussian(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(width))

    def forward(self, obs):
        mean = self.mean.expand(obs.shape[0], -1)
        return torch.distributions.Normal(mean, torch.ones_like(mean)), torch.zeros(obs.shape[0])


@pytest.mark.parametrize("policy, spec, message", [
    (_Logits(2), Discrete(3), r"logits of shape \(5, 3\): one logit per action of the env's Discrete\(n=3\), "
                              r"received logits of shape \(5, 2\)$"),
    (_Logits(4), Discrete(3), r"logits of shape \(5, 3\).*received logits of shape \(5, 4\)$"),
    (_Logits(3, 1, heads=True), MultiDiscrete((3, 2)),
     r"logits of shape \(5, 3\), \(5, 2\) \(a tuple, one per head\).*received logits of shape \(5, 3\), \(5, 1\)$"),
    (_Logits(3, heads=True), MultiDiscrete((3, 2)), r"logits of shape .*received logits of shape \(5, 3\)$"),
    (_Logits(5), MultiDiscrete((3, 2)), r"logits of shape .*\(a tuple, one per head\).*received logits of shape "
                                        r"\(5, 5\)$"),
    (_Gaussian(1), Continuous((2,)), r"a torch.distributions.Normal over \(5, 2\) for the env's Continuous.*"
                                     r"received a Normal over \(5, 1\)$"),
    (_Logits(2), Continuous((2,)), r"a torch.distributions.Normal over \(5, 2\).*received a tensor of shape "
                                   r"\(5, 2\), not a Normal$"),
])
def test_a_distribution_narrower_or_wider_than_the_action_space_is_refused(policy, spec, message):
    """Fewer logits than actions would train (sampling only ever picks the first ones): refused."""
    from puffer_backend.pipelines.torch.user_policy import UserPolicy, check_policy_actions

    with pytest.raises(BadValueError, match="^policy: expected " + message):
        check_policy_actions(UserPolicy(policy), torch.zeros(5, 4), spec)


def test_the_right_widths_pass():
    from puffer_backend.pipelines.torch.user_policy import UserPolicy, check_policy_actions

    check_policy_actions(UserPolicy(_Logits(3)), torch.zeros(5, 4), Discrete(3))
    check_policy_actions(UserPolicy(_Logits(3, 2, heads=True)), torch.zeros(5, 4), MultiDiscrete((3, 2)))
    check_policy_actions(UserPolicy(_Gaussian(2)), torch.zeros(5, 4), Continuous((2,)))


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_fewer_logits_than_cartpole_has_actions_is_refused_before_training(backend, tmp_path):
    if backend == "mixed":
        pytest.importorskip("gymnax")
    from puffer_backend.pipelines import load_pipeline

    logger = MemoryLogger(tmp_path)
    with pytest.raises(BadValueError, match=r"^policy: expected logits of shape \(4, 2\): one logit per action of "
                                            r"the env's Discrete\(n=2\), received logits of shape \(4, 1\)$"):
        load_pipeline(backend).train(TrainConfig(backend=backend, **SHORT), logger, policy=_Logits(1))
    assert logger.records == [] and list(tmp_path.iterdir()) == []


class TurnsNaN(nn.Module):
    """A user's CartPole policy whose logits turn NaN from its `after`-th forward call on (the
    rollout calls it once per step): what a policy that overflows looks like to the pipeline."""

    def __init__(self, after: int):
        super().__init__()
        self.body = nn.Linear(4, 2)
        self.value = nn.Linear(4, 1)
        self.calls, self.after = 0, after

    def forward(self, obs):
        self.calls += 1
        logits = self.body(obs.float())
        if self.calls > self.after:
            logits = logits * float("nan")
        return logits, self.value(obs.float())


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_a_policy_whose_logits_turn_nan_stops_the_run_naming_the_update(backend, tmp_path):
    """Before, such a run trained to its end on NaN losses and returned normally. Now the
    update whose losses are NaN stops it; the last good checkpoint stays."""
    if backend == "mixed":
        pytest.importorskip("jax")
        pytest.importorskip("gymnax")
    from puffer_backend.pipelines.training_run import NonFiniteError

    pipeline = ppo if backend == "torch" else pytest.importorskip("puffer_backend.pipelines.mixed.ppo")
    config = TrainConfig(backend=backend, save_every=1, target_return=None, **SHORT)  # 64 rollout steps an update
    policy = TurnsNaN(after=64 * 2 + 10)  # the 3rd rollout's 10th step (plus the pipeline's first check)
    with pytest.raises(NonFiniteError, match=r"^update [23]: .*not finite; training stopped, the checkpoint of "
                                             r"update [12] is kept$"):
        pipeline.train(config, MemoryLogger(tmp_path), policy=policy)
    _, checkpoint = load_checkpoint(tmp_path)
    assert all(np.isfinite(value).all() for value in checkpoint.params.values())
