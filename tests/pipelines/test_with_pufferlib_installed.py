"""The torch and mixed pipelines work when PufferLib is installed.

With PufferLib importable, `shim.install()` defers to it (users asked for PufferLib), and
PufferLib 3.0's `pufferlib.pytorch` lacks what the pipelines use (`sample_logits(...,
deterministic=, generator=)`, `nativize_dtype(space)`). So the pipelines import
`puffer_backend.torch_impl` directly. The test puts a stand-in `pufferlib` package with
PufferLib 3.0's signatures on `sys.path` in a subprocess, trains and evaluates both pipelines
briefly there, and checks that the stand-in is what `shim.install()` would hand to users.
"""
import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("gymnasium")

# PufferLib 3.0's signatures, minimal bodies (written for this test): every call is recorded.
STAND_IN = textwrap.dedent('''
    import numpy as np
    import torch

    CALLS = []
    numpy_to_torch_dtype_dict = {np.dtype("float32"): torch.float32, np.dtype("int32"): torch.int32,
                                 np.dtype("uint8"): torch.uint8, np.dtype("int64"): torch.int64}

    def nativize_dtype(emulated):
        CALLS.append("nativize_dtype")
        sample, structured = emulated["observation_dtype"], emulated["emulated_observation_dtype"]
        dtype, shape = structured.subdtype if structured.subdtype else (structured, (1,))
        return (numpy_to_torch_dtype_dict[dtype], shape, 0, int(np.prod(shape)))

    def nativize_tensor(observation, native_dtype):
        CALLS.append("nativize_tensor")
        dtype, shape, offset, delta = native_dtype
        return observation.narrow(1, offset, delta).view(dtype).view(observation.shape[0], *shape)

    def flattened_tensor_size(native_dtype):
        return int(np.prod(native_dtype[1]))

    def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
        CALLS.append("layer_init")
        torch.nn.init.orthogonal_(layer.weight, std)
        torch.nn.init.constant_(layer.bias, bias_const)
        return layer

    def sample_logits(logits, action=None):
        CALLS.append("sample_logits")
        dist = torch.distributions.Categorical(logits=logits)
        action = dist.sample() if action is None else action
        return action, dist.log_prob(action), dist.entropy()
''')

CHILD = textwrap.dedent('''
    import json, sys, tempfile
    sys.path.insert(0, sys.argv[1])
    from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline

    out = {}
    for backend in sys.argv[2:]:
        pipeline = load_pipeline(backend)
        with tempfile.TemporaryDirectory() as run:
            summary = pipeline.train(TrainConfig(backend=backend, total_steps=1024), MemoryLogger(run))
            out[backend] = {"steps": summary["steps"], "eval": pipeline.evaluate(run, episodes=2)}
    out["pufferlib_imported_by_pipelines"] = "pufferlib" in sys.modules
    from puffer_backend import shim
    shim.install()
    import pufferlib.pytorch
    out["shim_hands_users"] = pufferlib.pytorch.__file__
    out["stand_in_calls"] = pufferlib.pytorch.CALLS
    print("RESULT " + json.dumps(out))
''')


def test_pipelines_train_and_evaluate_with_pufferlib_installed(tmp_path):
    package = tmp_path / "pufferlib"
    package.mkdir()
    (package / "__init__.py").write_text('"""A stand-in for PufferLib 3.0 (test only)."""\n')
    (package / "pytorch.py").write_text(STAND_IN)
    backends = ["torch"]
    try:
        import gymnax  # noqa: F401
        import jax  # noqa: F401
        backends.append("mixed")
    except ImportError:
        pass
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), *backends], capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT "):])
    for backend in backends:
        assert result[backend]["steps"] == 1024
        assert 1.0 <= result[backend]["eval"] <= 500.0
    assert not result["pufferlib_imported_by_pipelines"]
    # The stand-in is what users of the shim get (PufferLib "installed"), and nothing called it.
    assert result["shim_hands_users"] == str(package / "pytorch.py")
    assert result["stand_in_calls"] == []
