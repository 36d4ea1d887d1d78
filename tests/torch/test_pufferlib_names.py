"""Every name PufferLib 2.0.x/3.0.x define in `pufferlib/pytorch.py`, in torch_impl: present, with
PufferLib's signature, and giving PufferLib's results, checked against numpy (structured
arrays, byte arithmetic) and torch.nn, never against torch_impl itself. Where ours differ on
purpose (docs/torch.md, "Everything `pufferlib/pytorch.py` defines"), the test says so."""
import inspect
import math
import sys
import types
import typing

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from puffer_backend import torch_impl as T
from tests.torch import pufferlib3_emulation as emulation
from tests.torch.pufferlib_inventory import IMPORTS_NOT_PROVIDED, INVENTORY, METHODS, REQUIRED

S = emulation.S
ELEMENTS = [np.dtype(n) for n in ("float64", "float32", "float16", "uint64", "uint32", "uint16", "uint8",
                                  "int64", "int32", "int16", "int8")]


# -- the inventory ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(INVENTORY))
def test_every_name_exists(name):
    assert hasattr(T, name), name


def _signature(obj):
    target = obj.__init__ if isinstance(obj, type) else obj
    found = []
    for param in inspect.signature(target).parameters.values():
        if param.name == "self":
            continue
        if param.kind is param.VAR_POSITIONAL:
            found.append((f"*{param.name}",))
        elif param.kind is param.VAR_KEYWORD:
            found.append((f"**{param.name}",))
        elif param.kind is not param.KEYWORD_ONLY:  # keyword-only extras add to PufferLib's call forms
            found.append((param.name, REQUIRED if param.default is param.empty else param.default))
    return found


def _same(ours, theirs):
    if ours[0] != theirs[0] or len(ours) != len(theirs):
        return False
    if len(ours) == 1:
        return True
    a, b = ours[1], theirs[1]
    if b == "cycle_selector":
        return a is T.cycle_selector
    return a is b if b is REQUIRED or b is None else a == pytest.approx(b)


def _extends(ours, theirs) -> bool:
    """PufferLib's parameters first, in order; ours may add trailing ones with defaults (every
    PufferLib call still binds the same way)."""
    extra = ours[len(theirs):]
    return (len(ours) >= len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs))
            and all(len(p) == 2 and p[1] is not REQUIRED for p in extra))


@pytest.mark.parametrize("name", [n for n, (_, sig) in INVENTORY.items() if sig is not None])
def test_signature_is_pufferlibs(name):
    theirs = INVENTORY[name][1]
    assert _extends(_signature(getattr(T, name)), theirs), (_signature(getattr(T, name)), theirs)


@pytest.mark.parametrize("owner, method", list(METHODS))
def test_method_signature_is_pufferlibs(owner, method):
    ours = _signature(getattr(getattr(T, owner), method))
    assert _extends(ours, METHODS[(owner, method)]), (ours, METHODS[(owner, method)])


def test_all_stays_the_documented_api():
    # The extra names are attributes, not exports: `from pufferlib.pytorch import *` gives the API
    assert not set(INVENTORY) - {"numpy_to_torch_dtype_dict", "NativeDType", "nativize_dtype", "nativize_tensor",
                                 "flattened_tensor_size", "layer_init", "log_prob", "entropy", "entropy_probs",
                                 "sample_logits"} & set(T.__all__)


@pytest.mark.parametrize("name", IMPORTS_NOT_PROVIDED)
def test_pufferlibs_own_imports_are_not_reexported(name):
    # Decided: PufferLib's module-level imports (torch, np, pdb's set_trace as T ...) are not API
    assert not hasattr(T, name)


def test_constants():
    assert T.LITTLE_BYTE_ORDER is (sys.byteorder == "little")
    assert typing.get_origin(T.NativeDTypeValue) is tuple
    assert typing.get_args(T.NativeDTypeValue) == (torch.dtype, typing.List[int], int, int)


# -- round_to -----------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [0, 1, 3, 4, 5, 7, 8, 9, 63, 64, 65, -1, -4, -5])
@pytest.mark.parametrize("base", [1, 2, 4, 8, 3])
def test_round_to_is_the_next_multiple(x, base):
    truth = min(k * base for k in range(-10, 100) if k * base >= x)
    assert T.round_to(x, base) == truth and type(T.round_to(x, base)) is int


def test_round_to_large_integers_are_exact():
    # PufferLib's float ceil loses integers past 2**53; integer arithmetic does not
    assert T.round_to(2 ** 60 + 1, 8) == 2 ** 60 + 8
    assert T.round_to(np.int64(13), np.int32(4)) == 16


