"""The jax pipeline's policies: CleanRL's actor-critic (built in) or a user's.

Built in: two separate 2-layer tanh MLPs (actor and critic), orthogonal init through
`jax_impl.layer_init` (std sqrt(2) for hidden layers, 0.01 for the actor head, 1.0 for the
critic head, zero biases), as CleanRL's ppo.py / ppo_continuous_action.py. A continuous
actor adds a state-independent `log_std` vector (zeros at init). Params are a dict of dicts
of arrays (in a checkpoint: `params/actor/0/kernel`, ...). Its rollouts run the fused MLP.

Structured and pixel observations (pipelines.networks, `network`): a row is the
observation's leaves (`gymnax_env.obs_leaves`) flattened and concatenated; each image leaf
is cut out of it (static slices) and goes through its own CNN encoder, shared by the actor
and the critic (`params["cnn"][leaf index]`: `conv0`, ..., `dense`; kernels in flax's
(height, width, in, out) and (in, out) layouts); the encoders' features and the other
leaves, in leaf order, feed the two MLPs. The torch Agent computes the same function (its
weights convert by transposes). Without an image leaf (or with `network="mlp"`) the
policy is the flat one above, fused rollouts included; with one, rollouts run `apply`.

A user's policy (docs/pipelines-custom.md): a flax `nn.Module`, or an `(init, apply)` pair,
    init(key, obs) -> params           obs: `(1, obs_dim)` float32, an example row
    apply(params, obs) -> (dist_input, value)
on float32 rows `(batch, obs_dim)` of the flattened gymnax observation (normalized under
`norm_obs`); dist_input is what `jax_impl.sample_logits` takes: logits `(batch, n)` for
Discrete actions, a `jax_impl.Normal` over `(batch, width)` for Box actions; value
`(batch,)` or `(batch, 1)`. `JaxPolicy` holds either form behind one interface.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ... import jax_impl
from ..envs.gymnax_vec import GymnaxEnv

from typing import Callable, NamedTuple

from ...spec.errors import bad_type, bad_value
from ..named_policy import build_policy
from ..networks import Encoder, choose_encoders

__all__ = ["init_params", "apply_policy", "encoder_plan", "EncoderPlan", "fuse_policy", "apply_fused", "policy_dist",
           "JaxPolicy", "builtin_policy", "user_policy", "check_dist_width", "make_policy", "NamedPolicy",
           "named_policy"]


class EncoderPlan(NamedTuple):
    """How a CNN policy reads a row: per leaf, in row order, `(start, stop, encoder)` (its
    columns; its `networks.Encoder`, or None for a leaf the MLP takes as it is). Static:
    closed over by the jitted functions, never traced."""
    parts: tuple

    @property
    def mlp_in(self) -> int:
        """Width of the MLP input: encoder features and plain columns."""
        return sum(enc.out_size if enc is not None else stop - start for start, stop, enc in self.parts)


def encoder_plan(gymnax_env: GymnaxEnv, network: str = "auto", argument: str = "network") -> EncoderPlan | None:
    """The plan of the built-in policy for `gymnax_env`'s observation leaves, or None when it
    is the flat MLP (no image leaf, or `network="mlp"`). ValueError naming `argument` for a bad
    `network` or "cnn" without an image leaf, naming `gymnax_env.obs_leaves` when the leaves do
    not fill `obs_dim` columns."""
    obs_leaves = gymnax_env.obs_leaves or (("", (gymnax_env.obs_dim,)),)
    shapes = [tuple(shape) for _, shape in obs_leaves]
    encoders = choose_encoders(shapes, network, argument)
    sizes = [math.prod(shape) for shape in shapes]
    if sum(sizes) != gymnax_env.obs_dim:
        raise bad_value("gymnax_env.obs_leaves", f"leaves of {gymnax_env.obs_dim} elements in all (obs_dim)",
                        f"shapes {shapes} ({sum(sizes)} elements)")
    if not any(encoders):
        return None
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return EncoderPlan(tuple((start, start + size, enc) for start, size, enc in zip(starts, sizes, encoders)))


def _mlp(key, sizes, head_std):
    """Dense layers `sizes[0] -> ... -> sizes[-1]`, kernels in flax's (in, out) layout."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = {}
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        std = head_std if i == len(sizes) - 2 else math.sqrt(2.0)
        blank = {"kernel": jnp.zeros((n_in, n_out), jnp.float32), "bias": jnp.zeros((n_out,), jnp.float32)}
        layers[str(i)] = jax_impl.layer_init(blank, k, std=std, bias_const=0.0)
    return layers


