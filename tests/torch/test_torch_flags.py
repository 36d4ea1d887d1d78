"""Torch-only arguments: generator, is_continuous, actions' dtypes, the range-check switch."""
import pytest
import torch

from puffer_backend import torch_impl as T


def test_generator_draws_follow_the_rule_with_torch_rand():
    logits = torch.randn(100, 5)
    action = T.sample_logits(logits, generator=torch.Generator().manual_seed(7))[0]
    u = torch.rand((100, 1), generator=torch.Generator().manual_seed(7)).reshape(-1)
    assert torch.equal(action, T.sample_from_uniforms(logits, u))
    again = T.sample_logits(logits, generator=torch.Generator().manual_seed(7))[0]
    assert torch.equal(action, again)
    heads = (torch.randn(100, 3), torch.randn(100, 9))  # one uniform per row and head, row-major
    action = T.sample_logits(heads, generator=torch.Generator().manual_seed(8))[0]
    u = torch.rand((100, 2), generator=torch.Generator().manual_seed(8))
    assert torch.equal(action, T.sample_from_uniforms(heads, u))


def test_global_rng_reproducible_with_manual_seed():
    logits = torch.zeros(500, 10)
    torch.manual_seed(3)
    a = T.sample_logits(logits)[0]
    torch.manual_seed(3)
    assert torch.equal(a, T.sample_logits(logits)[0])


def test_is_continuous_flag():
    normal = torch.distributions.Normal(torch.zeros(3, 2), torch.ones(3, 2))
    assert T.sample_logits(normal, is_continuous=True)[0].shape == (3, 2)
    assert T.sample_logits(torch.zeros(3, 4), is_continuous=False)[0].shape == (3,)
    with pytest.raises(ValueError, match="is_continuous"):
        T.sample_logits(torch.zeros(3, 4), is_continuous=True)
    with pytest.raises(ValueError, match="is_continuous"):
        T.sample_logits(normal, is_continuous=False)
    with pytest.raises(TypeError, match="is_continuous"):
        T.sample_logits(torch.zeros(3, 4), is_continuous=1)


def test_bad_keyword_types():
    with pytest.raises(TypeError, match="deterministic"):
        T.sample_logits(torch.zeros(3, 4), deterministic=1)
    with pytest.raises(TypeError, match="generator"):
        T.sample_logits(torch.zeros(3, 4), generator=0)
    with pytest.raises(ValueError, match="mask"):
        T.sample_logits(torch.distributions.Normal(torch.zeros(3, 2), torch.ones(3, 2)),
                        mask=torch.ones(3, 2, dtype=torch.bool))


def test_device_check_switch_is_off_by_default():
    from puffer_backend.torch_impl import validation as _validate
    assert _validate.CHECK_DEVICE_ACTIONS is False  # documented: CUDA range checks would sync


def test_layer_init_conv_and_no_bias():
    for layer in (torch.nn.Conv1d(4, 8, 3), torch.nn.Conv2d(3, 6, 3), torch.nn.Conv3d(2, 4, 2, bias=False)):
        assert T.layer_init(layer, std=1.5, bias_const=0.1) is layer
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1).double()
        torch.testing.assert_close(w @ w.T, 2.25 * torch.eye(w.shape[0], dtype=torch.float64), atol=1e-5, rtol=0)
        if layer.bias is not None:
            assert torch.all(layer.bias == 0.1)
    with pytest.raises(TypeError, match="layer"):
        T.layer_init(torch.nn.ReLU())
    with pytest.raises(TypeError, match="std"):
        T.layer_init(torch.nn.Linear(2, 2), std="big")


def test_scratch_buffers_never_alias_results():
    # batches this large take the reused-buffer path; a second call must not change the first results
    logits = torch.randn(4096, 16)
    heads = (torch.randn(4096, 3), torch.randn(4096, 9))
    first = T.sample_logits(logits, generator=torch.Generator().manual_seed(0))
    first_heads = T.sample_logits(heads, generator=torch.Generator().manual_seed(0))
    kept = [t.clone() for t in (*first, *first_heads)]
    T.sample_logits(logits * 3)
    T.sample_logits(tuple(h * 3 for h in heads))
    for before, after in zip(kept, (*first, *first_heads)):
        assert torch.equal(before, after)
    again = T.sample_logits(logits, generator=torch.Generator().manual_seed(0))
    for a, b in zip(first, again):
        assert torch.equal(a, b)


def test_dtype_dict_accepts_scalar_types_and_names():
    import numpy as np
    table = T.numpy_to_torch_dtype_dict
    assert table[np.dtype("float32")] is torch.float32
    assert table[np.float32] is torch.float32 and table["uint16"] is torch.uint16
    for missing in (np.complex64, "bogus", np.dtype(bool)):
        with pytest.raises(KeyError):
            table[missing]


def test_same_draws_with_and_without_autograd():
    # the fused no-grad path and the autograd path implement one rule: same seed, same actions
    for logits in (torch.randn(5000, 6) * 3, (torch.randn(5000, 3), torch.randn(5000, 8))):
        plain = T.sample_logits(logits, generator=torch.Generator().manual_seed(4))
        tracked = logits.clone().requires_grad_(True) if isinstance(logits, torch.Tensor) else \
            tuple(h.clone().requires_grad_(True) for h in logits)
        graded = T.sample_logits(tracked, generator=torch.Generator().manual_seed(4))
        assert torch.equal(plain[0], graded[0])
        torch.testing.assert_close(plain[1], graded[1].detach())
        torch.testing.assert_close(plain[2], graded[2].detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_reused_column_buffer_holds_the_logits_transposed(dtype):
    # rollout-sized batches of up to 16 actions are transposed into a reused buffer by numpy
    # (half types after their float32 upcast): the same actions, log-probabilities and entropies
    # as the autograd path, which transposes with torch, for plain and inference tensors
    logits = (torch.randn(4096, 7) * 3).to(dtype)
    u = torch.rand(4096, dtype=torch.float64)
    tracked = logits.clone().requires_grad_(True)
    expected = T.sample_logits(tracked, T.sample_from_uniforms(tracked.detach(), u))
    for source in (logits, torch.inference_mode()(lambda: logits.clone())()):
        with torch.no_grad():
            action = T.sample_from_uniforms(source, u)
            scored = T.sample_logits(source, action)
        assert torch.equal(action, expected[0])
        assert torch.equal(scored[1], expected[1].detach()) and torch.equal(scored[2], expected[2].detach())
