"""Call patterns of public code built on PufferLib 2.0/3.0's `pufferlib.pytorch`, one test each.

`pufferlib_callers.py` runs them unchanged on the shim in a fresh interpreter (the shim
registers a stub `pufferlib` package); these tests check what they gave against truths
computed here without the library: numpy's view of the bytes, closed-form log-probabilities
in float64, torch.distributions' entropies, torch.nn's LSTM. The sources of the patterns are
in `pufferlib_callers.py` and in docs/torch.md ("Call patterns of public callers").

PufferLib 2.x passes `is_continuous` as the third positional argument of `sample_logits`,
which torch_impl's signature takes there.
"""
import inspect
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from puffer_backend import torch_impl as T
from tests.torch.pufferlib_inventory import INVENTORY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    out = tmp_path_factory.mktemp("pufferlib_callers") / "results.pt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-m", "tests.torch.pufferlib_callers", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return torch.load(out, weights_only=True)


def _result(client, pattern):
    """What the pattern gave; the error it raised, re-raised here with its own type."""
    record = client[pattern]
    if "error" in record:
        raise {"TypeError": TypeError, "ValueError": ValueError}.get(record["error"], RuntimeError)(record["message"])
    return record["result"]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    top = x.max(-1, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(-1, keepdims=True))


def _categorical_logprob(heads, action: np.ndarray) -> np.ndarray:
    """float64 log-probability of `action` `(batch, heads)` under the heads' categoricals."""
    return sum(_log_softmax(np.asarray(h))[np.arange(len(action)), action[:, i]] for i, h in enumerate(heads))


