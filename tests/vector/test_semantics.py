"""JaxVectorEnv against gymnax itself: the same transitions with the same keys, gymnasium's
SAME_STEP autoreset and episode statistics against sums kept by the test, spaces, tensor
lifetimes and every refusal.

Float results are compared to 1e-5: XLA fuses the adapter's step and gymnax's jitted step
differently, and the last bit of a float can differ (gymnax's jitted and unjitted steps differ
by 1-2 ulp from each other too). Everything discrete (keys, resets, ends) is compared exactly.
"""
import jax
import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium")
gymnax = pytest.importorskip("gymnax")

from puffer_backend.vector import JaxVectorEnv  # noqa: E402
from tests.pipelines.envs.toy_envs import make_ends_on_action_gymnax_env  # noqa: E402


def _gymnax_reference(env_id, num_envs, seed):
    """gymnax's own vmapped reset/step, fed keys by the adapter's documented schedule. env_id:
    a gymnax id or an `(env, params)` pair."""
    env, params = gymnax.make(env_id) if isinstance(env_id, str) else env_id
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    key, sub = jax.random.split(jax.random.PRNGKey(seed))
    obs, state = reset(jax.random.split(sub, num_envs), params)

    def advance(action):
        nonlocal key, state
        key, sub = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = step(jax.random.split(sub, num_envs), state, action, params)
        return obs, reward, terminated, truncated, info["final_observation"]
    return obs, advance


def _rows(x, n):
    return np.asarray(x, np.float32).reshape(n, -1)


@pytest.mark.parametrize("env_id, n, steps", [("CartPole-v1", 5, 150), ("CartPole-v1", 16, 150),
                                              ("Pendulum-v1", 5, 205), ("Breakout-MinAtar", 5, 150)])
