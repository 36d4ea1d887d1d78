"""The jax pipeline's recurrent policy (`config.recurrent`): PufferLib's LSTMWrapper over the
built-in encoder, the network of torch/recurrent.py in JAX (PureJaxRL's ppo_rnn.py pattern).

Params: {"encoder": dense tanh layer of hidden_size over the MLP input (the CNN features of
policy.py's encoder plan, or the row), "lstm": {kernel_ih (in, 4H), kernel_hh (H, 4H),
bias_ih, bias_hh (4H,)}, "actor", "critic": one dense layer each [, "log_std"] [, "cnn"]}.
The gates are torch's, in torch's order (input, forget, cell, output): torch's `LSTMCell`
weights convert by transposes. State `(h, c)`, each `(envs, H)`; `start` (float `(envs,)`)
is 1.0 where an observation is the first of an episode, and zeroes the state before it.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from ... import jax_impl
from ..envs.gymnax_vec import GymnaxEnv
from .policy import _mlp_input, encoder_plan, policy_dist, with_shared_params

__all__ = ["RecurrentPolicy", "recurrent_policy", "init_recurrent_params", "lstm_cell"]


class RecurrentPolicy(NamedTuple):
    """init(key, obs `(1, obs_dim)`) -> params; initial_state(envs) -> (h, c) zeros;
    step(params, obs `(envs, obs_dim)`, state, start) -> (dist_input, value `(envs,)`, state);
    unroll(params, obs `(steps, envs, obs_dim)`, state, starts `(steps, envs)`) ->
    (dist_input over `steps * envs` rows, value `(steps * envs,)`): a stored segment re-run."""
    init: Callable
    initial_state: Callable
    step: Callable
    unroll: Callable
    hidden_size: int
    builtin: bool = True


def _dense(key, n_in: int, n_out: int, std: float) -> dict:
    blank = {"kernel": jnp.zeros((n_in, n_out), jnp.float32), "bias": jnp.zeros((n_out,), jnp.float32)}
    return jax_impl.layer_init(blank, key, std=std, bias_const=0.0)


def init_recurrent_params(key, gymnax_env: GymnaxEnv, hidden_size: int, network: str = "auto") -> dict:
    """Fresh params (module docstring): orthogonal init, the LSTM's with gain 1 and zero biases
    (PufferLib's and CleanRL's), the encoder's sqrt(2), the actor's 0.01, the critic's 1."""
    plan = encoder_plan(gymnax_env, network)
    k_enc, k_ih, k_hh, k_actor, k_critic, k_cnn = jax.random.split(key, 6)
    width = gymnax_env.obs_dim if plan is None else plan.mlp_in
    h = hidden_size
    params = {
        "encoder": _dense(k_enc, width, h, math.sqrt(2.0)),
        "lstm": {"kernel_ih": _dense(k_ih, h, 4 * h, 1.0)["kernel"], "kernel_hh": _dense(k_hh, h, 4 * h, 1.0)["kernel"],
                 "bias_ih": jnp.zeros((4 * h,), jnp.float32), "bias_hh": jnp.zeros((4 * h,), jnp.float32)},
        "actor": _dense(k_actor, h, gymnax_env.policy_width, 0.01),
        "critic": _dense(k_critic, h, 1, 1.0),
    }
    return with_shared_params(params, gymnax_env, plan, k_cnn)


def lstm_cell(lstm: dict, x, h, c) -> tuple:
    """torch.nn.LSTMCell's step: the new `(h, c)`."""
    gates = x @ lstm["kernel_ih"] + lstm["bias_ih"] + h @ lstm["kernel_hh"] + lstm["bias_hh"]
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def recurrent_policy(gymnax_env: GymnaxEnv, hidden_size: int = 64, network: str = "auto") -> RecurrentPolicy:
    """The recurrent policy for `gymnax_env` (its CNN encoders by `network`, pipelines.networks)."""
    plan = encoder_plan(gymnax_env, network)

    def encode(params, obs):
        x = obs if plan is None else _mlp_input(params["cnn"], obs, plan)
        return jnp.tanh(x @ params["encoder"]["kernel"] + params["encoder"]["bias"])

    def core(params, x, state, start):
        keep = (1.0 - start)[:, None]
        return lstm_cell(params["lstm"], x, state[0] * keep, state[1] * keep)

    def heads(params, h):
        actor = h @ params["actor"]["kernel"] + params["actor"]["bias"]
        value = (h @ params["critic"]["kernel"] + params["critic"]["bias"])[:, 0]
        return policy_dist(params, actor), value

    def init(key, obs):
        return init_recurrent_params(key, gymnax_env, hidden_size, network)

    def initial_state(envs: int):
        return jnp.zeros((envs, hidden_size), jnp.float32), jnp.zeros((envs, hidden_size), jnp.float32)

    def step(params, obs, state, start):
        state = core(params, encode(params, obs), state, start)
        dist, value = heads(params, state[0])
        return dist, value, state

    def unroll(params, obs, state, starts):
        steps, envs = starts.shape
        x = encode(params, obs.reshape(steps * envs, -1)).reshape(steps, envs, -1)

        def body(state, inputs):
            x_t, start = inputs
            state = core(params, x_t, state, start)
            return state, state[0]

        _, h = jax.lax.scan(body, state, (x, starts))
        return heads(params, h.reshape(steps * envs, -1))

    return RecurrentPolicy(init, initial_state, step, unroll, hidden_size)