def _normal_logprob(loc, scale, action) -> np.ndarray:
    loc, scale, action = (np.asarray(t, dtype=np.float64) for t in (loc, scale, action))
    return (-0.5 * ((action - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi)).sum(1)


def _categorical_entropy(heads) -> torch.Tensor:
    return sum(torch.distributions.Categorical(logits=h.double()).entropy() for h in heads).float()


def test_the_callers_ran_on_the_shim(client):
    assert client["pufferlib.pytorch"] == "puffer_backend.torch_impl"


def test_every_pufferlib_name_imports_through_the_shim(client):
    # `from pufferlib.pytorch import layer_init, _nativize_dtype, nativize_tensor` raised ImportError before
    found = _result(client, "names")
    assert found == {name: True for name in INVENTORY}


@pytest.mark.parametrize("prefix", [8, 13], ids=["aligned-tail", "odd-byte-tail"])
def test_impulse_wars_reads_the_float_tail(client, prefix):
    # PufferLib 3.0's ImpulseWars: `_, *dtype = _nativize_dtype(u8 subarray, f32 subarray)`, then
    # `nativize_tensor(obs[:, offset:], tuple(dtype))`
    run = _result(client, "impulse_wars")[prefix]
    assert run["dtype"] == ["torch.float32", [5], 0, 20]
    rows = run["rows"].numpy()
    truth = np.ascontiguousarray(rows[:, prefix:prefix + 20]).view(np.float32)
    assert np.array_equal(run["continuous"].numpy().view(np.uint8), truth.view(np.uint8))
    assert run["encoded_shape"] == [len(rows), 4]


def test_links_awaken_imports_lstm(client):
    # `from pufferlib.pytorch import LSTM`: an LSTM whose matrices got layer_init's defaults
    params = _result(client, "links_awaken")
    assert sorted(params) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    for name, p in params.items():
        if name.startswith("weight"):
            w = p.double()
            gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
            torch.testing.assert_close(gram, 2.0 * torch.eye(len(gram), dtype=torch.float64), rtol=0, atol=1e-5)
        else:
            assert not p.any()


def test_batch_first_lstm_as_recurrent_cls(client):
    # `recurrent_cls=pufferlib.pytorch.BatchFirstLSTM, recurrent_kwargs={...}`: torch's LSTM with
    # batch-first input and state
    run = _result(client, "batch_first_lstm")
    reference = nn.LSTM(5, 3, 2, batch_first=True)
    reference.load_state_dict(run["state_dict"])
    with torch.no_grad():
        output, (h, c) = reference(run["x"], (run["h"].transpose(0, 1).contiguous(),
                                              run["c"].transpose(0, 1).contiguous()))
    # another process (and autograd on there): kernels may round the last bit differently
    torch.testing.assert_close(run["output"], output, rtol=0, atol=1e-6)
    torch.testing.assert_close(run["h_out"], h.transpose(0, 1), rtol=0, atol=1e-6)
    torch.testing.assert_close(run["c_out"], c.transpose(0, 1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["discrete", "multidiscrete", "continuous"])
def test_cleanrl_wrapper_passes_the_flag_positionally(client, kind):
    # PufferLib 2.0 `pufferlib/cleanrl.py` Policy: `sample_logits(logits, action, self.is_continuous)`,
    # sampling (action None), then scoring the sampled actions
    run = _result(client, "cleanrl_wrapper")[kind]
    logits, action = run["logits"], run["action"]
    if kind == "continuous":
        truth = _normal_logprob(logits["loc"], logits["scale"], action)
        entropy = torch.distributions.Normal(logits["loc"], logits["scale"]).entropy().sum(1)
        assert action.dtype == torch.float32 and action.shape == logits["loc"].shape
    else:
        heads = [logits] if kind == "discrete" else logits
        actions = action.numpy().reshape(len(heads[0]), -1)
        assert all(((actions[:, i] >= 0) & (actions[:, i] < h.shape[1])).all() for i, h in enumerate(heads))
        truth = _categorical_logprob([h.numpy() for h in heads], actions)
        entropy = _categorical_entropy(heads)
    np.testing.assert_allclose(run["sampled_logprob"].numpy(), truth, rtol=0, atol=2e-6)
    assert torch.equal(run["scored_logprob"], run["sampled_logprob"])
    torch.testing.assert_close(run["entropy"], entropy, rtol=0, atol=2e-6)
    assert torch.equal(run["scored_action"], action)


@pytest.mark.parametrize("call", ["sample_logits", "deterministic_action"])
def test_eval_loops_take_the_argmax_or_the_mean(client, call):
    # PufferDrive's evaluators: `sample_logits(logits, deterministic=True)`; a fork's eval loop:
    # `deterministic_action(logits)`; both `.cpu().numpy().reshape(action_space.shape)`
    run = _result(client, "eval_loops")
    assert np.array_equal(run[f"{call}-discrete"].numpy(), run["discrete"].numpy().argmax(1))
    assert np.array_equal(run[f"{call}-heads"].numpy(), np.stack([h.numpy().argmax(1) for h in run["heads"]], 1))
    assert torch.equal(run[f"{call}-normal"], run["loc"])


def test_positional_and_keyword_scoring(client):
    # Metta's PufferLib adapter: `sample_logits(hidden, action)` with action None, then given;
    # PufferDrive's human-replay docs: `sample_logits(logits=..., action=...)`
    run = _result(client, "scoring")
    hidden = run["hidden"]
    truth = _categorical_logprob([hidden.numpy()], run["action"].numpy()[:, None])
    np.testing.assert_allclose(run["logprob"].numpy(), truth, rtol=0, atol=2e-6)
    assert torch.equal(run["rescored"], run["logprob"])
    human = _categorical_logprob([hidden.numpy()], run["human_actions"].numpy()[:, None])
    np.testing.assert_allclose(run["human_logprob"].numpy(), human, rtol=0, atol=2e-6)
    torch.testing.assert_close(run["human_entropy"], _categorical_entropy([hidden]), rtol=0, atol=2e-6)


# -- the positional flag in this process ---------------------------------------------------------

def test_is_continuous_is_the_third_positional_parameter():
    params = list(inspect.signature(T.sample_logits).parameters.values())
    if [p.name for p in params[:3]] != ["logits", "action", "is_continuous"]:
        raise TypeError(f"sample_logits' positional parameters are {[p.name for p in params[:3]]}")
    assert params[2].kind is params[2].POSITIONAL_OR_KEYWORD and params[2].default is None


def test_positional_flag_scores_discrete_heads():
    generator = torch.Generator().manual_seed(0)
    heads = [torch.randn(8, n, generator=generator) for n in (3, 4)]
    action = torch.stack([torch.randint(0, n, (8,), generator=generator) for n in (3, 4)], 1)
    returned, logprob, entropy = T.sample_logits(heads, action, False)
    assert torch.equal(returned, action)
    np.testing.assert_allclose(logprob.numpy(), _categorical_logprob([h.numpy() for h in heads], action.numpy()),
                               rtol=0, atol=2e-6)
    torch.testing.assert_close(entropy, _categorical_entropy(heads), rtol=0, atol=2e-6)


def test_positional_flag_samples_a_normal():
    loc, scale = torch.randn(8, 2), torch.rand(8, 2) + 0.5
    action, logprob, entropy = T.sample_logits(torch.distributions.Normal(loc, scale), None, True)
    assert action.shape == (8, 2)
    np.testing.assert_allclose(logprob.numpy(), _normal_logprob(loc, scale, action), rtol=0, atol=2e-6)
    torch.testing.assert_close(entropy, torch.distributions.Normal(loc, scale).entropy().sum(1))


def test_positional_flag_that_contradicts_the_input_is_refused():
    try:
        T.sample_logits(torch.zeros(4, 3), None, True)
    except ValueError as error:
        assert str(error).startswith("is_continuous: expected True to come with a torch.distributions.Normal")
    else:
        raise AssertionError("no error")
