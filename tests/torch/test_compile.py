"""No graph breaks under torch.compile(fullgraph=True): a break raises, so these tests fail on one.
The 'eager' compile backend runs dynamo's tracing (where breaks happen) without codegen, to stay fast."""
import numpy as np
import torch

from puffer_backend import torch_impl as T

LAYOUT = np.dtype([("pos", np.float32, (3,)), ("flag", np.uint8),
                   ("inner", np.dtype([("id", np.int64), ("hp", np.int16, (2,))], align=True))], align=True)


def _compile(fn):
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=True, backend="eager")


def test_nativize_tensor_compiles_without_graph_break():
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": LAYOUT})
    rows = np.random.default_rng(0).integers(0, 256, (4, LAYOUT.itemsize), dtype=np.uint8)
    obs = torch.from_numpy(rows)
    compiled = _compile(lambda o: T.nativize_tensor(o, native))(obs)
    eager = T.nativize_tensor(obs, native)
    for key in ("pos", "flag"):
        assert torch.equal(compiled[key], eager[key])
    assert torch.equal(compiled["inner"]["id"], eager["inner"]["id"])


def test_sample_logits_compiles_without_graph_break():
    fn = _compile(lambda logits, mask, heads, action: (
        T.sample_logits(logits, mask=mask),
        T.sample_logits(heads),
        T.sample_logits(heads, action),
        T.sample_logits(torch.distributions.Normal(logits, torch.ones_like(logits)))))
    logits = torch.randn(8, 4)
    mask = torch.ones(8, 4, dtype=torch.bool)
    mask[:, 0] = False
    heads = (torch.randn(8, 3), torch.randn(8, 5))
    action = torch.zeros(8, 2, dtype=torch.long)
    (a, lp, ent), _, (_, lp_heads, _), (cont, _, _) = fn(logits, mask, heads, action)
    assert (a != 0).all() and cont.shape == (8, 4)
    torch.testing.assert_close(lp, T.log_prob(logits.masked_fill(~mask, -torch.inf), a))
    torch.testing.assert_close(lp_heads, T.sample_logits(heads, action)[1])


def test_buffer_shaped_actions_and_unbatched_input_compile_without_graph_break():
    fn = _compile(lambda logits, stored, row, heads, loc: (
        T.sample_logits(logits, stored),
        T.sample_logits(row),
        T.sample_logits(row, stored[0, 0]),
        T.sample_logits(heads),
        T.sample_logits(torch.distributions.Normal(loc, torch.ones_like(loc), validate_args=False))))
    logits, row = torch.randn(8, 4), torch.randn(4)
    stored = torch.randint(0, 4, (2, 4))  # PufferLib's (segments, horizon) buffer for 8 rows
    heads, loc = (torch.randn(3), torch.randn(5)), torch.randn(3)
    (a, lp, _), (one, one_lp, _), (_, given_lp, _), (head_actions, _, _), (cont, _, _) = fn(
        logits, stored, row, heads, loc)
    assert torch.equal(a, stored.reshape(-1))
    torch.testing.assert_close(lp, T.log_prob(logits, stored.reshape(-1)))
    assert one.shape == one_lp.shape == () and head_actions.shape == (2,) and cont.shape == (3,)
    torch.testing.assert_close(given_lp, T.log_prob(row, stored[0, 0]))


def test_nativize_copy_path_compiles_without_graph_break():
    packed = np.dtype([("flag", np.uint8), ("value", np.float32, (2,)), ("big", np.int64)], align=False)
    native = T.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": packed})
    rows = np.random.default_rng(1).integers(0, 256, (5, packed.itemsize), dtype=np.uint8)
    out = _compile(lambda o: T.nativize_tensor(o, native))(torch.from_numpy(rows))
    truth = rows.view(packed)[:, 0]
    np.testing.assert_array_equal(out["big"].numpy()[:, 0], truth["big"])
    np.testing.assert_array_equal(out["value"].numpy().view(np.uint32), truth["value"].view(np.uint32))


def test_sampling_compiles_for_a_batch_size_that_changes():
    # the second batch size makes dynamo trace the batch as a symbol; torch.rand must take it
    fn = _compile(lambda logits, heads: (T.sample_logits(logits), T.sample_logits(heads)))
    for batch in (8, 12, 16):
        (a, lp, _), (h, _, _) = fn(torch.randn(batch, 4), (torch.randn(batch, 3), torch.randn(batch, 20)))
        assert a.shape == lp.shape == (batch,) and h.shape == (batch, 2)
