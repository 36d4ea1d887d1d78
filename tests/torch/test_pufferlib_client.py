"""A real PufferLib 3.0 client runs unchanged on the shim, and gets the right answers.

`pufferlib_client.py` runs in a fresh interpreter (the stub `pufferlib` it installs must not
leak into other tests): a policy written like PufferLib's Default on Dict observations packed
by PufferLib 3.0's emulation rule, PufferLib's trainer steps (sampling, then re-scoring a
`(segments, horizon[, heads])` minibatch, a PPO loss, backward). It saves what it saw; this
file checks it against truths computed here without the library: numpy's structured view of
the rows, closed-form log-probabilities in float64, torch.distributions' entropies.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from puffer_backend import spec
from puffer_backend import torch_impl as T
from tests.torch import pufferlib3_emulation as emulation
from tests.torch.pufferlib_client_spaces import (ACTION_SPACES, AGENTS, HORIZON, MINIBATCH_SEGMENTS,
                                                 OBSERVATION_SPACES, SCENARIOS, S)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = MINIBATCH_SEGMENTS * HORIZON


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    out = tmp_path_factory.mktemp("pufferlib_client") / "results.pt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-m", "tests.torch.pufferlib_client", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return torch.load(out, weights_only=True)


def _spaces(scenario):
    observation_name, action_name = scenario.split("-")
    return OBSERVATION_SPACES[observation_name], ACTION_SPACES[action_name]


def _numpy_leaves(structured: np.dtype, path=(), offset=0):
    """[(path, element dtype, shape, byte offset)] in field order, from numpy's own field table."""
    if structured.fields is None:
        element, shape = structured.subdtype if structured.subdtype is not None else (structured, (1,))
        return [(path, element, tuple(shape), offset)]
    found = []
    for name, (sub, sub_offset, *_) in structured.fields.items():
        found += _numpy_leaves(sub, (*path, name), offset + sub_offset)
    return found


