"""torch_impl and jax_impl side by side: the same uniforms give the same actions, the same
logits give the same log-probabilities and entropies, the same bytes the same leaves."""
import numpy as np
import pytest

from puffer_backend import spec

from tests.adapters import selected_backends

from ._truth import uniforms_off_boundaries

if not {"torch", "jax"} <= set(selected_backends()):
    pytest.skip("needs both backends selected in PUFFER_TEST_BACKENDS", allow_module_level=True)
torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

from puffer_backend import jax_impl as J  # noqa: E402
from puffer_backend import torch_impl as T  # noqa: E402


def _both(fn_t, fn_j, *arrays):
    """Run the torch and JAX versions on the same numpy inputs; numpy results."""
    t = fn_t(*[torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
    j = fn_j(*[jnp.asarray(a) for a in arrays])
    return (jax.tree_util.tree_map(lambda x: x.detach().numpy(), t, is_leaf=torch.is_tensor),
            jax.tree_util.tree_map(np.asarray, j))


@pytest.mark.parametrize("n", [2, 5, 64])
def test_discrete_same_uniforms_same_actions(n):
    rng = np.random.default_rng(n)
    logits = (rng.normal(size=(300, n)) * 3).astype(np.float32)
    u = uniforms_off_boundaries(logits, rng)
    t, j = _both(T.sample_from_uniforms, J.sample_from_uniforms, logits, u)
    np.testing.assert_array_equal(t, j)
    np.testing.assert_array_equal(j, spec.categorical_from_uniform(logits, u))


def test_masked_same_uniforms_same_actions():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 6)).astype(np.float32)
    mask = rng.random((300, 6)) < 0.6
    mask[np.arange(300), rng.integers(0, 6, 300)] = True  # at least one allowed per row
    u = uniforms_off_boundaries(logits, rng, mask=mask)
    t = T.sample_from_uniforms(torch.from_numpy(logits), torch.from_numpy(u), mask=torch.from_numpy(mask)).numpy()
    j = np.asarray(J.sample_from_uniforms(jnp.asarray(logits), jnp.asarray(u), mask=jnp.asarray(mask)))
    np.testing.assert_array_equal(t, j)
    assert mask[np.arange(300), j].all()


def test_heads_same_uniforms_same_actions():
    rng = np.random.default_rng(2)
    heads = [rng.normal(size=(200, n)).astype(np.float32) for n in (3, 7, 2)]
    u = np.stack([uniforms_off_boundaries(h, rng) for h in heads], axis=-1)
    t = T.sample_from_uniforms(tuple(torch.from_numpy(h) for h in heads), torch.from_numpy(u)).numpy()
    j = np.asarray(J.sample_from_uniforms(tuple(jnp.asarray(h) for h in heads), jnp.asarray(u)))
    assert t.shape == j.shape == (200, 3)
    np.testing.assert_array_equal(t, j)


