"""A PufferLib 3.0 client, run unchanged on the shim: `python -m tests.torch.pufferlib_client OUT`.

Run it as a program only, never import it: it calls `shim.install()` and imports
`pufferlib.pytorch` at the top, as code written for PufferLib does, which registers the stub
`pufferlib` package in `sys.modules`. It writes what it saw to OUT (`torch.save`), and
`test_pufferlib_client.py` checks that against truths computed without the shim.

What it does, for each observation space x action space:
- an emulated env whose rows are packed by PufferLib 3.0's rule (`pufferlib3_emulation`);
- a policy written the way PufferLib's `Default` is: `nativize_dtype(env.emulated)` once,
  `nativize_tensor` on each batch, leaves flattened in field order, a `layer_init` encoder,
  a decoder (one head, heads split by `nvec`, or a Normal with a free log-std) and a value head;
- the trainer's steps: `(segments, horizon, ...)` buffers typed from the spaces, one
  `sample_logits(logits)` per step under no_grad, then a minibatch of segments re-scored
  with `sample_logits(logits, action=mb_actions)` and a clipped PPO loss, backpropagated.
"""
from puffer_backend import shim

shim.install()

import sys  # noqa: E402
import types  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import pufferlib  # noqa: E402
import pufferlib.pytorch  # noqa: E402

from tests.torch import pufferlib3_emulation as emulation  # noqa: E402
from tests.torch.pufferlib_client_spaces import (  # noqa: E402
    ACTION_SPACES, AGENTS, ATTRIBUTE_EMULATED, HORIZON, MINIBATCH_SEGMENTS, OBSERVATION_SPACES)

S = gym.spaces


class EmulatedEnv:
    """What PufferLib's emulated env shows a policy and a trainer; rows come from `recv`."""

    def __init__(self, observation_space, action_space, seed, attribute_emulated=False):
        self.env = types.SimpleNamespace(observation_space=observation_space, action_space=action_space)
        self.single_observation_space = emulation.observation_space(observation_space)
        self.single_action_space = action_space  # Discrete, MultiDiscrete and Box are not emulated
        self.emulated = emulation.emulated(observation_space, as_attributes=attribute_emulated)
        self.num_agents = AGENTS
        observation_space.seed(seed)

    def recv(self):
        """Fresh rows for every agent, packed as PufferLib's emulation packs them."""
        samples = [self.env.observation_space.sample() for _ in range(self.num_agents)]
        return emulation.pack_rows(self.env.observation_space, samples)

    def send(self, actions):
        for action in actions:
            if not self.single_action_space.contains(action):
                raise ValueError(f"action {action!r} not in {self.single_action_space}")


def flatten_leaves(observations, batch_size):
    """Leaves in field order, each `(batch, -1)` (PufferLib's Default does one level of this)."""
    if isinstance(observations, dict):
        return [flat for leaf in observations.values() for flat in flatten_leaves(leaf, batch_size)]
    return [observations.view(batch_size, -1)]


class Policy(nn.Module):
    """PufferLib's Default policy for Dict observations, with a `layer_init` encoder."""

    def __init__(self, env, hidden_size=32):
        super().__init__()
        action_space = env.single_action_space
        self.is_multidiscrete = isinstance(action_space, S.MultiDiscrete)
        self.is_continuous = isinstance(action_space, S.Box)
        self.dtype = pufferlib.pytorch.nativize_dtype(env.emulated)
        input_size = pufferlib.pytorch.flattened_tensor_size(self.dtype)
        self.encoder = nn.Sequential(pufferlib.pytorch.layer_init(nn.Linear(input_size, hidden_size)), nn.GELU())
        if self.is_multidiscrete:
            self.action_nvec = tuple(action_space.nvec)
            self.decoder = pufferlib.pytorch.layer_init(nn.Linear(hidden_size, sum(self.action_nvec)), std=0.01)
        elif self.is_continuous:
            self.decoder_mean = pufferlib.pytorch.layer_init(nn.Linear(hidden_size, action_space.shape[0]), std=0.01)
            self.decoder_logstd = nn.Parameter(torch.zeros(1, action_space.shape[0]))
        else:
            self.decoder = pufferlib.pytorch.layer_init(nn.Linear(hidden_size, action_space.n), std=0.01)
        self.value = pufferlib.pytorch.layer_init(nn.Linear(hidden_size, 1), std=1)

    def forward_eval(self, observations, state=None):
        return self.decode_actions(self.encode_observations(observations, state))

    def forward(self, observations, state=None):
        return self.forward_eval(observations, state)

    def encode_observations(self, observations, state=None):
        batch_size = observations.shape[0]
        leaves = pufferlib.pytorch.nativize_tensor(observations, self.dtype)
        return self.encoder(torch.cat(flatten_leaves(leaves, batch_size), dim=1).float())

    def decode_actions(self, hidden):
        if self.is_multidiscrete:
            logits = self.decoder(hidden).split(self.action_nvec, dim=1)
        elif self.is_continuous:
            mean = self.decoder_mean(hidden)
            logits = torch.distributions.Normal(mean, torch.exp(self.decoder_logstd.expand_as(mean)))
        else:
            logits = self.decoder(hidden)
        return logits, self.value(hidden)


