"""torch-only layer initialization and dtype-table behaviour (sampling: test_sampling.py)."""
import numpy as np
import pytest
import torch

from puffer_backend import torch_impl as T


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


def test_dtype_dict_accepts_scalar_types_and_names():
    table = T.numpy_to_torch_dtype_dict
    assert table[np.dtype("float32")] is torch.float32
    assert table[np.float32] is torch.float32 and table["uint16"] is torch.uint16
    for missing in (np.complex64, "bogus", np.dtype(bool)):
        with pytest.raises(KeyError):
            table[missing]
