"""JAX simulator families (`--env FAMILY/ID`): ids, packing of structured observations into
rows (checked against numpy structured arrays and both backends' nativize), the adapters'
termination and truncation conventions on the real simulators, and action masks honoured by
the pipelines."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from puffer_backend.pipelines.envs import check_env_id  # noqa: E402
from puffer_backend.pipelines.envs.families import FAMILIES, family_of  # noqa: E402
from puffer_backend.pipelines.envs.gymnax_vec import VecEnv, action_mask, make_env, pack_rows  # noqa: E402
from puffer_backend.pipelines.envs.rows import emulated_rows, rows_dtype  # noqa: E402

TOY = "tests.pipelines.envs.jax_toy_envs"


def test_family_ids_are_checked_without_importing_the_family():
    assert check_env_id("jax", "brax/ant") == "brax"
    assert check_env_id("mixed", "gymnax/CartPole-v1") == "gymnax"
    assert family_of("CartPole-v1") is None and family_of("pkg.mod:make") is None
    with pytest.raises(ValueError, match=r"env_id.*'brx/ant'; did you mean brax/ant\?"):
        check_env_id("jax", "brx/ant")
    with pytest.raises(ValueError, match="env_id.*an id after the slash"):
        check_env_id("mixed", "jumanji/")
    with pytest.raises(ValueError, match="env_id.*use --backend jax or mixed"):
        check_env_id("torch", "brax/ant")


def test_an_id_the_family_lacks_is_refused_with_a_close_match():
    with pytest.raises(ValueError, match=r"'jumanji/Snak-v1'; did you mean jumanji/Snake-v1\?"):
        make_env("jumanji/Snak-v1")


def test_a_missing_family_package_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "navix" else real(name, *a))
    with pytest.raises(ValueError, match=r"puffer-backend\[navix\].*navix is not installed"):
        check_env_id("jax", "navix/Navix-Empty-5x5-v0")
    assert set(FAMILIES) == {"playground", "brax", "jumanji", "navix", "craftax"}


def test_gymnax_family_prefix_is_the_plain_gymnax_env():
    assert make_env("gymnax/CartPole-v1").env_id == "CartPole-v1"


def _structured_rows(obs_leaves, leaves, batch):
    """The rows as numpy writes them: a structured array of the rows' dtype, field by field."""
    dtype = rows_dtype(obs_leaves)
    out = np.zeros(batch, dtype)
    for (name, _), value in zip(obs_leaves, leaves):
        target = out
        for part in name.split("/")[:-1]:
            target = target[part]
        target[name.split("/")[-1]] = np.asarray(value, np.float32)
    return out.view(np.float32).reshape(batch, -1)


def test_rows_are_the_structured_dtype_of_the_leaves():
    rng = np.random.default_rng(0)
    obs = {"grid": rng.random((5, 3, 3, 2)).astype(np.float32),
           "inner": {"count": rng.integers(0, 1000, (5,)).astype(np.int32), "pixels": rng.integers(0, 256, (5, 2, 2, 1)).astype(np.uint8)},
           "action_mask": rng.random((5, 4)) < 0.5}
    env = _env_with_obs(obs)
    rows = np.asarray(pack_rows(jax.tree.map(jnp.asarray, obs), (5,)))
    leaves = jax.tree.leaves(obs)
    assert [name for name, _ in env.obs_leaves] == ["action_mask", "grid", "inner/count", "inner/pixels"]
    np.testing.assert_array_equal(rows, _structured_rows(env.obs_leaves, leaves, 5))
    np.testing.assert_array_equal(np.asarray(action_mask(env, jnp.asarray(rows))), obs["action_mask"])


def _env_with_obs(obs):
    from puffer_backend.pipelines.envs.gymnax_vec import describe_env
    from tests.pipelines.envs.jax_toy_envs import MaskedEnv

    class Fixed(MaskedEnv):
        def _reset(self, key):
            return jax.tree.map(lambda x: jnp.asarray(x[0]), obs), jnp.zeros(4, bool)

    env = Fixed()
    return describe_env("fixed", env, env.default_params)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_both_backends_nativize_the_rows_back_into_the_observation(backend):
    rng = np.random.default_rng(1)
    obs = {"grid": rng.random((3, 2, 2, 2)).astype(np.float32), "step": rng.integers(0, 50, (3,)).astype(np.int32),
           "action_mask": rng.random((3, 4)) < 0.5}
    env = _env_with_obs(obs)
    rows = np.asarray(pack_rows(jax.tree.map(jnp.asarray, obs), (3,)))
    if backend == "torch":
        import torch

        from puffer_backend import torch_impl
        native = torch_impl.nativize_tensor(torch.from_numpy(rows.copy()), torch_impl.nativize_dtype(emulated_rows(env.obs_leaves)))
        as_numpy = {k: v.numpy() for k, v in native.items()}
    else:
        from puffer_backend import jax_impl
        native = jax_impl.nativize_tensor(jnp.asarray(rows), jax_impl.nativize_dtype(emulated_rows(env.obs_leaves)))
        as_numpy = {k: np.asarray(v) for k, v in native.items()}
    for name, value in obs.items():  # a scalar leaf comes back as (batch, 1), as PufferLib's nativize gives it
        assert as_numpy[name].shape == (value.shape[0],) + (value.shape[1:] or (1,))
        np.testing.assert_array_equal(as_numpy[name].reshape(value.shape), value.astype(np.float32))


