"""Public callers of PufferLib 2.0/3.0's `pufferlib.pytorch`, run on the shim:
`python -m tests.torch.pufferlib_callers OUT`.

Run it as a program only: it calls `shim.install()` and imports through `pufferlib.pytorch`
at the top, as those callers do. Each call pattern below is written the way its public
source writes it (named in its docstring); the program saves what each gave, or the error
it raised, to OUT (`torch.save`), and `test_pufferlib_callers.py` checks that against
truths computed without the library.
"""
from puffer_backend import shim

shim.install()

import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import pufferlib.pytorch  # noqa: E402
from pufferlib.pytorch import LSTM, _nativize_dtype, layer_init, nativize_tensor, sample_logits  # noqa: E402

from tests.torch.pufferlib_inventory import INVENTORY  # noqa: E402

BATCH = 6


def impulse_wars_encoder():
    """PufferLib 3.0 `pufferlib/ocean/torch.py` (ImpulseWars): a byte row whose tail holds
    float32s, read with the private `_nativize_dtype` and a hand-kept tuple."""
    generator = torch.Generator().manual_seed(1)
    results = {}
    for prefix in (8, 13):  # a float tail at an aligned and at an odd byte of the row
        floats = 5
        rows = torch.randint(0, 256, (BATCH, prefix + 4 * floats), dtype=torch.uint8, generator=generator)
        _, *dtype = _nativize_dtype(np.dtype((np.uint8, (4 * floats,))), np.dtype((np.float32, (floats,))))
        dtype = tuple(dtype)
        continuous = nativize_tensor(rows[:, prefix:], dtype)
        features = torch.cat((rows[:, :prefix].float(), continuous), dim=-1)
        encoder = layer_init(nn.Linear(features.shape[1], 4))
        results[prefix] = {"rows": rows, "dtype": [str(dtype[0]), list(dtype[1]), dtype[2], dtype[3]],
                           "continuous": continuous.clone(), "encoded_shape": list(encoder(features).shape)}
    return results


def links_awaken_import():
    """PufferLib 2.0/3.0 `pufferlib/environments/links_awaken/torch.py`: `from pufferlib.pytorch
    import LSTM` (3.0's own module no longer defines it)."""
    torch.manual_seed(2)
    lstm = LSTM(input_size=8, hidden_size=4)
    return {name: p.detach().clone() for name, p in lstm.named_parameters()}


def batch_first_recurrent_cls():
    """PufferLib 2.0-era policies: `recurrent_cls=pufferlib.pytorch.BatchFirstLSTM,
    recurrent_kwargs={'input_size': ..., 'hidden_size': ..., 'num_layers': 1}`."""
    torch.manual_seed(3)
    recurrent_cls = pufferlib.pytorch.BatchFirstLSTM
    cell = recurrent_cls(**{"input_size": 5, "hidden_size": 3, "num_layers": 2})
    x = torch.randn(BATCH, 4, 5)
    h, c = torch.randn(BATCH, 2, 3), torch.randn(BATCH, 2, 3)
    output, (h_out, c_out) = cell(x, (h, c))
    return {"state_dict": {k: v.clone() for k, v in cell.state_dict().items()}, "x": x, "h": h, "c": c,
            "output": output.detach().clone(), "h_out": h_out.detach().clone(), "c_out": c_out.detach().clone()}


