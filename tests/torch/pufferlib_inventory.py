"""What PufferLib 2.0.x (2.0.0 and 2.0.6 ship the same file) and 3.0.0 define at module level
in `pufferlib/pytorch.py`, read from the released sources: each name, the versions defining it,
and its signature there (facts for the tests; no PufferLib code).

A signature is the parameters in order, `(name, default)`, with `REQUIRED` for none;
`("*args",)`/`("**kwargs",)` for variadics. Classes give their constructor's.
"""
import numpy as np

REQUIRED = object()
V2, V3, BOTH = ("2.0",), ("3.0",), ("2.0", "3.0")

# name -> (versions, signature or None for a constant or type alias)
INVENTORY = {
    "numpy_to_torch_dtype_dict": (BOTH, None),
    "LITTLE_BYTE_ORDER": (BOTH, None),
    "NativeDTypeValue": (BOTH, None),
    "NativeDType": (BOTH, None),
    "nativize_dtype": (BOTH, [("emulated", REQUIRED)]),
    "round_to": (BOTH, [("x", REQUIRED), ("base", REQUIRED)]),
    "_nativize_dtype": (BOTH, [("sample_dtype", REQUIRED), ("structured_dtype", REQUIRED), ("offset", 0)]),
    "nativize_tensor": (BOTH, [("observation", REQUIRED), ("native_dtype", REQUIRED)]),
    "compilable_cast": (BOTH, [("u8", REQUIRED), ("dtype", REQUIRED)]),
    "_nativize_tensor": (BOTH, [("observation", REQUIRED), ("native_dtype", REQUIRED)]),
    "nativize_observation": (BOTH, [("observation", REQUIRED), ("emulated", REQUIRED)]),
    "flattened_tensor_size": (BOTH, [("native_dtype", REQUIRED)]),
    "_flattened_tensor_size": (BOTH, [("native_dtype", REQUIRED)]),
    "layer_init": (BOTH, [("layer", REQUIRED), ("std", np.sqrt(2)), ("bias_const", 0.0)]),
    "BatchFirstLSTM": (V2, [("*args",), ("**kwargs",)]),
    "LSTM": (V2, [("input_size", 128), ("hidden_size", 128), ("num_layers", 1)]),
    "cycle_selector": (V2, [("sample_idx", REQUIRED), ("num_policies", REQUIRED)]),
    "PolicyPool": (V2, [("vecenv", REQUIRED), ("policies", REQUIRED), ("learner_mask", REQUIRED),
                        ("device", REQUIRED), ("policy_selector", "cycle_selector")]),
    "log_prob": (V3, [("logits", REQUIRED), ("value", REQUIRED)]),
    "entropy": (V3, [("logits", REQUIRED)]),
    "entropy_probs": (V3, [("logits", REQUIRED), ("probs", REQUIRED)]),
    "sample_logits": (V3, [("logits", REQUIRED), ("action", None)]),
}

# Methods callers reach on PufferLib 2.0's classes: (class, method) -> signature after self.
METHODS = {
    ("BatchFirstLSTM", "forward"): [("input", REQUIRED), ("hx", REQUIRED)],
    ("PolicyPool", "forward"): [("obs", REQUIRED), ("state", None), ("action", None)],
}

# Module-level imports of that file, reachable as attributes there; not provided here
# (docs/torch.md says why). 2.0 adds `contextlib`, 3.0 `Categorical` and `logits_to_probs`.
IMPORTS_NOT_PROVIDED = ["sys", "T", "Dict", "List", "Tuple", "Union", "np", "torch", "nn", "pufferlib",
                        "contextlib", "Categorical", "logits_to_probs"]