def _run_episode_ends(env_id, steps, action_fn, num_envs=2):
    """(terminated, truncated, time) per step of `steps` steps of VecEnv on env_id."""
    genv = make_env(env_id)
    venv = VecEnv(genv, num_envs)
    obs, state = jax.jit(venv.reset)(jax.random.PRNGKey(0))
    pool_step = jax.jit(lambda pool, t, s, a: venv.step_from_pool(pool, t, s, a))
    pool = jax.jit(venv.draw_pool, static_argnums=1)(jax.random.PRNGKey(1), steps)
    ends = []
    for t in range(steps):
        out = pool_step(pool, t, state, action_fn(genv, t, obs))
        ends.append((np.asarray(out.terminated), np.asarray(out.truncated), np.asarray(state.time)))
        obs, state = out.obs, out.state
    return genv, ends


def test_navix_truncation_is_a_truncation():
    genv, ends = _run_episode_ends("navix/Navix-Empty-5x5-v0", 101, lambda g, t, o: jnp.zeros(2, jnp.int32))
    assert genv.num_actions == 7 and genv.max_episode_steps == 100 and genv.obs_leaves == (("", (5, 5, 3)),)
    # Turning left forever never reaches the goal: navix's own limit truncates step 100.
    terminated = np.array([e[0] for e in ends])
    truncated = np.array([e[1] for e in ends])
    assert not terminated.any()
    assert truncated[99].all() and not truncated[:99].any() and not truncated[100].any()


def test_jumanji_snake_has_its_mask_and_terminates_on_a_wall():
    genv, ends = _run_episode_ends("jumanji/Snake-v1", 14, lambda g, t, o: jnp.zeros(2, jnp.int32))
    assert genv.mask_slice == (721, 725) and genv.max_episode_steps == 4000
    terminated = np.array([e[0] for e in ends])
    truncated = np.array([e[1] for e in ends])
    assert terminated.any(), "moving up forever hits the wall within the 12 rows"
    assert not truncated.any()


@pytest.mark.heavy
def test_brax_time_limit_is_ours_and_a_fall_is_a_termination():
    from puffer_backend.pipelines.envs.families.physics import make_brax
    from puffer_backend.pipelines.envs.gymnax_vec import describe_env

    env = make_brax("inverted_pendulum", episode_length=5)
    genv = describe_env("brax/inverted_pendulum", env, env.default_params)
    assert not genv.discrete and genv.action_low == (-1.0,) and genv.action_high == (1.0,)
    venv = VecEnv(genv, 1)
    obs, state = venv.reset(jax.random.PRNGKey(0))
    step = jax.jit(venv.step)
    seen = []
    for t in range(12):  # full force one way: the pole falls within a few steps, or 5 steps pass
        out = step(jax.random.PRNGKey(t), state, jnp.ones((1, 1)))
        seen.append((bool(out.terminated[0]), bool(out.truncated[0]), int(state.time[0]) + 1))
        state = out.state
    for terminated, truncated, time in seen:
        assert not (terminated and truncated)
        if truncated:
            assert time == 5
    assert any(truncated for _, truncated, _ in seen) or any(terminated for terminated, _, _ in seen)


@pytest.mark.parametrize("backend", ["jax", "mixed"])
def test_the_pipelines_never_take_an_action_the_mask_forbids(backend, tmp_path):
    from puffer_backend.pipelines import MemoryLogger, load_pipeline
    from puffer_backend.pipelines.config import TrainConfig

    config = TrainConfig(backend=backend, env_id=f"{TOY}:make_masked_env", num_envs=4, num_steps=32,
                         total_steps=4 * 32 * 3, num_minibatches=2, update_epochs=2)
    summary = load_pipeline(backend).train(config, MemoryLogger(tmp_path))
    assert summary["episodes"] > 0
    assert summary["mean_return"] == 0.0  # one forbidden action would make it negative


def test_norm_obs_is_refused_for_an_env_with_a_mask(tmp_path):
    from puffer_backend.pipelines import MemoryLogger, load_pipeline
    from puffer_backend.pipelines.config import TrainConfig

    config = TrainConfig(backend="jax", env_id=f"{TOY}:make_masked_env", num_envs=4, num_steps=8,
                         total_steps=32, num_minibatches=2, norm_obs=True)
    with pytest.raises(ValueError, match="config.norm_obs.*action mask"):
        load_pipeline("jax").train(config, MemoryLogger(tmp_path))


def test_a_mask_row_that_allows_nothing_allows_everything_in_both_pipelines():
    """A trapped jumanji Snake shows an all-False mask one step before it dies: the jax
    program and the torch agent both read such a row as "every action", the others as given."""
    import torch

    from puffer_backend.pipelines.torch.policy import mask_from_leaf

    env = _env_with_obs({"action_mask": np.zeros((1, 4), bool), "x": np.zeros((1, 3), np.float32)})
    masks = np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]], np.float32)
    rows = np.concatenate([masks, np.zeros((3, 3), np.float32)], axis=1)
    expected = np.array([[0, 1, 0, 1], [1, 1, 1, 1], [1, 1, 1, 0]], bool)
    np.testing.assert_array_equal(np.asarray(action_mask(env, jnp.asarray(rows))), expected)
    np.testing.assert_array_equal(mask_from_leaf(torch.from_numpy(masks)).numpy(), expected)