class CleanRLPolicy(nn.Module):
    """PufferLib 2.0 `pufferlib/cleanrl.py`'s `Policy` wrapper: the flag as a third positional."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.is_continuous = hasattr(policy, "is_continuous") and policy.is_continuous

    def get_action_and_value(self, x, action=None):
        logits, value = self.policy(x)
        action, logprob, entropy = sample_logits(logits, action, self.is_continuous)
        return action, logprob, entropy, value


class HeadPolicy(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind, self.is_continuous = kind, kind == "continuous"
        self.net = nn.Linear(3, {"discrete": 4, "multidiscrete": 5, "continuous": 2}[kind])

    def forward(self, x):
        out = self.net(x)
        if self.kind == "multidiscrete":
            out = out.split([2, 3], dim=1)
        elif self.kind == "continuous":
            out = torch.distributions.Normal(out, torch.full_like(out, 0.5))
        return out, torch.zeros(len(x), 1)


def detached(logits):
    if isinstance(logits, torch.distributions.Normal):
        return {"loc": logits.loc.detach().clone(), "scale": logits.scale.detach().clone()}
    if isinstance(logits, (tuple, list)):
        return [h.detach().clone() for h in logits]
    return logits.detach().clone()


def cleanrl_wrapper():
    """The 2.0 wrapper sampling, then scoring its own actions (its trainer's two calls)."""
    results = {}
    for kind in ("discrete", "multidiscrete", "continuous"):
        torch.manual_seed(4)
        policy = CleanRLPolicy(HeadPolicy(kind))
        x = torch.randn(BATCH, 3)
        sampled = policy.get_action_and_value(x)
        scored = policy.get_action_and_value(x, sampled[0])
        results[kind] = {"logits": detached(policy.policy(x)[0]), "action": sampled[0].detach(),
                         "sampled_logprob": sampled[1].detach(), "scored_logprob": scored[1].detach(),
                         "entropy": scored[2].detach(), "scored_action": scored[0].detach()}
    return results


def eval_loops():
    """Evaluation steps of PufferLib forks: PufferDrive's evaluators
    (`pufferlib/ocean/benchmark/evaluators/base.py`) call `pufferlib.pytorch.sample_logits(logits,
    deterministic=True)`; another fork's `pufferlib.pytorch.deterministic_action(logits)`;
    both then `.cpu().numpy().reshape(action_space.shape)`."""
    torch.manual_seed(5)
    discrete, heads = torch.randn(BATCH, 4), [torch.randn(BATCH, 2), torch.randn(BATCH, 3)]
    normal = torch.distributions.Normal(torch.randn(BATCH, 2), torch.ones(BATCH, 2))
    out = {"discrete": discrete, "heads": heads, "loc": normal.loc}
    for name, logits, shape in (("discrete", discrete, (BATCH,)), ("heads", heads, (BATCH, 2)),
                                ("normal", normal, (BATCH, 2))):
        action, _, _ = pufferlib.pytorch.sample_logits(logits, deterministic=True)
        out[f"sample_logits-{name}"] = torch.from_numpy(action.cpu().numpy().reshape(shape))
        action = pufferlib.pytorch.deterministic_action(logits)
        out[f"deterministic_action-{name}"] = torch.from_numpy(action.cpu().numpy().reshape(shape))
    return out


def keyword_and_positional_scoring():
    """Metta's PufferLib adapter: `sample_logits(hidden, action)` (action positional, None or
    given); PufferDrive's human-replay docs: `sample_logits(logits=..., action=...)`."""
    torch.manual_seed(6)
    hidden = torch.randn(BATCH, 5)
    action, logprob, entropy = sample_logits(hidden, None)
    _, rescored, _ = sample_logits(hidden, action)
    human_actions = torch.randint(0, 5, (BATCH,))
    _, human_logprob, human_entropy = pufferlib.pytorch.sample_logits(logits=hidden, action=human_actions)
    return {"hidden": hidden, "action": action, "logprob": logprob, "rescored": rescored,
            "human_actions": human_actions, "human_logprob": human_logprob, "human_entropy": human_entropy}


def every_name():
    """Each name PufferLib 2.0.x/3.0.x define in `pufferlib/pytorch.py`, reached through
    `pufferlib.pytorch` and by `from pufferlib.pytorch import ...`."""
    found = {}
    for name in INVENTORY:
        namespace = {}
        try:
            exec(f"from pufferlib.pytorch import {name}", namespace)  # noqa: S102 - the import form under test
            found[name] = namespace[name] is getattr(pufferlib.pytorch, name)
        except ImportError as error:
            found[name] = f"ImportError: {error}"
    return found


def guarded(call):
    try:
        return {"result": call()}
    except Exception as error:  # noqa: BLE001 - the test reads which pattern failed and how
        return {"error": type(error).__name__, "message": str(error)}


def main(out_path):
    patterns = {"impulse_wars": impulse_wars_encoder, "links_awaken": links_awaken_import,
                "batch_first_lstm": batch_first_recurrent_cls, "cleanrl_wrapper": cleanrl_wrapper,
                "eval_loops": eval_loops, "scoring": keyword_and_positional_scoring, "names": every_name}
    results = {name: guarded(call) for name, call in patterns.items()}
    results["pufferlib.pytorch"] = pufferlib.pytorch.__name__
    torch.save(results, out_path)


if __name__ == "__main__":
    main(sys.argv[1])