def test_transitions_are_gymnax_own_with_the_same_keys(env_id, n, steps):
    seed = 11
    adapter = JaxVectorEnv(env_id, n, seed=seed)
    obs, _ = adapter.reset()
    ref_obs, advance = _gymnax_reference(env_id, n, seed)
    np.testing.assert_array_equal(obs.numpy(), _rows(ref_obs, n))
    rng = np.random.default_rng(0)
    ended = truncated_seen = 0
    ended_counts = set()  # the adapter resets up to n//8 ended envs one way, more another way
    for _ in range(steps):
        action = adapter.action_space.sample()
        if adapter.gymnax_env.discrete:
            action = rng.integers(0, adapter.single_action_space.n, n)
        obs, reward, terminated, truncated, infos = adapter.step(torch.as_tensor(action))
        r_obs, r_reward, r_term, r_trunc, r_final = advance(
            np.asarray(action, np.int32 if adapter.gymnax_env.discrete else np.float32))
        r_term = np.asarray(r_term, bool)
        r_trunc = np.asarray(r_trunc, bool) & ~r_term
        np.testing.assert_allclose(obs.numpy(), _rows(r_obs, n), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(reward.numpy(), np.asarray(r_reward, np.float32), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(terminated.numpy(), r_term)
        np.testing.assert_array_equal(truncated.numpy(), r_trunc)
        done = r_term | r_trunc
        assert ("final_obs" in infos) == done.any()
        if done.any():
            np.testing.assert_array_equal(infos["_final_obs"], done)
            np.testing.assert_allclose(infos["final_obs"].numpy()[done], _rows(r_final, n)[done], rtol=1e-5, atol=1e-5)
            ended += int(done.sum())
            truncated_seen += int(r_trunc.sum())
            ended_counts.add(int(done.sum()))
    assert ended > 0
    if n == 16:
        assert min(ended_counts) <= 2 < max(ended_counts)
    if env_id == "Pendulum-v1":
        assert truncated_seen == n  # its 200-step limit, every env at once


def test_episode_statistics_and_final_obs_against_the_rewards_seen():
    n = 6
    env = JaxVectorEnv("CartPole-v1", n, seed=3)
    assert env.metadata["autoreset_mode"] is gymnasium.vector.AutoresetMode.SAME_STEP
    obs, infos = env.reset()
    returns, lengths = np.zeros(n), np.zeros(n, int)
    episodes = 0
    generator = torch.Generator().manual_seed(1)
    for _ in range(400):
        action = torch.randint(0, 2, (n,), generator=generator)
        next_obs, reward, terminated, truncated, infos = env.step(action)
        returns += reward.numpy()
        lengths += 1
        done = (terminated | truncated).numpy()
        assert ("episode" in infos) == done.any()
        if not done.any():
            continue
        # gymnasium's layout: numpy masks and values (RecordEpisodeStatistics' dtypes), 0 where not ended
        for mask in (infos["_episode"], infos["final_info"]["_episode"], infos["_final_obs"], infos["_final_info"]):
            assert isinstance(mask, np.ndarray) and mask.dtype == bool
            np.testing.assert_array_equal(mask, done)
        stats = infos["episode"]
        assert infos["final_info"]["episode"] is stats
        assert (stats["r"].dtype, stats["l"].dtype, stats["t"].dtype) == (np.float64, np.int64, np.float64)
        np.testing.assert_allclose(stats["r"][done], returns[done], rtol=1e-6)
        np.testing.assert_array_equal(stats["l"][done], lengths[done])
        assert (stats["r"][~done] == 0).all() and (stats["l"][~done] == 0).all()
        assert (stats["t"][done] >= 0).all() and (stats["t"][~done] == 0).all()
        # The episode's last observation is not the new episode's first one.
        final = infos["final_obs"].numpy()[done]
        assert not np.isclose(final, next_obs.numpy()[done]).all(axis=1).any()
        # CartPole ends when the pole falls or the cart leaves: the final observation shows it.
        assert ((np.abs(final[:, 2]) > 0.2094) | (np.abs(final[:, 0]) > 2.4)).all()
        episodes += int(done.sum())
        returns[done], lengths[done] = 0, 0
    assert episodes >= 20


def test_returned_tensors_stay_valid_and_unchanged_after_later_steps():
    env = JaxVectorEnv("CartPole-v1", 4)
    env.reset(seed=0)
    action = torch.zeros(4, dtype=torch.int64)
    first = env.step(action)
    kept = [x.clone() for x in first[:4]]
    for _ in range(30):
        env.step(action)
    for before, now in zip(kept, first[:4]):
        assert torch.equal(before, now)


def test_reset_seeds_and_continues():
    env = JaxVectorEnv("CartPole-v1", 3, seed=5)
    first, _ = env.reset()
    again, _ = env.reset(seed=5)
    assert torch.equal(first, again)
    other, _ = env.reset(seed=6)
    assert not torch.equal(first, other)
    continued, _ = env.reset()  # no seed: the key goes on, a new draw
    assert not torch.equal(other, continued)


def test_spaces_follow_gymnasium_batching():
    cart = JaxVectorEnv("CartPole-v1", 4)
    assert cart.single_action_space == gymnasium.spaces.Discrete(2)
    assert cart.action_space == gymnasium.spaces.MultiDiscrete([2, 2, 2, 2])
    assert cart.single_observation_space.shape == (4,) and cart.observation_space.shape == (4, 4)
    assert cart.single_observation_space.dtype == np.float32
    assert cart.single_observation_space.high[0] == pytest.approx(4.8)
    pendulum = JaxVectorEnv("Pendulum-v1", 3)
    assert pendulum.single_action_space == gymnasium.spaces.Box(-2.0, 2.0, (1,), np.float32)
    assert pendulum.action_space.shape == (3, 1)
    breakout = JaxVectorEnv("Breakout-MinAtar", 2)
    assert breakout.single_observation_space.shape == (400,)
    obs, _ = breakout.reset()
    assert breakout.observation_space.contains(obs.numpy())


def test_numpy_and_out_of_bounds_box_actions():
    env = JaxVectorEnv("Pendulum-v1", 2, seed=0)
    ref = JaxVectorEnv("Pendulum-v1", 2, seed=0)
    env.reset()
    ref.reset()
    # A Box action beyond the bounds is clipped to them (as gymnasium's ClipAction), from numpy too.
    out = env.step(np.array([[5.0], [-7.0]], np.float64))
    expected = ref.step(torch.tensor([[2.0], [-2.0]]))
    for a, b in zip(out[:4], expected[:4]):
        assert torch.equal(a, b)


def test_pufferlib_calls_return_the_step():
    env = JaxVectorEnv("CartPole-v1", 3, seed=2)
    ref = JaxVectorEnv("CartPole-v1", 3, seed=2)
    env.async_reset(2)
    obs, rewards, terminals, truncations, infos, env_ids, masks = env.recv()
    assert torch.equal(obs, ref.reset(seed=2)[0]) and infos == []
    assert rewards.tolist() == [0, 0, 0] and not terminals.any() and not truncations.any()
    assert env_ids.tolist() == [0, 1, 2] and masks.all()
    ended = 0
    for _ in range(60):
        action = np.ones(3, np.int64)
        env.send(action)
        obs, rewards, terminals, truncations, infos, _, _ = env.recv()
        expected = ref.step(torch.as_tensor(action))
        assert torch.equal(obs, expected[0]) and torch.equal(rewards, expected[1])
        done = expected[2] | expected[3]
        assert len(infos) == int(done.sum())
        if infos:
            assert [i["episode_return"] for i in infos] == expected[4]["episode"]["r"][done].tolist()
            ended += len(infos)
    assert ended > 0
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.recv()


@pytest.mark.parametrize("env_id, num_envs, action, error, words", [
    ("CartPole-v1", 3, torch.zeros(3, dtype=torch.float32), TypeError, "integer action indices"),
    ("CartPole-v1", 3, torch.zeros(2, dtype=torch.int64), ValueError, "shape (3,)"),
    ("CartPole-v1", 3, torch.zeros(3, 1, dtype=torch.int64), ValueError, "shape (3,)"),
    ("CartPole-v1", 3, torch.tensor([0, 1, 2]), ValueError, "[0, 2)"),
    ("CartPole-v1", 3, torch.tensor([0, -1, 1]), ValueError, "[0, 2)"),
    ("CartPole-v1", 3, torch.tensor([0, 2**40, 1]), ValueError, "[0, 2)"),
    ("CartPole-v1", 3, [0, 1, 0], TypeError, "torch.Tensor or numpy.ndarray"),
    ("CartPole-v1", 3, np.array(["a", "b", "c"]), TypeError, "integer or float array"),
    ("Pendulum-v1", 2, torch.zeros(2, 1, dtype=torch.int64), TypeError, "float actions"),
    ("Pendulum-v1", 2, torch.zeros(2), ValueError, "shape (2, 1)"),
    ("Pendulum-v1", 2, np.zeros((3, 1), np.float32), ValueError, "shape (2, 1)"),
])
def test_bad_actions_are_refused_naming_actions(env_id, num_envs, action, error, words):
    env = JaxVectorEnv(env_id, num_envs)
    env.reset()
    with pytest.raises(error, match="actions") as caught:
        env.step(action)
    assert words in str(caught.value)


def test_unchecked_actions_skip_the_range_read():
    env = JaxVectorEnv("CartPole-v1", 2, check_actions=False)
    env.reset()
    env.step(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="check_actions"):
        JaxVectorEnv("CartPole-v1", 2, check_actions=1)


@pytest.mark.parametrize("kwargs, error, argument", [
    ({"env": "CartPole-v1", "num_envs": 0}, ValueError, "num_envs"),
    ({"env": "CartPole-v1", "num_envs": 2.0}, ValueError, "num_envs"),
    ({"env": "CartPole-v1", "num_envs": True}, ValueError, "num_envs"),
    ({"env": "NoSuchEnv-v0", "num_envs": 2}, ValueError, "env_id"),
    ({"env": 3, "num_envs": 2}, TypeError, "env"),
    ({"env": "CartPole-v1", "num_envs": 2, "seed": -1}, ValueError, "seed"),
    ({"env": "CartPole-v1", "num_envs": 2, "device": "nowhere"}, ValueError, "device"),
])
def test_bad_construction_is_refused_naming_the_argument(kwargs, error, argument):
    with pytest.raises(error, match=argument):
        JaxVectorEnv(**kwargs)


def test_step_before_reset_and_reset_options_are_refused():
    env = JaxVectorEnv("CartPole-v1", 2)
    with pytest.raises(gymnasium.error.ResetNeeded, match="reset"):
        env.step(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="options"):
        env.reset(options={"reset_mask": np.ones(2, bool)})
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=[1, 2])


def test_a_gymnax_pair_is_taken_as_is():
    env, params = gymnax.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=7)
    vec = JaxVectorEnv((env, params), 2)
    vec.reset(seed=0)
    truncated_at = []
    for t in range(7):
        _, _, terminated, truncated, _ = vec.step(torch.zeros(2, dtype=torch.int64))
        if truncated.any():
            truncated_at.append(t)
    # pushing left for 7 steps does not tip CartPole: the 7-step limit truncates both envs
    assert truncated_at == [6]