def test_normal_same_uniforms_close_actions():
    rng = np.random.default_rng(3)
    loc = rng.normal(size=(50, 4)).astype(np.float32)
    scale = rng.uniform(0.1, 2.0, size=(50, 4)).astype(np.float32)
    u = rng.uniform(1e-3, 1 - 1e-3, size=(50, 4)).astype(np.float32)
    t = T.sample_from_uniforms(torch.distributions.Normal(torch.from_numpy(loc), torch.from_numpy(scale)),
                               torch.from_numpy(u)).numpy()
    j = np.asarray(J.sample_from_uniforms(J.Normal(jnp.asarray(loc), jnp.asarray(scale)), jnp.asarray(u)))
    np.testing.assert_allclose(t, j, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fill", [None, -np.inf, "min"])
def test_log_prob_and_entropy_agree(fill):
    rng = np.random.default_rng(4)
    logits = (rng.normal(size=(128, 9)) * 4 + 10).astype(np.float32)  # unnormalized
    if fill is not None:
        logits[:, ::3] = np.finfo(np.float32).min if fill == "min" else fill
    action = rng.choice([1, 2, 4, 5, 7, 8], size=128)
    t, j = _both(T.log_prob, J.log_prob, logits, action)
    np.testing.assert_allclose(t, j, atol=1e-5)
    t, j = _both(T.entropy, J.entropy, logits)
    assert np.isfinite(j).all()
    np.testing.assert_allclose(t, j, atol=1e-5)
    probs = np.exp(logits - np.logaddexp.reduce(logits.astype(np.float64), -1, keepdims=True)).astype(np.float32)
    if fill is None:
        normalized = np.log(probs)
        t, j = _both(T.entropy_probs, J.entropy_probs, normalized, probs)
        np.testing.assert_allclose(t, j, atol=1e-5)


def test_sample_logits_with_given_action_agrees():
    rng = np.random.default_rng(5)
    heads = [rng.normal(size=(64, n)).astype(np.float32) for n in (4, 6)]
    action = np.stack([rng.integers(0, 4, 64), rng.integers(0, 6, 64)], -1)
    _, t_lp, t_ent = T.sample_logits(tuple(torch.from_numpy(h) for h in heads), torch.from_numpy(action))
    _, j_lp, j_ent = J.sample_logits(None, tuple(jnp.asarray(h) for h in heads), jnp.asarray(action))
    np.testing.assert_allclose(t_lp.numpy(), j_lp, atol=1e-5)
    np.testing.assert_allclose(t_ent.numpy(), j_ent, atol=1e-5)


@pytest.mark.parametrize("align", [True, False])
def test_nativize_same_bytes_same_leaves(align):
    structured = np.dtype([("a", np.float32, (3,)), ("b", np.int16), ("c", np.uint8, (2, 2)),
                           ("d", np.dtype([("e", np.float16, (2,)), ("f", np.int32)], align=align))], align=align)
    emulated = {"observation_dtype": np.uint8, "emulated_observation_dtype": structured}
    rows = np.random.default_rng(6).integers(0, 256, size=(7, structured.itemsize), dtype=np.uint8)
    t = T.nativize_tensor(torch.from_numpy(rows), T.nativize_dtype(emulated))
    j = J.nativize_tensor(jnp.asarray(rows), J.nativize_dtype(emulated))

    def walk(t, j, path=()):
        if isinstance(t, dict):
            assert set(t) == set(j), path
            for k in t:
                walk(t[k], j[k], (*path, k))
            return
        tn, jn = t.numpy(), np.asarray(j)
        assert tn.shape == jn.shape and tn.dtype == jn.dtype, path
        np.testing.assert_array_equal(np.ascontiguousarray(tn).view(np.uint8), np.ascontiguousarray(jn).view(np.uint8))

    walk(t, j)


def _message(fn, *arrays):
    with pytest.raises((TypeError, ValueError)) as info:
        fn(*arrays)
    return f"{info.type.__name__}: {info.value}"


@pytest.mark.parametrize("case", ["one head", "heads", "log_prob", "empty heads"])
def test_the_spec_words_shared_refusals_identically(case):
    # the messages spec.checks owns (action ranges, empty heads) are the same text on both backends
    logits, heads = np.zeros((4, 3), np.float32), (np.zeros((4, 2), np.float32), np.zeros((4, 5), np.float32))
    bad = {"one head": (logits, np.array([0, 1, 3, 0])),
           "heads": (heads, np.array([[0, 4], [2, 0], [0, 0], [0, 0]])),
           "log_prob": (logits, np.array([0, -1, 0, 0])),
           "empty heads": ((), None)}[case]
    if case == "log_prob":
        t = _message(T.log_prob, *(torch.from_numpy(a) for a in bad))
        j = _message(J.log_prob, *(jnp.asarray(a) for a in bad))
    else:
        given, action = bad
        t = _message(T.sample_logits, tuple(torch.from_numpy(h) for h in given) if isinstance(given, tuple)
                     else torch.from_numpy(given), None if action is None else torch.from_numpy(action))
        j = _message(J.sample_logits, jax.random.key(0), tuple(jnp.asarray(h) for h in given)
                     if isinstance(given, tuple) else jnp.asarray(given), None if action is None else jnp.asarray(action))
    assert t == j
    assert t.startswith(("ValueError: ", "BadValueError: ")) and (" actions in [0, n) for " in t or "non-empty" in t), t
