"""The recurrent agent of the torch and mixed pipelines (`config.recurrent`): PufferLib's LSTMWrapper
over the built-in agent's encoder, trained as CleanRL's ppo_atari_lstm.py trains its LSTM.

The agent: the features of `Agent` (the CNN of each image leaf, the other leaves flattened), a
dense tanh layer of `hidden_size` (the encoder), an LSTM cell of `hidden_size` units (orthogonal
weights with gain 1, zero biases, as PufferLib's and CleanRL's), one linear actor head (std
0.01) and one linear critic head (std 1). The state is `(h, c)`, each `(envs, hidden_size)`.

`start[e]` is 1.0 where env e's observation is the first of an episode (the previous step
ended one): the state is zeroed before that step, in the rollout and again in the update.
The update keeps the rollout's initial state and its start flags, and re-runs each
minibatch (a set of whole envs) over the whole rollout from there: truncated
backpropagation through time over `num_steps` steps. jax/recurrent.py is the same network.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from puffer_backend import torch_impl

from ...spec.errors import bad_value

from .learner import ppo_loss_terms, step_optimizer, update_losses
from .policy import Agent

__all__ = ["RecurrentAgent", "RecurrentMemory", "collect_recurrent_rollout", "finish_recurrent_rollout",
           "recurrent_ppo_update", "evaluate_recurrent"]


class RecurrentAgent(Agent):
    """PufferLib's LSTMWrapper over the built-in encoder (module docstring). Constructor as
    `Agent`'s. `forward(obs, state, start, action=None, *, deterministic=False, generator=None)`
    returns `(action, logprob, entropy, value, state)`: one step of `(batch, width)` rows, the
    state reset where `start` (float `(batch,)`) is 1."""

    def _build_heads(self, in_size: int, hidden_size: int, logits_width: int) -> None:
        init = torch_impl.layer_init
        self.hidden_size = hidden_size
        self.encoder = init(nn.Linear(in_size, hidden_size))
        self.lstm = nn.LSTMCell(hidden_size, hidden_size)
        with torch.no_grad():
            for name, parameter in self.lstm.named_parameters():
                if name.startswith("weight"):
                    nn.init.orthogonal_(parameter, 1.0)
                else:
                    nn.init.constant_(parameter, 0.0)
        self.actor = init(nn.Linear(hidden_size, logits_width), std=0.01)
        self.critic = init(nn.Linear(hidden_size, 1), std=1.0)

    def initial_state(self, batch: int, device=None) -> tuple:
        """Zeros `(h, c)`, each `(batch, hidden_size)` float32."""
        device = device if device is not None else self.encoder.weight.device
        return tuple(torch.zeros(batch, self.hidden_size, device=device) for _ in range(2))

    def _encode(self, native) -> torch.Tensor:
        return torch.tanh(self.encoder(self._features(native)))

    def core(self, x: torch.Tensor, state: tuple, start: torch.Tensor) -> tuple:
        """One LSTM step on encoded rows: the new `(h, c)`, the state zeroed first where `start`."""
        keep = (1.0 - start).unsqueeze(1)
        return self.lstm(x, (state[0] * keep, state[1] * keep))

    def forward(self, obs, state, start, action=None, *, deterministic: bool = False,
                generator: torch.Generator | None = None):
        native = self._nativize_tensor(obs, self.native_dtype)
        h, c = self.core(self._encode(native), state, start)
        options = self._mask(native)
        if deterministic:
            options["deterministic"] = True
        elif generator is not None:
            options["generator"] = generator
        sampled, logprob, entropy = self._sample_logits(self.distribution(h), action, **options)
        return sampled, logprob, entropy, self.critic(h).squeeze(1), (h, c)

    def value(self, obs, state, start) -> torch.Tensor:
        """Critic value `(batch,)` of one step."""
        h, _ = self.core(self._encode(self._nativize_tensor(obs, self.native_dtype)), state, start)
        return self.critic(h).squeeze(1)

    def get_value(self, obs):  # the feed-forward agent's, which has no state
        raise TypeError("RecurrentAgent.get_value: a recurrent agent needs its state; use value(obs, state, start)")

    def unroll(self, obs, state, starts, actions) -> tuple:
        """Re-run a stored segment: obs `(steps, envs, width)`, state `(h, c)` at its first
        step, starts `(steps, envs)`, actions `(steps, envs, ...)` -> (logprob, entropy, value),
        each `(steps * envs,)` in the segment's row order. The encoder runs on all rows at once;
        the cell step by step."""
        steps, envs = starts.shape
        native = self._nativize_tensor(obs.reshape(steps * envs, -1), self.native_dtype)
        x = self._encode(native).reshape(steps, envs, -1)
        hidden = []
        for t in range(steps):
            state = self.core(x[t], state, starts[t])
            hidden.append(state[0])
        h = torch.cat(hidden)
        _, logprob, entropy = self._sample_logits(self.distribution(h), actions.reshape(steps * envs, *actions.shape[2:]),
                                                  **self._mask(native))
        return logprob, entropy, self.critic(h).squeeze(1)

    def refresh_rollout_weights(self) -> None:
        """Nothing to fuse."""

    def rollout_step(self, obs, generator=None):
        raise TypeError("RecurrentAgent.rollout_step: a recurrent agent needs its state; call it as "
                        "agent(obs, state, start)")


class RecurrentMemory:
    """The LSTM state the rollouts carry, and what the update and the bootstrap need of it.

    state, start: the state before the next step and that step's start flags; initial, the
    state at the current rollout's first step; starts `(num_steps, num_envs)` the flags each
    step used; after `(num_steps, num_envs, hidden)` x 2, the state each step reached (what the
    value of a time limit's final observation continues from)."""

    def __init__(self, agent: RecurrentAgent, num_steps: int, num_envs: int, device):
        self.state = agent.initial_state(num_envs, device)
        self.start = torch.ones(num_envs, device=device)  # fresh envs: every episode starts
        self.initial = self.state
        self.starts = torch.zeros(num_steps, num_envs, device=device)
        self.after = tuple(torch.zeros(num_steps, num_envs, agent.hidden_size, device=device) for _ in range(2))

    def arrays(self) -> dict:
        """Numpy copies for the checkpoint's `state` group (between rollouts)."""
        return {"recurrent/h": self.state[0].cpu().numpy().copy(), "recurrent/c": self.state[1].cpu().numpy().copy(),
                "recurrent/start": self.start.cpu().numpy().copy()}

    def restore(self, state: dict) -> None:
        """Continue from `arrays()`; ValueError naming `checkpoint` when they are missing or of another shape."""
        names = ("recurrent/h", "recurrent/c", "recurrent/start")
        current = (*self.state, self.start)
        for name, tensor in zip(names, current):
            if name not in state or tuple(state[name].shape) != tuple(tensor.shape):
                raise bad_value("checkpoint", f"state/{name} of shape {tuple(tensor.shape)} (a recurrent run's)",
                                "none" if name not in state else f"shape {tuple(state[name].shape)}")
        h, c, start = (torch.as_tensor(state[name]).to(tensor.device) for name, tensor in zip(names, current))
        self.state, self.start = (h, c), start


def collect_recurrent_rollout(env, agent: RecurrentAgent, memory: RecurrentMemory, buf, obs, generator):
    """`loop.collect_rollout` with the LSTM state carried step to step and reset where an episode
    ended (`env.dones()`, on the device); returns the observation after the last step."""
    with torch.inference_mode():
        memory.initial = memory.state
        for t in range(env.num_steps):
            action, logprob, _, value, state = agent(obs, memory.state, memory.start, generator=generator)
            env.step(t, action)
            buf.store_step(t, obs, action, logprob, value)
            memory.starts[t].copy_(memory.start)
            memory.after[0][t].copy_(state[0])
            memory.after[1][t].copy_(state[1])
            memory.state = state
            obs = env.observation()
            memory.start = env.dones()
    return obs


def finish_recurrent_rollout(env, agent: RecurrentAgent, memory: RecurrentMemory, buf, obs, config) -> None:
    """`loop.finish_rollout` with the recurrent values: the last observation's from the carried
    state, each time limit's final observation's from the state its step reached."""
    with torch.inference_mode():
        last_value = agent.value(obs, memory.state, memory.start)
        end = env.end_rollout()
        limit_values = None
        if end.final_obs is not None:
            rows = end.time_limits.bool()
            state = (memory.after[0][rows], memory.after[1][rows])
            limit_values = agent.value(end.final_obs, state, torch.zeros(len(end.final_obs), device=buf.device))
        buf.store_end(end, limit_values)
    buf.finish(last_value, config.gamma, config.gae_lambda)


def recurrent_ppo_update(agent: RecurrentAgent, optimizer, buf, memory: RecurrentMemory, config,
                         generator: torch.Generator) -> dict:
    """`learner.ppo_update` over minibatches of whole envs: each re-runs its envs' rollout from
    the stored initial state (`agent.unroll`). Returns what ppo_update returns."""
    num_envs = buf.rewards.shape[1]
    per_minibatch = num_envs // config.num_minibatches
    params = [p for group in optimizer.param_groups for p in group["params"]]
    clipfracs = []
    for _ in range(config.update_epochs):
        perm = torch.randperm(num_envs, generator=generator, device=generator.device)
        for start in range(0, num_envs, per_minibatch):
            envs = perm[start:start + per_minibatch]
            logprob, entropy, value = agent.unroll(buf.obs[:, envs], (memory.initial[0][envs], memory.initial[1][envs]),
                                                   memory.starts[:, envs], buf.actions[:, envs])
            old = [x[:, envs].reshape(-1) for x in (buf.logprobs, buf.advantages, buf.returns, buf.values)]
            loss, pg_loss, v_loss, entropy_loss, approx_kl, clipfrac = ppo_loss_terms(logprob, entropy, value, *old,
                                                                                       config)
            clipfracs.append(clipfrac)
            step_optimizer(optimizer, params, loss, config.max_grad_norm)
    return update_losses(pg_loss, v_loss, entropy_loss, approx_kl, clipfracs)


def evaluate_recurrent(env, agent: RecurrentAgent, episodes: int, seed: int, horizon: int) -> float:
    """`loop.evaluate_on` for a recurrent agent: its state carried, reset where an episode ended."""
    returns = np.zeros(episodes)
    finished = np.zeros(episodes, dtype=bool)
    with torch.inference_mode():
        obs = env.reset(seed)
        state, start = agent.initial_state(episodes, obs.device), torch.ones(episodes, device=obs.device)
        for _ in range(horizon):
            if finished.all():
                break
            action, _, _, _, state = agent(obs, state, start, deterministic=True)
            env.step(0, action)
            obs = env.observation()
            reward, done = env.last_step()
            returns += np.where(finished, 0.0, reward)
            finished |= done
            start = torch.as_tensor(np.asarray(done, np.float32), device=obs.device)
    return float(returns.mean())