def test_fewer_envs_build_one_partial_reset_size_and_many_envs_all():
    from puffer_backend.vector import ALL_TIERS_FROM, _reset_sizes

    assert ALL_TIERS_FROM == 512
    assert _reset_sizes(1) == () and _reset_sizes(8) == (1,) and _reset_sizes(64) == (8,)
    assert _reset_sizes(511) == (63,)
    assert _reset_sizes(512) == (64, 128, 256) and _reset_sizes(1024) == (128, 256, 512)


@pytest.mark.parametrize("all_tiers_from, sizes", [(16, (2, 4, 8)), (512, (2,))], ids=["all-sizes", "n/8-only"])
def test_every_partial_reset_size_gives_gymnax_own_resets(monkeypatch, all_tiers_from, sizes):
    """16 envs, with every partial size built (as from 512 envs) and with n/8 alone: 0 to 16 of
    them end at a step, so every reset the step chooses runs (for up to 2, 4 and 8 ended envs,
    and all), and each gives the states gymnax's own reset gives with the same keys."""
    from puffer_backend import vector
    from puffer_backend.vector import _reset_sizes

    monkeypatch.setattr(vector, "ALL_TIERS_FROM", all_tiers_from)
    n, seed = 16, 3
    pair = make_ends_on_action_gymnax_env()
    adapter = JaxVectorEnv(pair, n, seed=seed)
    obs, _ = adapter.reset()
    ref_obs, advance = _gymnax_reference(pair, n, seed)
    np.testing.assert_array_equal(obs.numpy(), _rows(ref_obs, n))
    assert _reset_sizes(n) == sizes
    rng = np.random.default_rng(1)
    for ending in [0, 1, 2, 3, 4, 5, 8, 9, 16, 2, 7, 0, 12]:
        action = np.zeros(n, np.int64)
        action[rng.choice(n, ending, replace=False)] = 1
        obs, _, terminated, _, infos = adapter.step(torch.as_tensor(action))
        r_obs, _, r_term, _, r_final = advance(action.astype(np.int32))
        assert int(terminated.sum()) == ending
        np.testing.assert_array_equal(terminated.numpy(), np.asarray(r_term, bool))
        np.testing.assert_array_equal(obs.numpy(), _rows(r_obs, n))  # the new starts where envs ended
        if ending:
            np.testing.assert_array_equal(infos["final_obs"].numpy()[action == 1], _rows(r_final, n)[action == 1])