@pytest.mark.parametrize("x, base", [(2.5, 1.5), (0.1, 0.25), (7.0, 2), (5, 0.5)])
def test_round_to_floats_as_pufferlib(x, base):
    assert T.round_to(x, base) == int(base * math.ceil(x / base))


@pytest.mark.parametrize("x, base, error, argument", [
    (5, 0, ValueError, "base"), (5, -4, ValueError, "base"), (True, 4, TypeError, "x"), (5, "4", TypeError, "base"),
    (float("inf"), 4, ValueError, "x"), (None, 4, TypeError, "x")])
def test_round_to_bad_input(x, base, error, argument):
    with pytest.raises(error, match=rf"^{argument}: expected"):
        T.round_to(x, base)


# -- _nativize_dtype: PufferLib's rule restated, and numpy's field table ------------------------

def pufferlib_rule(sample: np.dtype, structured: np.dtype, offset: int = 0):
    """PufferLib 2.0/3.0's `_nativize_dtype`, restated: a running cursor. In byte rows each leaf
    goes to the cursor rounded up to its alignment and spans its bytes; in wider rows it spans
    its elements at the cursor. A struct starts where the cursor is and reports its last leaf's
    dtype and shape and the sum of its leaves' widths. numpy dtypes, plain tuples."""
    byte_rows = sample.base.itemsize == 1
    if structured.fields is None:
        element, shape = structured.subdtype if structured.subdtype is not None else (structured, (1,))
        width = math.prod(shape)
        if byte_rows:
            offset = -(-offset // element.alignment) * element.alignment
            width *= element.itemsize
        return None, element, tuple(shape), offset, width
    views, start, total, cursor = {}, offset, 0, offset
    for name, (field, *_) in structured.fields.items():
        sub, element, shape, at, width = pufferlib_rule(sample, field, cursor)
        views[name] = sub if sub is not None else (element, shape, at, width)
        cursor, total = at + width, total + width
    return views, element, shape, start, total


def numpy_leaves(structured: np.dtype, path=(), offset=0):
    """{path: byte offset} of every leaf, from numpy's own field table."""
    if structured.fields is None:
        return {path: offset}
    found = {}
    for name, (field, field_offset, *_) in structured.fields.items():
        found.update(numpy_leaves(field, (*path, name), offset + field_offset))
    return found


def leaf_offsets(tree, path=()):
    if isinstance(tree, dict):
        return {p: o for key, sub in tree.items() for p, o in leaf_offsets(sub, (*path, key)).items()}
    return {path: tree[2]}


def as_numpy(tree):
    """torch dtypes -> numpy dtypes, Leafs -> plain tuples, so results compare with the rule's."""
    if isinstance(tree, dict):
        return {key: as_numpy(sub) for key, sub in tree.items()}
    dtype, shape, offset, delta = tree
    return np.dtype(str(dtype).removeprefix("torch.")), tuple(shape), offset, delta


def ours_as_numpy(result):
    views, dtype, shape, offset, delta = result
    dtype = None if dtype is None else np.dtype(str(dtype).removeprefix("torch."))
    return (None if views is None else as_numpy(views)), dtype, shape, offset, delta


def read_fields(rows: np.ndarray, structured: np.dtype):
    """numpy's structured view of byte rows: {path: (rows, ...) array}."""
    view = np.ascontiguousarray(rows).view(structured)[:, 0]
    out = {}
    for path in numpy_leaves(structured):
        field = view
        for key in path:
            field = field[key]
        out[path] = field
    return out


def read_ours(rows: np.ndarray, views):
    tensors = T.nativize_tensor(torch.from_numpy(rows), views)
    out = {}
    for path in leaf_offsets(views):
        leaf = tensors
        for key in path:
            leaf = leaf[key]
        out[path] = leaf.numpy()
    return out


def assert_reads_numpy_fields(structured, views, seed=0):
    rows = np.random.default_rng(seed).integers(0, 256, (5, structured.itemsize), dtype=np.uint8)
    ours, truth = read_ours(rows, views), read_fields(rows, structured)
    for path, field in truth.items():
        assert np.array_equal(np.ascontiguousarray(ours[path]).view(np.uint8).reshape(5, -1),
                              np.ascontiguousarray(field).view(np.uint8).reshape(5, -1)), path


def test_impulse_wars_leaf():
    # PufferLib 3.0's ImpulseWars policy: a float32 tail of a byte row, as a bare leaf
    result = T._nativize_dtype(np.dtype((np.uint8, (40,))), np.dtype((np.float32, (10,))))
    assert result == (None, torch.float32, (10,), 0, 40)
    assert ours_as_numpy(result) == pufferlib_rule(np.dtype((np.uint8, (40,))), np.dtype((np.float32, (10,))))


@pytest.mark.parametrize("sample, structured, offset", [
    (np.uint8, np.float32, 5), (np.uint8, np.dtype((np.int16, (3,))), 3), (np.uint8, np.float64, 9),
    (np.uint8, np.uint8, 7), (np.float32, np.dtype((np.float32, (3,))), 5), (np.int64, np.int64, 2),
    (np.int8, np.int32, 1)])
def test_leaf_at_an_offset_is_pufferlibs(sample, structured, offset):
    # byte rows: offset rounded up to the leaf's alignment, delta in bytes; wider rows: elements
    result = T._nativize_dtype(np.dtype(sample), np.dtype(structured), offset)
    assert ours_as_numpy(result) == pufferlib_rule(np.dtype(sample), np.dtype(structured), offset)


ALIGNED_AGREEING = [
    [("a", np.uint8), ("b", np.float32, (3,))],
    [("image", np.uint8, (4, 4)), ("pos", np.float32, (2,)), ("id", np.int32)],
    [("a", np.float32), ("b", [("x", np.float32), ("y", np.int32)]), ("c", np.uint8, (3,))],
    [("a", np.float64), ("b", np.int8), ("c", np.int64, (2,))],
]


@pytest.mark.parametrize("fields", ALIGNED_AGREEING)
def test_struct_is_pufferlibs_where_its_cursor_meets_numpy(fields):
    structured = np.dtype(fields, align=True)
    theirs = pufferlib_rule(np.dtype(np.uint8), structured)
    assert leaf_offsets(theirs[0]) == numpy_leaves(structured)  # PufferLib reads the right bytes here
    result = T._nativize_dtype(np.dtype(np.uint8), structured)
    assert ours_as_numpy(result) == theirs
    assert_reads_numpy_fields(structured, result[0])


@pytest.mark.parametrize("fields, align", [
    ([("a", np.uint8), ("b", [("x", np.uint8), ("y", np.float32)])], True),  # nested, narrow first leaf
    ([("a", np.int16), ("b", [("x", np.int16), ("y", np.float64)]), ("c", np.uint8)], True),
    ([("a", np.float64), ("b", [("x", np.float64), ("y", np.int16)]), ("c", np.int32)], True),  # tail padding
    ([("a", np.uint8), ("b", np.float32), ("c", np.int16)], False),          # packed
])
def test_struct_where_pufferlibs_cursor_misreads_takes_numpys_offsets(fields, align):
    # Deliberate: PufferLib's cursor rounds each leaf on its own and ignores a nested struct's
    # alignment and padding, so here it points at other bytes than numpy wrote
    structured = np.dtype(fields, align=align)
    theirs = pufferlib_rule(np.dtype(np.uint8), structured)
    assert leaf_offsets(theirs[0]) != numpy_leaves(structured)
    result = T._nativize_dtype(np.dtype(np.uint8), structured)
    assert {p: o for p, o in leaf_offsets(result[0]).items()} == numpy_leaves(structured)
    last = list(numpy_leaves(structured))[-1]
    last_dtype = structured[last[0]] if len(last) == 1 else structured[last[0]][last[1]]
    assert result[1:] == (T.numpy_to_torch_dtype_dict[last_dtype], (1,), 0, theirs[4])
    assert_reads_numpy_fields(structured, result[0])


def structured_dtypes():
    leaf = st.builds(lambda dt, shape: np.dtype((dt, shape)), st.sampled_from(ELEMENTS),
                     st.lists(st.integers(1, 3), max_size=2).map(tuple))

    def nest(children):
        return st.tuples(st.lists(children, min_size=1, max_size=4), st.booleans()).map(
            lambda f: np.dtype([(f"x{i}", sub) for i, sub in enumerate(f[0])], align=f[1]))
    return st.recursive(leaf, nest, max_leaves=8).filter(lambda d: d.fields is not None)


@settings(max_examples=60, deadline=None)
@given(structured_dtypes())
def test_any_struct_reads_numpys_fields_and_is_pufferlibs_where_pufferlib_is_right(structured):
    result = T._nativize_dtype(np.dtype(np.uint8), structured)
    assert_reads_numpy_fields(structured, result[0])
    assert leaf_offsets(result[0]) == numpy_leaves(structured)
    theirs = pufferlib_rule(np.dtype(np.uint8), structured)
    if leaf_offsets(theirs[0]) == numpy_leaves(structured):
        assert ours_as_numpy(result) == theirs


def test_wide_rows_of_one_element_size_are_pufferlibs():
    structured = np.dtype([("a", np.float32, (2,)), ("b", [("c", np.int32), ("d", np.float32, (3,))])], align=True)
    result = T._nativize_dtype(np.dtype(np.float32), structured, 4)
    assert ours_as_numpy(result) == pufferlib_rule(np.dtype(np.float32), structured, 4)


def test_wide_rows_take_leaves_of_whole_elements():
    # PufferLib asserts each leaf is one sample element wide; a float64 leaf is two float32 elements
    structured = np.dtype([("a", np.float32), ("b", np.float64)], align=True)
    views = T._nativize_dtype(np.dtype(np.float32), structured)[0]
    assert views == {"a": (torch.float32, (1,), 0, 1), "b": (torch.float64, (1,), 2, 2)}
    rows = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    got = T.nativize_tensor(torch.from_numpy(rows), views)
    assert np.array_equal(got["b"].numpy()[:, 0], rows.view(structured)[:, 0]["b"])
    with pytest.raises(ValueError, match=r"^structured_dtype.b: expected byte offset and size divisible"):
        T._nativize_dtype(np.dtype(np.float32), np.dtype([("a", np.float32), ("b", np.int16)]))


def test_empty_struct():
    # PufferLib raises UnboundLocalError (its loop never binds the last leaf); ours has no leaves
    assert T._nativize_dtype(np.dtype(np.uint8), np.dtype([])) == ({}, None, None, 0, 0)


@pytest.mark.parametrize("args, error, message", [
    ((np.uint8, np.bool_), ValueError, r"^structured_dtype: expected one of"),
    ((np.uint8, np.dtype(">f4")), ValueError, r"^structured_dtype: expected a little-endian dtype"),
    ((np.uint8, np.float32, -1), ValueError, r"^offset: expected an offset >= 0"),
    ((np.uint8, np.float32, 1.5), TypeError, r"^offset: expected an integer"),
    ((np.uint8, np.float32, True), TypeError, r"^offset: expected an integer"),
    (("not-a-dtype", np.float32), TypeError, r"^sample_dtype: expected a numpy dtype"),
    ((np.complex64, np.float32), ValueError, r"^sample_dtype: expected one of"),
    ((np.uint8, object()), TypeError, r"^structured_dtype: expected a numpy dtype"),
])
def test_nativize_dtype_private_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        T._nativize_dtype(*args)


# -- _nativize_tensor, nativize_observation, _flattened_tensor_size -----------------------------

SPACE = S.Dict({"image": S.Box(0, 255, (3, 4), np.uint8), "pos": S.Box(-1, 1, (2,), np.float32),
                "inner": S.Dict({"id": S.Discrete(5), "vel": S.Box(-1, 1, (3,), np.float32)})})


def _rows(space, n=4, seed=0):
    space.seed(seed)
    return emulation.pack_rows(space, [space.sample() for _ in range(n)])


@pytest.mark.parametrize("as_attributes", [False, True], ids=["3.0-mapping", "2.0-attributes"])
def test_nativize_observation_reads_numpys_structured_view(as_attributes):
    # PufferLib's raises TypeError on every call (three arguments to nativize_tensor); ours works
    rows = _rows(SPACE)
    structured = emulation.structured_dtype(SPACE)
    got = T.nativize_observation(torch.from_numpy(rows), emulation.emulated(SPACE, as_attributes=as_attributes))
    truth = read_fields(rows, structured)
    for path, field in truth.items():
        leaf = got
        for key in path:
            leaf = leaf[key]
        assert np.array_equal(leaf.numpy().reshape(field.shape), field), path


def test_private_nativize_tensor_reads_what_the_public_one_does():
    rows = torch.from_numpy(_rows(SPACE))
    native = T.nativize_dtype(emulation.emulated(SPACE))
    private, public = T._nativize_tensor(rows, native), T.nativize_tensor(rows, native)
    assert torch.equal(private["inner"]["vel"], public["inner"]["vel"]) and torch.equal(private["image"],
                                                                                       public["image"])


def test_flattened_tensor_size_private_is_numpys_element_count():
    structured = emulation.structured_dtype(SPACE)
    fields = read_fields(np.zeros((1, structured.itemsize), np.uint8), structured).values()
    truth = sum(math.prod(field.shape[1:]) for field in fields)  # a scalar field counts 1 (prod of ())
    native = T.nativize_dtype(emulation.emulated(SPACE))
    assert T._flattened_tensor_size(native) == truth == 12 + 2 + 1 + 3
    assert type(T._flattened_tensor_size(native)) is int  # PufferLib: a numpy integer of the same value
    assert T._flattened_tensor_size((torch.float32, [2, 5], 0, 40)) == 10  # a hand-kept tuple, list shape


# -- compilable_cast ----------------------------------------------------------------------------

def _shifted_bytes(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """PufferLib's unsigned formula, in numpy: byte i of each element shifted left by 8*i."""
    n = dtype.itemsize
    total = sum(raw[..., i::n].astype(np.uint64) << np.uint64(8 * i) for i in range(n))
    return total.astype(dtype)


@pytest.mark.parametrize("dtype", ELEMENTS, ids=str)
def test_compilable_cast_reads_the_bytes_as_numpy_does(dtype):
    raw = np.random.default_rng(2).integers(0, 256, (3, 4 * dtype.itemsize), dtype=np.uint8)
    got = T.compilable_cast(torch.from_numpy(raw), T.numpy_to_torch_dtype_dict[dtype])
    truth = raw.view(dtype)
    assert got.shape == truth.shape and np.array_equal(got.numpy().view(np.uint8), truth.view(np.uint8))
    if dtype.kind == "u" and sys.byteorder == "little":
        assert np.array_equal(got.numpy(), _shifted_bytes(raw, dtype))


def test_compilable_cast_of_misaligned_or_strided_bytes():
    raw = np.random.default_rng(3).integers(0, 256, (4, 33), dtype=np.uint8)
    odd = torch.from_numpy(raw)[:, 1:]  # starts at an odd byte
    assert np.array_equal(T.compilable_cast(odd, torch.uint32).numpy(), np.ascontiguousarray(raw[:, 1:]).view(np.uint32))
    strided = torch.from_numpy(raw[:, :32].copy()).T.contiguous().T  # column-major rows
    assert np.array_equal(T.compilable_cast(strided, torch.float32).numpy().view(np.uint8),
                          raw[:, :32].copy().view(np.float32).view(np.uint8))


@pytest.mark.parametrize("u8, dtype, error, message", [
    (np.zeros((2, 6), np.uint8), "float32", ValueError, r"^u8: expected a last axis of whole"),
    (np.zeros((2, 8), np.float32), "float32", ValueError, r"^u8: expected a uint8 tensor"),
    (None, "float32", TypeError, r"^u8: expected a torch.Tensor"),
    (np.zeros((2, 8), np.uint8), "bool", ValueError, r"^dtype: expected one of"),
])
def test_compilable_cast_bad_input(u8, dtype, error, message):
    with pytest.raises(error, match=message):
        T.compilable_cast(None if u8 is None else torch.from_numpy(u8), dtype)


# -- the 2.0 modules: LSTM, BatchFirstLSTM, cycle_selector, PolicyPool ----------------------------

def _orthogonal(w: torch.Tensor, gain: float) -> bool:
    w = w.detach().double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    return torch.allclose(gram, gain ** 2 * torch.eye(len(gram), dtype=torch.float64), atol=1e-5)


def test_lstm_is_layer_init_matrix_by_matrix():
    # PufferLib 2.0's LSTM calls layer_init(self): an LSTM has no `weight`, so it raises there
    with pytest.raises(TypeError, match=r"^layer: expected a torch module with a weight"):
        T.layer_init(nn.LSTM(4, 4))
    lstm = T.LSTM(input_size=6, hidden_size=4, num_layers=2)
    assert isinstance(lstm, nn.LSTM) and not lstm.batch_first
    for name, parameter in lstm.named_parameters():
        if name.startswith("weight"):
            assert _orthogonal(parameter, math.sqrt(2)), name
        else:
            assert torch.equal(parameter, torch.zeros_like(parameter)), name
    assert (T.LSTM().input_size, T.LSTM().hidden_size, T.LSTM().num_layers) == (128, 128, 1)


def test_batch_first_lstm_is_nn_lstm_with_batch_first_state():
    torch.manual_seed(0)
    cell = T.BatchFirstLSTM(input_size=5, hidden_size=3, num_layers=2)
    reference = nn.LSTM(5, 3, 2, batch_first=True)
    reference.load_state_dict(cell.state_dict())
    x, h, c = torch.randn(4, 7, 5), torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    output, (h_out, c_out) = cell(x, (h, c))
    truth, (h_truth, c_truth) = reference(x, (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous()))
    torch.testing.assert_close(output, truth, rtol=0, atol=0)
    torch.testing.assert_close(h_out, h_truth.transpose(0, 1), rtol=0, atol=0)
    torch.testing.assert_close(c_out, c_truth.transpose(0, 1), rtol=0, atol=0)
    assert h_out.shape == (4, 2, 3) and isinstance(cell(x, (h, c))[1], list)


def test_cycle_selector():
    assert [T.cycle_selector(i, 3) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]


class _Policy(nn.Module):
    """Outputs that identify the policy and the row; records whether autograd was on."""

    def __init__(self, k, recurrent):
        super().__init__()
        self.k, self.recurrent, self.grad_seen = k, recurrent, []
        self.scale = nn.Parameter(torch.tensor(1.0 + k))

    def forward(self, ob, state=None):
        self.grad_seen.append(torch.is_grad_enabled())
        first = ob[:, 0]
        outputs = (first.long() % 3 + 10 * self.k, self.scale * first, -first, 2 * first)
        if self.recurrent:
            h, c = state
            return (*outputs, (h + 1 + self.k, c - 1))
        return outputs


@pytest.mark.parametrize("recurrent", [False, True])
def test_policy_pool_fills_each_agents_row_from_its_policy(recurrent):
    agents = 6
    vecenv = types.SimpleNamespace(num_agents=agents, batch_mask=torch.ones(agents, dtype=torch.bool),
                                   single_action_space=types.SimpleNamespace(shape=()))
    policies = [_Policy(0, recurrent), _Policy(1, recurrent)]
    pool = T.PolicyPool(vecenv, policies, learner_mask=[True, False], device="cpu")
    obs = torch.arange(agents * 2, dtype=torch.float32).reshape(agents, 2)
    state = (torch.zeros(1, agents, 3), torch.zeros(1, agents, 3)) if recurrent else None
    actions, logprobs, entropy, values, new_state = pool(obs, state)
    k = torch.arange(agents) % 2  # cycle_selector: agent i -> policy i % 2
    first = obs[:, 0]
    assert torch.equal(actions, first.long() % 3 + 10 * k) and actions.dtype == torch.int64
    torch.testing.assert_close(logprobs.detach(), (1.0 + k) * first)
    torch.testing.assert_close(entropy.detach(), -first)
    torch.testing.assert_close(values, 2 * first)
    if recurrent:
        assert new_state is state
        torch.testing.assert_close(state[0][0], (1.0 + k).unsqueeze(1).expand(agents, 3))
        torch.testing.assert_close(state[1][0], -torch.ones(agents, 3))
    else:
        assert new_state is None  # PufferLib 2.0's non-recurrent path raises (reads an unset name)
    # learners keep autograd; PufferLib 2.0 runs them under no_grad (the other way round)
    assert policies[0].grad_seen == [True] and policies[1].grad_seen == [False]
    assert logprobs.requires_grad


def test_policy_pool_learner_mask_must_match():
    vecenv = types.SimpleNamespace(num_agents=2, batch_mask=None, single_action_space=types.SimpleNamespace(shape=()))
    with pytest.raises(ValueError, match=r"^learner_mask: expected one entry per policy \(2\), received 1 entries"):
        T.PolicyPool(vecenv, [_Policy(0, False), _Policy(1, False)], [True], "cpu")


# -- deterministic_action (a fork's convention) --------------------------------------------------

def test_deterministic_action_is_argmax_or_mean():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    heads = [rng.standard_normal((5, n)).astype(np.float32) for n in (2, 3)]
    assert np.array_equal(T.deterministic_action(torch.from_numpy(logits)).numpy(), logits.argmax(1))
    assert np.array_equal(T.deterministic_action([torch.from_numpy(h) for h in heads]).numpy(),
                          np.stack([h.argmax(1) for h in heads], 1))
    loc = torch.from_numpy(rng.standard_normal((5, 2)).astype(np.float32))
    assert torch.equal(T.deterministic_action(torch.distributions.Normal(loc, torch.ones(5, 2))), loc)
    mask = torch.from_numpy(logits < logits.max(1, keepdims=True))  # the best action is masked out
    second = np.where(mask.numpy(), logits, -np.inf).argmax(1)
    assert np.array_equal(T.deterministic_action(torch.from_numpy(logits), mask=mask).numpy(), second)