def _encoder_params(key, encoder: Encoder) -> dict:
    """A CNN encoder's layers, orthogonal (std sqrt(2)) with zero biases, as CleanRL's Atari agent."""
    keys = jax.random.split(key, len(encoder.convs) + 1)
    layers, channels = {}, encoder.shape[2]
    for i, (k, (out, kernel, _)) in enumerate(zip(keys, encoder.convs)):
        blank = {"kernel": jnp.zeros((kernel, kernel, channels, out), jnp.float32),
                 "bias": jnp.zeros((out,), jnp.float32)}
        layers[f"conv{i}"] = jax_impl.layer_init(blank, k, std=math.sqrt(2.0), bias_const=0.0)
        channels = out
    if encoder.dense is not None:
        blank = {"kernel": jnp.zeros((encoder.flat_size, encoder.dense), jnp.float32),
                 "bias": jnp.zeros((encoder.dense,), jnp.float32)}
        layers["dense"] = jax_impl.layer_init(blank, keys[-1], std=math.sqrt(2.0), bias_const=0.0)
    return layers


def init_params(key, gymnax_env: GymnaxEnv, hidden_size: int = 64, network: str = "auto") -> dict:
    """Fresh actor-critic params for `gymnax_env`: {'actor': {...}, 'critic': {...}[, 'log_std']
    [, 'cnn': {leaf index: encoder}]}; the CNN encoders when `encoder_plan(gymnax_env, network)`
    has any (apply them with that plan)."""
    plan = encoder_plan(gymnax_env, network)
    k_cnn = None
    if plan is not None:
        key, k_cnn = jax.random.split(key)
    k_actor, k_critic = jax.random.split(key)
    width = gymnax_env.obs_dim if plan is None else plan.mlp_in
    params = {
        "actor": _mlp(k_actor, (width, hidden_size, hidden_size, gymnax_env.policy_width), 0.01),
        "critic": _mlp(k_critic, (width, hidden_size, hidden_size, 1), 1.0),
    }
    return with_shared_params(params, gymnax_env, plan, k_cnn)


def with_shared_params(params: dict, gymnax_env, plan, cnn_key) -> dict:
    """`params` plus what every built-in policy has beside its layers: the log-std of continuous
    actions (zeros) and the CNN encoders of `plan`'s image leaves (from `cnn_key`)."""
    if not gymnax_env.discrete:
        params["log_std"] = jnp.zeros((gymnax_env.action_dim,), jnp.float32)
    if plan is not None:
        indices = [i for i, (_, _, enc) in enumerate(plan.parts) if enc is not None]
        keys = jax.random.split(cnn_key, len(indices))
        params["cnn"] = {str(i): _encoder_params(k, plan.parts[i][2]) for i, k in zip(indices, keys)}
    return params