def detached(logits):
    """Logits as saved data: a tensor, a list of heads, or a Normal's (loc, scale)."""
    if isinstance(logits, torch.distributions.Normal):
        return {"loc": logits.loc.detach().clone(), "scale": logits.scale.detach().clone()}
    if isinstance(logits, (tuple, list)):
        return [head.detach().clone() for head in logits]
    return logits.detach().clone()


def evaluate(env, policy, buffers, record):
    """PufferLib's evaluate: one forward and one draw per step, written at [agents, step]."""
    hook = policy.encoder[0].register_forward_hook(
        lambda module, args, output: record["encoder_inputs"].append(args[0].detach().clone()))
    for step in range(HORIZON):
        o = torch.as_tensor(env.recv())
        with torch.no_grad():
            logits, value = policy.forward_eval(o, {})
            action, logprob, _ = pufferlib.pytorch.sample_logits(logits)
        if step == 0:
            record["first_rows"] = o.clone()
            record["first_leaves"] = pufferlib.pytorch.nativize_tensor(o, policy.dtype)
            record["sampled_dtype"], record["sampled_shape"] = str(action.dtype), tuple(action.shape)
        record["eval_logits"].append(detached(logits))
        rows = slice(0, env.num_agents)
        buffers["observations"][rows, step] = o
        buffers["actions"][rows, step] = action
        buffers["logprobs"][rows, step] = logprob
        buffers["values"][rows, step] = value.flatten()
        action = action.cpu().numpy()
        if isinstance(logits, torch.distributions.Normal):
            action = np.clip(action, env.single_action_space.low, env.single_action_space.high)
        env.send(action)
    hook.remove()


def train_minibatch(env, policy, buffers, idx, record, clip_coef=0.2, vf_clip=0.2, vf_coef=2.0, ent_coef=0.01):
    """One minibatch of PufferLib's train: re-score stored actions, clipped PPO loss, backward."""
    mb_obs = buffers["observations"][idx].reshape(-1, *env.single_observation_space.shape)
    mb_actions, mb_logprobs, mb_values = buffers["actions"][idx], buffers["logprobs"][idx], buffers["values"][idx]
    generator = torch.Generator().manual_seed(7)
    mb_advantages = torch.randn(mb_logprobs.shape, generator=generator)
    mb_returns = mb_advantages + mb_values
    logits, newvalue = policy(mb_obs, {"action": mb_actions})
    actions, newlogprob, entropy = pufferlib.pytorch.sample_logits(logits, action=mb_actions)
    newlogprob = newlogprob.reshape(mb_logprobs.shape)
    ratio = (newlogprob - mb_logprobs).exp()
    adv = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)).mean()
    newvalue = newvalue.view(mb_returns.shape)
    v_clipped = mb_values + torch.clamp(newvalue - mb_values, -vf_clip, vf_clip)
    v_loss = 0.5 * torch.max((newvalue - mb_returns) ** 2, (v_clipped - mb_returns) ** 2).mean()
    loss = pg_loss + vf_coef * v_loss - ent_coef * entropy.mean()
    policy.zero_grad()
    loss.backward()
    record.update(
        idx=idx, mb_actions=mb_actions.clone(), train_logits=detached(logits), returned_actions=actions.detach(),
        newlogprob=newlogprob.detach(), train_entropy=entropy.detach(), loss=loss.detach(),
        grads={name: None if p.grad is None else p.grad.clone() for name, p in policy.named_parameters()})


def run(observation_name, action_name, seed):
    torch.manual_seed(seed)
    observation_space, action_space = OBSERVATION_SPACES[observation_name], ACTION_SPACES[action_name]
    env = EmulatedEnv(observation_space, action_space, seed, attribute_emulated=observation_name in ATTRIBUTE_EMULATED)
    policy = Policy(env)
    obs_space, atn_space = env.single_observation_space, env.single_action_space
    dtypes = pufferlib.pytorch.numpy_to_torch_dtype_dict
    segments = env.num_agents
    buffers = {
        "observations": torch.zeros(segments, HORIZON, *obs_space.shape, dtype=dtypes[obs_space.dtype]),
        "actions": torch.zeros(segments, HORIZON, *atn_space.shape, dtype=dtypes[atn_space.dtype]),
        "logprobs": torch.zeros(segments, HORIZON),
        "values": torch.zeros(segments, HORIZON),
    }
    record = {"encoder_inputs": [], "eval_logits": [], "native": policy.dtype}
    evaluate(env, policy, buffers, record)
    idx = torch.randperm(segments, generator=torch.Generator().manual_seed(seed))[:MINIBATCH_SEGMENTS]
    train_minibatch(env, policy, buffers, idx, record)
    record["buffers"] = buffers
    return record


def plain(value):
    """Saved data only: tensors, containers, str, int, float (dtypes become str, Leafs lists)."""
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.clone()  # own storage: torch.save refuses views of one buffer as several dtypes
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    return value


def main(out_path):
    results = {"pufferlib.pytorch": pufferlib.pytorch.__name__,
               "pufferlib is the shim's stub": bool(getattr(pufferlib, "__puffer_backend_shim__", False))}
    for seed, observation_name in enumerate(OBSERVATION_SPACES):
        for action_name in ACTION_SPACES:
            results[f"{observation_name}-{action_name}"] = plain(run(observation_name, action_name, seed))
    torch.save(results, out_path)


if __name__ == "__main__":
    main(sys.argv[1])