def _at(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _fields(rows: np.ndarray, structured: np.dtype, path):
    """The field at `path` of every row, `(rows, *shape)`, read by numpy."""
    return _at(np.ascontiguousarray(rows).view(structured)[:, 0], path)


def _torch_name(element: np.dtype) -> str:
    return str(torch.from_numpy(np.zeros(1, element)).dtype)


def _heads(action_space):
    if isinstance(action_space, S.Discrete):
        return [int(action_space.n)]
    return [int(n) for n in action_space.nvec]


def _closed_form_logprob(logits, action, action_space):
    """float64 log-probability of `action` (batch rows): log-softmax per head, or the Normal density."""
    if isinstance(action_space, S.Box):
        loc, scale = logits["loc"].double().numpy(), logits["scale"].double().numpy()
        a = action.double().numpy().reshape(loc.shape)
        return (-0.5 * ((a - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi)).sum(1)
    heads = [logits] if isinstance(logits, torch.Tensor) else logits
    a = action.numpy().reshape(len(heads[0]), -1)
    total = np.zeros(len(a))
    for i, head in enumerate(heads):
        x = head.double().numpy()
        top = x.max(1, keepdims=True)
        log_softmax = x - top - np.log(np.exp(x - top).sum(1, keepdims=True))
        total += log_softmax[np.arange(len(a)), a[:, i]]
    return total


def _distributions_entropy(logits, action_space):
    if isinstance(action_space, S.Box):
        return torch.distributions.Normal(logits["loc"], logits["scale"]).entropy().sum(1)
    heads = [logits] if isinstance(logits, torch.Tensor) else logits
    return sum(torch.distributions.Categorical(logits=h.double()).entropy() for h in heads).float()


def _tensors(logits):
    """The saved logits' tensors: the Normal's loc and scale, the heads, or the one tensor."""
    if isinstance(logits, dict):
        return [logits["loc"], logits["scale"]]
    return list(logits) if isinstance(logits, list) else [logits]


def _trainer_order(eval_logits, idx):
    """Saved per-step logits `(agents, ...)` -> the minibatch rows `(len(idx) * horizon, ...)`,
    ordered as the trainer's `(segments, horizon)` buffers flatten (agent = segment here)."""
    def rows(steps):
        return torch.stack(steps, 1)[idx].reshape(len(idx) * HORIZON, -1)
    first = eval_logits[0]
    if isinstance(first, dict):
        return {k: rows([step[k] for step in eval_logits]) for k in first}
    if isinstance(first, list):
        return [rows([step[i] for step in eval_logits]) for i in range(len(first))]
    return rows(eval_logits)


def test_the_client_ran_on_the_shim(client):
    assert client["pufferlib.pytorch"] == "puffer_backend.torch_impl"
    assert client["pufferlib is the shim's stub"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_layout_is_numpys_field_table(client, scenario):
    observation_space, _ = _spaces(scenario)
    structured, rows_dtype = emulation.structured_dtype(observation_space), emulation.rows_dtype(observation_space)
    native = client[scenario]["native"]
    expected_leaves = _numpy_leaves(structured)
    assert sum(1 for _ in spec.leaves(T.nativize_dtype(emulation.emulated(observation_space)))) == len(expected_leaves)
    for path, element, shape, offset in expected_leaves:
        nbytes = element.itemsize * math.prod(shape)
        assert _at(native, path) == [_torch_name(element), list(shape), offset // rows_dtype.itemsize,
                                     nbytes // rows_dtype.itemsize], path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_nativized_leaves_are_numpys_structured_view_bit_for_bit(client, scenario):
    observation_space, _ = _spaces(scenario)
    structured = emulation.structured_dtype(observation_space)
    rows = client[scenario]["first_rows"].numpy()
    assert rows.dtype == emulation.rows_dtype(observation_space) and rows.shape == (AGENTS, structured.itemsize
                                                                                      // rows.dtype.itemsize)
    for path, element, shape, _ in _numpy_leaves(structured):
        leaf = _at(client[scenario]["first_leaves"], path).numpy()
        truth = _fields(rows, structured, path).reshape(AGENTS, *shape)
        assert leaf.dtype == element and leaf.shape == (AGENTS, *shape), path
        assert np.array_equal(np.ascontiguousarray(leaf).view(np.uint8), np.ascontiguousarray(truth).view(np.uint8))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_encoder_sees_every_field_in_order(client, scenario):
    # PufferLib's Default: nativized leaves, each flattened per row, concatenated, cast to float
    observation_space, _ = _spaces(scenario)
    structured = emulation.structured_dtype(observation_space)
    observations = client[scenario]["buffers"]["observations"]
    for step, seen in enumerate(client[scenario]["encoder_inputs"]):
        rows = observations[:, step].numpy()
        truth = np.concatenate([_fields(rows, structured, path).reshape(AGENTS, -1).astype(np.float32)
                                for path, *_ in _numpy_leaves(structured)], axis=1)
        assert np.array_equal(seen.numpy(), truth), step


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sampled_actions_fill_the_trainers_buffer(client, scenario):
    _, action_space = _spaces(scenario)
    run = client[scenario]
    actions = run["buffers"]["actions"]
    assert actions.shape == (AGENTS, HORIZON, *action_space.shape)
    assert str(actions.dtype) == _torch_name(action_space.dtype)  # the trainer types it from the space
    if isinstance(action_space, S.Box):
        assert run["sampled_dtype"] == "torch.float32" and run["sampled_shape"] == [AGENTS, action_space.shape[0]]
        assert torch.isfinite(actions).all()
        return
    heads = _heads(action_space)
    expected_shape = [AGENTS] if isinstance(action_space, S.Discrete) else [AGENTS, len(heads)]
    assert run["sampled_dtype"] == "torch.int64" and run["sampled_shape"] == expected_shape
    per_head = actions.reshape(-1, len(heads))
    assert (per_head >= 0).all() and (per_head < torch.tensor(heads)).all()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stored_logprobs_are_the_closed_form(client, scenario):
    _, action_space = _spaces(scenario)
    run = client[scenario]
    for step, logits in enumerate(run["eval_logits"]):
        truth = _closed_form_logprob(logits, run["buffers"]["actions"][:, step], action_space)
        np.testing.assert_allclose(run["buffers"]["logprobs"][:, step].numpy(), truth, rtol=0, atol=2e-6)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_minibatch_rescored_in_the_trainers_form(client, scenario):
    _, action_space = _spaces(scenario)
    run = client[scenario]
    idx, mb_actions = run["idx"], run["mb_actions"]
    assert mb_actions.shape == (MINIBATCH_SEGMENTS, HORIZON, *action_space.shape)  # (segments, horizon[, heads])
    # the given actions come back as (batch,), (batch, heads) or (batch, action_dim), unchanged
    returned = run["returned_actions"]
    expected_shape = (BATCH,) if isinstance(action_space, S.Discrete) else (BATCH, action_space.shape[0])
    assert returned.shape == expected_shape and returned.dtype == mb_actions.dtype
    assert torch.equal(returned, mb_actions.reshape(expected_shape))
    # the update's second forward pass (another batch size) gives the sampling-time logits again
    train_logits, eval_logits = run["train_logits"], _trainer_order(run["eval_logits"], idx)
    for new, old in zip(_tensors(train_logits), _tensors(eval_logits), strict=True):
        torch.testing.assert_close(new, old, rtol=0, atol=1e-6)
    stored = run["buffers"]["logprobs"][idx]
    assert run["newlogprob"].shape == stored.shape == (MINIBATCH_SEGMENTS, HORIZON)
    torch.testing.assert_close(run["newlogprob"], stored, rtol=0, atol=2e-6)
    truth = _closed_form_logprob(train_logits, mb_actions, action_space).reshape(stored.shape)
    np.testing.assert_allclose(run["newlogprob"].numpy(), truth, rtol=0, atol=2e-6)
    assert run["train_entropy"].shape == (BATCH,)
    torch.testing.assert_close(run["train_entropy"], _distributions_entropy(train_logits, action_space),
                               rtol=0, atol=2e-6)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.endswith("-continuous")])
def test_normal_rescored_with_the_same_logits_is_exact(client, scenario):
    # what makes PPO's first ratio exactly 1: the stored logprob, re-scored from the same logits
    run = client[scenario]
    logits = _trainer_order(run["eval_logits"], run["idx"])
    normal = torch.distributions.Normal(logits["loc"], logits["scale"])
    _, logprob, _ = T.sample_logits(normal, action=run["mb_actions"])
    assert torch.equal(logprob.reshape(MINIBATCH_SEGMENTS, HORIZON), run["buffers"]["logprobs"][run["idx"]])


@pytest.mark.parametrize("heads", [(6,), (3, 5, 2)], ids=["discrete", "multidiscrete"])
def test_categorical_rescored_with_the_same_logits_is_exact(heads):
    # what makes PPO's first ratio exactly 1, as in PufferLib (one formula for both)
    generator = torch.Generator().manual_seed(0)
    segments, horizon = 64, 64  # 4096 rows: a rounding difference somewhere is certain if one exists
    logits = [3 * torch.randn(segments * horizon, n, generator=generator) for n in heads]
    logits = logits[0] if len(heads) == 1 else logits
    with torch.no_grad():
        action, stored, stored_entropy = T.sample_logits(logits, generator=generator)  # the trainer's evaluate
    buffer = action.reshape(segments, horizon, *action.shape[1:])
    grad_logits = [x.clone().requires_grad_() for x in ([logits] if len(heads) == 1 else logits)]
    _, rescored, entropy = T.sample_logits(grad_logits[0] if len(heads) == 1 else grad_logits, action=buffer)
    assert torch.equal(rescored.detach(), stored)
    assert torch.equal(entropy.detach(), stored_entropy)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ppo_loss_reaches_every_parameter(client, scenario):
    _, action_space = _spaces(scenario)
    run = client[scenario]
    heads = (["decoder_mean.weight", "decoder_mean.bias", "decoder_logstd"] if isinstance(action_space, S.Box)
             else ["decoder.weight", "decoder.bias"])
    assert sorted(run["grads"]) == sorted(["encoder.0.weight", "encoder.0.bias", "value.weight", "value.bias",
                                           *heads])
    assert torch.isfinite(run["loss"])
    for name, grad in run["grads"].items():
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


# -- PufferLib 3.0's rows and spec.pack_batch's ----------------------------------------------------


def _stacked(samples):
    """A list of samples -> one sample whose leaves carry a leading batch axis (for pack_batch)."""
    first = samples[0]
    if isinstance(first, dict):
        return {key: _stacked([s[key] for s in samples]) for key in first}
    return np.stack([np.asarray(s) for s in samples])


@pytest.mark.parametrize("name", list(OBSERVATION_SPACES))
def test_pufferlib_rows_are_spec_pack_batch_rows(name):
    # PufferLib 3.0 stores Discrete and MultiDiscrete leaves as int32, as spec does: for these
    # spaces both producers write the same bytes, and either layout reads either's rows
    space = OBSERVATION_SPACES[name]
    space.seed(11)
    samples = [space.sample() for _ in range(AGENTS)]
    rows = emulation.pack_rows(space, samples)
    assert np.array_equal(spec.pack_batch(space, _stacked(samples)), rows)
    from_space, from_emulated = T.nativize_dtype(space), T.nativize_dtype(emulation.emulated(space))
    assert from_space == from_emulated
    read_a = T.nativize_tensor(torch.from_numpy(rows), from_space)
    read_b = T.nativize_tensor(torch.from_numpy(rows), from_emulated)
    for path, *_ in _numpy_leaves(emulation.structured_dtype(space)):
        assert torch.equal(_at(read_a, path), _at(read_b, path)), path


def test_rows_of_another_dtype_are_refused_not_misread():
    # An int32 Box beside a Discrete: spec's leaves are all int32, so its rows are int32;
    # PufferLib picks the rows' dtype from the gymnasium dtypes (int32, int64) and uses bytes
    space = S.Dict({"cells": S.Box(0, 9, (2,), np.int32), "id": S.Discrete(4)})
    assert emulation.rows_dtype(space) == np.uint8 and spec.sample_dtype(space) == np.int32
    rows = torch.from_numpy(emulation.pack_rows(space, [{"cells": np.array([1, 2], np.int32), "id": 3}] * 2))
    with pytest.raises(ValueError, match=r"^observation: expected dtype int32, received dtype uint8"):
        T.nativize_tensor(rows, T.nativize_dtype(space))
    assert T.nativize_tensor(rows, T.nativize_dtype(emulation.emulated(space)))["id"].tolist() == [[3], [3]]