def _forward(layers, x):
    n = len(layers)
    for i in range(n):
        x = x @ layers[str(i)]["kernel"] + layers[str(i)]["bias"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


def _encode(layers, encoder: Encoder, x):
    """`(batch, h * w * c)` columns of one image leaf -> `(batch, encoder.out_size)` features."""
    x = x.reshape((x.shape[0],) + tuple(encoder.shape))
    for i, (_, _, stride) in enumerate(encoder.convs):
        layer = layers[f"conv{i}"]
        x = jax.lax.conv_general_dilated(x, layer["kernel"], (stride, stride), "VALID",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(x + layer["bias"])
    x = x.reshape(x.shape[0], -1)  # (height, width, channel) order, as the torch encoder
    if encoder.dense is not None:
        x = jax.nn.relu(x @ layers["dense"]["kernel"] + layers["dense"]["bias"])
    return x


def _mlp_input(cnn, obs, plan: EncoderPlan):
    parts = [obs[:, start:stop] if enc is None else _encode(cnn[str(i)], enc, obs[:, start:stop])
             for i, (start, stop, enc) in enumerate(plan.parts)]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=1)


def apply_policy(params, obs, plan: EncoderPlan | None = None):
    """obs `(batch, obs_dim)` float32 -> (actor output `(batch, width)`, value `(batch,)`).
    plan: `encoder_plan` of the env the params were made for (None: the flat MLP)."""
    x = obs if plan is None else _mlp_input(params["cnn"], obs, plan)
    return _forward(params["actor"], x), _forward(params["critic"], x)[:, 0]


def fuse_policy(params) -> list:
    """Actor and critic as one MLP of block-diagonal layers `[(kernel, bias)] * depth`.

    The same function as `apply_policy` in half the matmuls (the zero blocks add exact
    zeros). Rollouts build it once per update and run it every step, where XLA:CPU's cost is
    per kernel, not per flop. Not for training: gradients would fill the zero blocks.
    """
    actor, critic = params["actor"], params["critic"]
    fused = []
    for i in range(len(actor)):
        a, c = actor[str(i)], critic[str(i)]
        kernel = (jnp.concatenate([a["kernel"], c["kernel"]], axis=1) if i == 0
                  else jax.scipy.linalg.block_diag(a["kernel"], c["kernel"]))
        fused.append((kernel, jnp.concatenate([a["bias"], c["bias"]])))
    return fused


def apply_fused(fused, obs, width: int):
    """`apply_policy` on `fuse_policy(params)`: (actor output `(batch, width)`, value `(batch,)`)."""
    x = obs
    for i, (kernel, bias) in enumerate(fused):
        x = x @ kernel + bias
        if i < len(fused) - 1:
            x = jnp.tanh(x)
    return x[:, :width], x[:, width]


def policy_dist(params, actor_out):
    """What `jax_impl.sample_logits` takes: the logits, or a `jax_impl.Normal` for continuous."""
    if "log_std" not in params:
        return actor_out
    scale = jnp.broadcast_to(jnp.exp(params["log_std"]), actor_out.shape)
    return jax_impl.Normal(actor_out, scale)


class JaxPolicy(NamedTuple):
    """A policy as the jitted program uses it.

    init(key, obs `(1, obs_dim)`) -> params; apply(params, obs) -> (dist_input, value `(batch,)`);
    rollout(params) -> (obs -> (dist_input, value)), built once per update (the built-in
    policy's fused MLP; a user's policy is its own apply).
    """
    init: Callable
    apply: Callable
    rollout: Callable
    builtin: bool = False
    """True for the built-in actor-critic (a checkpoint of another policy needs that policy)."""


def builtin_policy(gymnax_env: GymnaxEnv, hidden_size: int = 64, network: str = "auto") -> JaxPolicy:
    """CleanRL's actor-critic for `gymnax_env`, with the fused rollout MLP, or with CNN encoders
    on its image leaves (`network`, pipelines.networks)."""
    plan = encoder_plan(gymnax_env, network)

    def init(key, obs):
        return init_params(key, gymnax_env, hidden_size, network)

    def apply(params, obs):
        out, value = apply_policy(params, obs, plan)
        return policy_dist(params, out), value

    if plan is not None:  # the encoders are shared: nothing to fuse
        return JaxPolicy(init, apply, lambda params: (lambda obs: apply(params, obs)), builtin=True)

    def rollout(params):
        fused = fuse_policy(params)  # actor and critic as one MLP: half the matmuls per step

        def step(obs):
            out, value = apply_fused(fused, obs, gymnax_env.policy_width)
            return policy_dist(params, out), value
        return step

    return JaxPolicy(init, apply, rollout, builtin=True)


def user_policy(policy, gymnax_env: GymnaxEnv | None = None) -> JaxPolicy:
    """A user's flax module (its `init` and `apply`) or `(init, apply)` pair as a JaxPolicy.
    Its outputs are checked while tracing (so before the first update): the value `(batch,)`
    or `(batch, 1)`, and, given `gymnax_env`, the distribution's width: logits `(batch, n)`
    for n Discrete actions, a `jax_impl.Normal` over `(batch, width)` for Box actions.
    ValueError naming `policy` otherwise."""
    if hasattr(policy, "init") and hasattr(policy, "apply") and not isinstance(policy, tuple):
        init, apply_fn = policy.init, policy.apply
    elif isinstance(policy, tuple) and len(policy) == 2 and all(map(callable, policy)):
        init, apply_fn = policy
    else:
        raise bad_type("policy", "a flax module or an (init, apply) pair of functions", policy)

    def apply(params, obs):
        dist, value = apply_fn(params, obs)
        batch = obs.shape[0]
        if gymnax_env is not None:
            check_dist_width(dist, batch, gymnax_env)
        if tuple(value.shape) not in ((batch,), (batch, 1)):
            raise bad_value("policy", f"a value of shape ({batch},) or ({batch}, 1) as apply's second output",
                            f"shape {tuple(value.shape)}")
        return dist, value.reshape(batch)

    return JaxPolicy(init, apply, lambda params: (lambda obs: apply(params, obs)))


def check_dist_width(dist, batch: int, gymnax_env: GymnaxEnv) -> None:
    """`dist` has one logit per action of a Discrete env, or is a Normal as wide as a Box
    env's actions: a policy with fewer logits would train without ever taking the last
    actions. ValueError naming `policy` otherwise."""
    if gymnax_env.discrete:
        want = (batch, gymnax_env.num_actions)
        got = tuple(dist.shape) if hasattr(dist, "shape") and not isinstance(dist, jax_impl.Normal) else None
        if got != want:
            raise bad_value("policy", f"logits of shape {want}: one logit per action of the env's "
                            f"{gymnax_env.num_actions} Discrete actions",
                            f"logits of shape {got}" if got is not None else f"a {type(dist).__name__}")
        return
    want = (batch, gymnax_env.action_dim)
    got = tuple(dist.loc.shape) if isinstance(dist, jax_impl.Normal) else None
    if got != want:
        raise bad_value("policy", f"a jax_impl.Normal over {want} for the env's {gymnax_env.action_dim}-wide Box "
                        "actions", f"a Normal over {got}" if got is not None else _not_a_normal(dist))


def _not_a_normal(dist) -> str:
    shape = getattr(dist, "shape", None)
    return f"an array of shape {tuple(shape)}, not a Normal" if shape is not None else f"a {type(dist).__name__}"


def make_policy(gymnax_env: GymnaxEnv, hidden_size: int, policy=None, network: str = "auto",
                recurrent: bool = False) -> JaxPolicy:
    """The built-in policy when `policy` is None (its encoders by `network`, `config.network`:
    errors name it so; the LSTM policy of recurrent.py when `recurrent`, a RecurrentPolicy),
    else the user's (its outputs checked against `gymnax_env`'s actions)."""
    if recurrent:
        if policy is not None:
            raise bad_value("policy", "None when config.recurrent (recurrent is the built-in LSTM policy)",
                            f"a {type(policy).__name__}")
        from .recurrent import recurrent_policy

        encoder_plan(gymnax_env, network, "config.network")
        return recurrent_policy(gymnax_env, hidden_size, network)
    if policy is None:
        encoder_plan(gymnax_env, network, "config.network")  # refused here with the config's name
        return builtin_policy(gymnax_env, hidden_size, network)
    if isinstance(policy, NamedPolicy):
        policy = policy.build(gymnax_env)
    return user_policy(policy, gymnax_env)


class NamedPolicy:
    """config.policy (`package.module:Class`, a flax module), built once the env is known:
    given obs_width (the flat float32 row width) and action_spec (spec.Discrete or
    spec.Continuous) when its constructor names them (pipelines.named_policy)."""

    def __init__(self, config):
        self.config = config

    def build(self, gymnax_env: GymnaxEnv):
        from ...spec import Continuous, Discrete

        action_spec = (Discrete(gymnax_env.num_actions) if gymnax_env.discrete
                       else Continuous((gymnax_env.action_dim,)))
        return build_policy(self.config, obs_width=gymnax_env.obs_dim, action_spec=action_spec)


def named_policy(config, policy=None):
    """`policy` when given, else config.policy as a NamedPolicy (None without one)."""
    if policy is not None or config.policy is None:
        return policy
    return NamedPolicy(config)
