"""The spec's result-dtype rule (`spec.dtypes.compute_dtype_name`) is the dtype every backend
returns log-probabilities and entropies in, for every float dtype of logits (and of a Normal)."""
import numpy as np
import pytest

from puffer_backend import spec

FLOATS = ["bfloat16", "float16", "float32", "float64"]


def _scores(backend, dtype):
    """Every log-probability and entropy the API returns, for inputs of `dtype`: {call: array}."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5))
    logits, head = backend.array(x, dtype), backend.array(x[:, :3], dtype)
    action = backend.array(rng.integers(0, 3, size=6).astype(np.int32))
    logp = x - np.logaddexp.reduce(x, axis=-1, keepdims=True)
    loc, scale = backend.array(x[:, :2], dtype), backend.array(np.full((6, 2), 0.5), dtype)
    normal = backend.normal(loc, scale)
    out = {}
    for name, (_, lp, ent) in {
        "sample_logits": backend.sample_logits(logits, seed=0),
        "sample_logits(deterministic)": backend.sample_logits(logits, deterministic=True, seed=0),
        "sample_logits(action)": backend.sample_logits(logits, action),
        "sample_logits(heads)": backend.sample_logits((logits, head), seed=0),
        "sample_logits(Normal)": backend.sample_logits(normal, seed=0),
        "sample_logits(Normal, action)": backend.sample_logits(normal, loc),
    }.items():
        out[f"{name} logprob"], out[f"{name} entropy"] = lp, ent
    out["log_prob"] = backend.api.log_prob(logits, action)
    out["entropy"] = backend.api.entropy(logits)
    out["entropy_probs"] = backend.api.entropy_probs(backend.array(logp, dtype), backend.array(np.exp(logp), dtype))
    return out


@pytest.mark.parametrize("dtype", FLOATS)
def test_scores_come_out_in_the_spec_result_dtype(backend, dtype):
    if dtype == "float64" and not backend.can_hold(np.dtype(np.float64)):
        pytest.skip("JAX with x64 off narrows float64 input to float32 (docs/jax.md; test_edge_cases.py)")
    expected = spec.compute_dtype_name(dtype)
    got = {call: backend.dtype_name(value) for call, value in _scores(backend, dtype).items()}
    assert got == dict.fromkeys(got, expected)
