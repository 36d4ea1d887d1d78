"""Containers keep their exact type; non-array leaves pass through; errors name the path."""
import collections

import numpy as np
import pytest

from tests.exchange.cases import torch

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import to_jax, to_torch  # noqa: E402

Transition = collections.namedtuple("Transition", "obs action info")


class Batch(list):
    """A list subclass, to check that subclasses survive."""


def sample_tree():
    obs = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    action = torch.tensor([1, 0, 1], dtype=torch.int32)
    return {
        "transition": Transition(obs, action, {"name": "cartpole", "step": 7, "none": None}),
        "ordered": collections.OrderedDict([("z", obs[0]), ("a", torch.ones(2, dtype=torch.bool))]),
        "default": collections.defaultdict(list, {"k": action}),
        "list": [obs, (action, 3.5), Batch([obs.T])],
        "empty": {"tuple": (), "list": []},
    }


def assert_same_structure(got, want, to_numpy):
    if not isinstance(want, torch.Tensor):
        assert type(got) is type(want)
    if isinstance(want, dict):
        assert list(got) == list(want)  # key order kept
        for key in want:
            assert_same_structure(got[key], want[key], to_numpy)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same_structure(g, w, to_numpy)
    elif isinstance(want, torch.Tensor):
        np.testing.assert_array_equal(to_numpy(got), want.numpy())
    else:
        assert got is want


def test_tree_to_jax_and_back_keeps_types_values_and_leaves():
    tree = sample_tree()
    as_jax = to_jax(tree)
    assert_same_structure(as_jax, tree, np.asarray)
    assert isinstance(as_jax["transition"].obs, jax.Array)
    assert as_jax["default"].default_factory is list
    back = to_torch(as_jax)
    assert_same_structure(back, tree, lambda t: t.numpy())
    assert back["transition"].obs.data_ptr() == tree["transition"].obs.data_ptr()


def test_jax_tree_to_torch_from_jitted_function():
    out = jax.jit(lambda x: {"sum": x.sum(), "pair": (x * 2, x.astype(jnp.int8))})(jnp.arange(5.0))
    got = to_torch(out)
    assert got["sum"].item() == 10.0
    np.testing.assert_array_equal(got["pair"][0].numpy(), np.arange(5.0) * 2)
    assert got["pair"][1].dtype == torch.int8


def test_already_converted_leaves_pass_through_or_copy():
    array, tensor = jnp.ones(3), torch.ones(3)
    assert to_jax({"a": array})["a"] is array
    assert to_torch([tensor])[0] is tensor
    copied = to_torch([tensor], copy=True)[0]
    assert copied.data_ptr() != tensor.data_ptr()


def test_errors_name_the_path_of_the_leaf():
    tree = {"obs": [torch.ones(2), torch.ones(2, dtype=torch.int64)]}
    with pytest.raises(ValueError, match=r"x\['obs'\]\[1\].*jax_enable_x64"):
        to_jax(tree)
    transition = Transition(torch.ones(2, requires_grad=True), None, None)
    with pytest.raises(ValueError, match=r"x\.obs.*\.detach\(\)"):
        to_jax(transition)


@pytest.mark.parametrize("bad", [3, "obs", None, object(), {1, 2}])
def test_top_level_non_array_is_a_type_error(bad):
    with pytest.raises(TypeError, match="x: expected"):
        to_jax(bad)
    with pytest.raises(TypeError, match="x: expected"):
        to_torch(bad)


@pytest.mark.parametrize("bad", ["yes", 0, 1.0])
def test_copy_must_be_none_or_bool(bad):
    with pytest.raises(ValueError, match="copy: expected None, True or False"):
        to_jax(torch.ones(1), copy=bad)


def test_containers_registered_with_jax_tree_util():
    gymnax = pytest.importorskip("gymnax")
    env, params = gymnax.make("CartPole-v1")
    _, state = env.reset(jax.random.key(0), params)
    as_torch = to_torch({"state": state, "step": 3})
    assert type(as_torch["state"]) is type(state) and as_torch["step"] == 3
    for name in ("x", "theta", "time"):
        got, want = getattr(as_torch["state"], name), getattr(state, name)
        assert isinstance(got, torch.Tensor)
        np.testing.assert_array_equal(got.numpy(), np.asarray(want))
    back = to_jax(as_torch)
    assert type(back["state"]) is type(state)
    np.testing.assert_array_equal(np.asarray(back["state"].theta), np.asarray(state.theta))
    bad = as_torch["state"].replace(theta=as_torch["state"].theta.clone().requires_grad_())
    with pytest.raises(ValueError, match=r"x\['state'\]\.theta: expected a tensor without"):
        to_jax({"state": bad})
