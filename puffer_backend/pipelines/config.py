"""The one PPO configuration of the torch, jax and mixed pipelines (CleanRL's defaults).

`TrainConfig` has a docstring per field (CleanRL's `Args` style) and is the only place where
settings are checked: `validate()` checks every field's type and range, and the pipelines,
the command and `load_config` all call it. The update count is computed here and nowhere
else (`num_updates_for`). The run folder's `config.json` is the only stored copy of a run's
config (`write_config` / `load_config`). Framework-free: the command imports it before torch
or JAX.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..spec.errors import BadArgumentError, bad_type, bad_value
from .named_policy import check_policy_path
from .networks import NETWORKS

__all__ = ["BACKENDS", "LOGGERS", "VEC_MODES", "DEVICES", "CONFIG_FILE", "MAX_SEED", "TrainConfig", "check_pipeline_config",
           "check_positive_int", "check_device_name", "logger_names",
           "config_field", "write_config", "load_config", "field_docs"]

BACKENDS = ("torch", "jax", "mixed")
LOGGERS = ("csv", "tensorboard", "wandb")
VEC_MODES = ("sync", "async")
DEVICES = ("auto", "cpu", "cuda")  # and "cuda:N"
CONFIG_FILE = "config.json"
# JAX with x64 off keeps the low 32 bits of a larger seed (2**32 and 0 give the same key).
MAX_SEED = 2**32 - 1


@dataclass
class TrainConfig:
    backend: str = "mixed"
    """torch: gymnasium envs and a torch policy; jax: gymnax envs, rollout and update under one
    jax.jit; mixed: a gymnax env stepped under jit, a torch policy"""
    env_id: str = "CartPole-v1"
    """environment: a gymnasium id (torch), a gymnax id or FAMILY/ID of a JAX simulator (jax, mixed:
    brax/ant, jumanji/Snake-v1, ...), or package.module:function,
    a user's env factory (pipelines.envs)"""
    total_steps: int = 500_000
    """environment steps over all envs (and all ranks under torchrun), rounded down to whole updates
    (at least one: fewer steps than one update round up to one)"""
    seed: int = 0
    """seed of the envs, the initial weights and the sampling, in [0, 2**32)"""
    num_envs: int = 4
    """parallel environments (per rank under torchrun)"""
    num_steps: int = 128
    """rollout length per env per update"""
    update_epochs: int = 4
    """passes over each rollout"""
    num_minibatches: int = 4
    """minibatches per epoch; must divide num_envs * num_steps"""
    learning_rate: float = 2.5e-4
    """Adam's step size, > 0"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0 over the run, once per update"""
    gamma: float = 0.99
    """discount factor, in [0, 1]"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation, in [0, 1]"""
    clip_coef: float = 0.2
    """clip range of the probability ratio (and of the value change when clip_vloss), > 0"""
    clip_vloss: bool = True
    """clip the value loss as well"""
    norm_adv: bool = True
    """normalize advantages per minibatch (mean 0, unbiased std 1, as CleanRL)"""
    ent_coef: float = 0.01
    """entropy bonus coefficient, >= 0"""
    vf_coef: float = 0.5
    """value loss coefficient, >= 0"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this, > 0"""
    hidden_size: int = 64
    """width of the two hidden tanh layers of the actor and of the critic"""
    recurrent: bool = False
    """the built-in policy with memory, PufferLib's LSTMWrapper: the encoder (the CNNs of `network`
    and a dense tanh layer of hidden_size), an LSTM of hidden_size units whose state is reset where
    an episode ends, then one linear actor head and one linear critic head; the update re-runs each
    env's rollout from its stored initial state (minibatches of whole envs: num_minibatches must
    divide num_envs). Not with a user's policy, nor with compile"""
    network: str = "auto"
    """the built-in policy's encoder (pipelines.networks): auto, a CNN over each image leaf of the
    observation (a 3-D (height, width, channels) leaf, both sizes >= 5) and the MLP over the other
    leaves flattened; mlp, every leaf flattened into the MLP; cnn, as auto, refused for an
    observation without an image leaf (a user's policy ignores it)"""
    norm_obs: bool = False
    """normalize observations by their running mean and std, clipped to [-10, 10]
    (pipelines.normalize; float observations only)"""
    norm_reward: bool = False
    """scale rewards by the running std of the discounted return, clipped to [-10, 10]
    (pipelines.normalize; the logged returns stay the env's own)"""
    vec: str = "sync"
    """torch: gymnasium's vector env, "sync" (all envs in this process) or "async" (one process
    per env: for slow envs); jax and mixed step their envs under jit and take "sync" only"""
    compile: bool = False
    """torch.compile the torch policy step and the update's loss with its backward (torch and
    mixed; the jax pipeline is always jitted)"""
    device: str = "auto"
    """where the torch policy, the optimizer and the rollout buffers live (torch, mixed): "cpu",
    "cuda" (the current GPU), "cuda:N", or "auto": cuda when torch sees a GPU (mixed: and JAX
    sees one too), else cpu. The mixed pipeline's gymnax env runs on the same GPU. The jax
    pipeline takes "auto" only: it runs on JAX's default backend (JAX_PLATFORMS=cpu picks the CPU)"""
    compile_cache: bool = True
    """keep the compiled JAX programs (jax, mixed) in JAX's persistent compilation cache, in the
    user's cache folder (pipelines.compile_cache), so a later run with the same shapes skips the
    compile; a cache folder set in JAX's own config is used instead"""
    target_return: float | None = None
    """stop once the target is reached: the mean return of the 20 latest episodes is at least
    this, and 20 episodes have ended (pipelines.episodes.target_reached)"""
    out_dir: str = "runs"
    """parent folder of run folders (used by the command)"""
    run_name: str | None = None
    """run folder name (the command sets it to the folder it created)"""
    save_every: int = 0
    """also write the checkpoint every N updates, not only at the end and on Ctrl-C (0: off; jax
    saves at the end of the chunk of updates that reaches a multiple of N)"""
    logger: str = "csv"
    """the command's run folder logging, one name or several joined by commas ("tensorboard,wandb"):
    csv, metrics.csv only (always written); tensorboard, TensorBoard event files beside it with the
    same scalars (pip install 'puffer-backend[tensorboard]'); wandb, a Weights & Biases run with the
    same scalars and the config (pip install 'puffer-backend[wandb]'). From Python,
    RunLogger(run_dir, tensorboard=True, wandb=True)"""
    policy: str | None = None
    """your policy instead of the built-in agent, package.module:Class: a torch nn.Module (torch,
    mixed) or a flax module (jax), built as Class(**policy_kwargs), given obs_width, action_spec
    and observation_layout when its constructor names them (pipelines.named_policy)"""
    policy_kwargs: dict = field(default_factory=dict)
    """keyword arguments of the policy's constructor (--set policy.hidden=128)"""
    extra: dict = field(default_factory=dict)
    """pipeline-specific settings, e.g. {"chunk_updates": 8} for jax (updates per jitted call)"""

    @property
    def loggers(self) -> tuple[str, ...]:
        """The names in `logger`, in LOGGERS' order ("wandb,csv" -> ("csv", "wandb"))."""
        return logger_names(self.logger)

    @property
    def batch_size(self) -> int:
        """Steps per update on one process: num_envs * num_steps."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    def steps_per_update(self, world_size: int = 1) -> int:
        """Environment steps per update over `world_size` processes (torchrun ranks)."""
        return self.batch_size * world_size

    def num_updates_for(self, world_size: int = 1) -> int:
        """Updates of a run over `world_size` processes: total_steps rounded down to whole
        updates, at least one."""
        return max(1, self.total_steps // self.steps_per_update(world_size))

    @property
    def num_updates(self) -> int:
        """Updates of a single-process run (`num_updates_for(1)`)."""
        return self.num_updates_for(1)

    def validate(self) -> None:
        """Check every field; ValueError as `config.<field>: expected ..., received ...`.

        Called by every pipeline's `train`, by the command (which reports the error with the
        flag that set the field) and by `load_config`.
        """
        if self.backend not in BACKENDS:
            raise bad_value("config.backend", f"one of {list(BACKENDS)}", repr(self.backend))
        if not isinstance(self.env_id, str) or not self.env_id:
            raise bad_value("config.env_id", "a non-empty str", repr(self.env_id))
        for name in ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "hidden_size"):
            check_positive_int(f"config.{name}", getattr(self, name))
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise bad_value("config.seed", f"an int in [0, {MAX_SEED}]", repr(self.seed))
        _check_number("learning_rate", self.learning_rate, "> 0", lambda x: x > 0)
        _check_number("gamma", self.gamma, "in [0, 1]", lambda x: 0 <= x <= 1)
        _check_number("gae_lambda", self.gae_lambda, "in [0, 1]", lambda x: 0 <= x <= 1)
        _check_number("clip_coef", self.clip_coef, "> 0", lambda x: x > 0)
        _check_number("ent_coef", self.ent_coef, ">= 0", lambda x: x >= 0)
        _check_number("vf_coef", self.vf_coef, ">= 0", lambda x: x >= 0)
        _check_number("max_grad_norm", self.max_grad_norm, "> 0", lambda x: x > 0)
        if self.target_return is not None:
            _check_number("target_return", self.target_return, "finite, or None", lambda x: True)
        for name in ("anneal_lr", "clip_vloss", "norm_adv", "compile", "compile_cache", "norm_obs", "norm_reward",
                     "recurrent"):
            if not isinstance(getattr(self, name), bool):
                raise bad_value(f"config.{name}", "a bool", repr(getattr(self, name)))
        if self.network not in NETWORKS:
            raise bad_value("config.network", f"one of {list(NETWORKS)}", repr(self.network))
        check_device_name("config.device", self.device)
        if self.backend == "jax" and self.device != "auto":
            raise bad_value("config.device", "'auto' for backend jax (it runs on JAX's default backend; "
                            "JAX_PLATFORMS=cpu picks the CPU)", repr(self.device))
        if self.vec not in VEC_MODES:
            raise bad_value("config.vec", f"one of {list(VEC_MODES)}", repr(self.vec))
        if self.vec != "sync" and self.backend != "torch":
            raise bad_value("config.vec", f"'sync' for backend {self.backend} (its gymnax envs step under jit; "
                            "async is for backend torch)", repr(self.vec))
        if not isinstance(self.out_dir, (str, os.PathLike)):
            raise bad_value("config.out_dir", "a folder path", repr(self.out_dir))
        if self.run_name is not None and not isinstance(self.run_name, str):
            raise bad_value("config.run_name", "a str or None", repr(self.run_name))
        if not _is_int(self.save_every) or self.save_every < 0:
            raise bad_value("config.save_every", "an int >= 0 (0: save at the end only)", repr(self.save_every))
        logger_names(self.logger)
        check_policy_path(self.policy)
        if not isinstance(self.policy_kwargs, dict) or not all(isinstance(k, str) for k in self.policy_kwargs):
            raise bad_value("config.policy_kwargs", "a dict of keyword arguments", repr(self.policy_kwargs))
        if self.policy_kwargs and self.policy is None:
            raise bad_value("config.policy_kwargs", "no kwargs without config.policy (they are its constructor's)",
                            repr(self.policy_kwargs))
        if not isinstance(self.extra, dict):
            raise bad_value("config.extra", "a dict", repr(self.extra))
        if self.batch_size % self.num_minibatches:
            raise bad_value("config.num_minibatches",
                            f"a divisor of the batch size {self.batch_size} (num_envs x num_steps)",
                            repr(self.num_minibatches))
        if self.norm_adv and self.minibatch_size < 2:
            raise bad_value("config.num_minibatches",
                            f"at most {self.batch_size // 2} (advantage normalization needs minibatches "
                            "of 2 or more)", repr(self.num_minibatches))
        if self.recurrent:
            self._check_recurrent()

    def _check_recurrent(self) -> None:
        """What a recurrent run needs: the built-in policy, no torch.compile, and minibatches of
        whole envs (the update re-runs each env's rollout as one sequence)."""
        if self.policy is not None:
            raise bad_value("config.recurrent", "False with a user's policy (recurrent is the built-in LSTM policy)",
                            f"True with config.policy {self.policy!r}")
        if self.compile:
            raise bad_value("config.recurrent", "False with config.compile (the recurrent update is not compiled)",
                            "True with compile=True")
        if self.num_envs % self.num_minibatches:
            raise bad_value("config.num_minibatches", f"a divisor of num_envs {self.num_envs} when recurrent "
                            "(minibatches are sets of whole envs)", repr(self.num_minibatches))

    @classmethod
    def for_env(cls, env_id: str = "CartPole-v1", backend: str = "mixed", **fields) -> "TrainConfig":
        """The config of a run on `env_id`: TrainConfig's defaults < the env's preset
        (pipelines.presets: CleanRL's continuous-control settings for Box-action envs, the
        env's target return from gymnasium's `reward_threshold`) < `fields`. Validated.

        `TrainConfig.for_env("Pendulum-v1", "jax")` trains Pendulum as CleanRL does;
        `TrainConfig.for_env("CartPole-v1", "torch", target_return=None)` runs all its steps.
        Raises ValueError for a key that is not a field or a bad value.
        """
        from .presets import preset

        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - names)
        if unknown:
            raise bad_value("fields", "TrainConfig fields", repr(unknown[0]))
        config = cls(**{**preset(env_id, backend), **fields, "backend": backend, "env_id": env_id})
        config.validate()
        return config

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """A validated config from a dict of fields; keys that are not fields (from another
        version) are ignored. Raises ValueError for a bad value."""
        if not isinstance(data, dict):
            raise bad_type("data", "a dict of TrainConfig fields", data)
        names = {f.name for f in dataclasses.fields(cls)}
        config = cls(**{k: v for k, v in data.items() if k in names})
        config.validate()
        return config


def check_pipeline_config(config, backend: str) -> None:
    """What every pipeline's `train` checks first: `config` is a valid TrainConfig (validate)
    whose `backend` is the pipeline's own, `backend` (a config of another backend would train
    here and then be evaluated by the other pipeline). BadTypeError / BadValueError otherwise."""
    if not isinstance(config, TrainConfig):
        raise bad_type("config", "a TrainConfig", config)
    config.validate()
    if config.backend != backend:
        raise bad_value("config.backend", f"{backend!r}, the backend of this pipeline "
                        "(load_pipeline(config.backend) gives the pipeline of a config)", repr(config.backend))


def logger_names(value, argument: str = "config.logger") -> tuple[str, ...]:
    """The logger names of a `logger` setting ("csv", "tensorboard,wandb", ...), in LOGGERS'
    order, each once; ValueError naming `argument` for an unknown name or an empty setting."""
    names = [name.strip() for name in value.split(",")] if isinstance(value, str) else None
    if not names or not all(name in LOGGERS for name in names):
        raise bad_value(argument, f"one of {list(LOGGERS)}, or several joined by commas ('tensorboard,wandb')",
                        repr(value))
    return tuple(name for name in LOGGERS if name in names)


def check_device_name(argument: str, value) -> str:
    """`value` when it names a device of config.device ("auto", "cpu", "cuda" or "cuda:N" with
    N a whole number >= 0); ValueError naming `argument` otherwise. Whether the device exists
    is decided when a pipeline starts (pipelines.devices.resolve_device)."""
    if isinstance(value, str) and (value in DEVICES or _cuda_index(value) is not None):
        return value
    raise bad_value(argument, f"one of {list(DEVICES)} or 'cuda:N' (N = 0, 1, ...)", repr(value))


def _cuda_index(value: str) -> int | None:
    """N of "cuda:N" (digits only), else None."""
    prefix, colon, index = value.partition(":")
    if prefix == "cuda" and colon and index.isascii() and index.isdigit():
        return int(index)
    return None


def check_positive_int(argument: str, value) -> int:
    """`value` as an int when it is a positive integer (not a bool); ValueError naming
    `argument` otherwise."""
    if not _is_int(value) or value < 1:
        raise bad_value(argument, "a positive int", repr(value))
    return int(value)


def config_field(error: Exception) -> str | None:
    """The TrainConfig field that a bad-argument error names as `config.<field>` (validate's
    and check_resumable's name for it), read from its `argument`; None for any other error."""
    if not isinstance(error, BadArgumentError):
        return None
    prefix, dot, field = error.argument.partition(".")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return field if prefix == "config" and dot and field in names else None


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_number(name: str, value, expected: str, ok) -> None:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value)
            or not ok(value)):
        raise bad_value(f"config.{name}", f"a number {expected}", repr(value))


def write_config(run_dir, config: TrainConfig) -> Path:
    """Write `config` as run_dir/config.json (TrainConfig's fields, nothing else): the only
    stored copy of a run's config. Replaced atomically (a reader never sees half a file)."""
    path = Path(run_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)
    return path


def load_config(run_dir) -> TrainConfig:
    """The TrainConfig saved in run_dir/config.json, validated.

    Raises FileNotFoundError when the file is missing, ValueError when it is not a JSON
    object of valid TrainConfig fields (unknown keys from another version are ignored).
    """
    path = Path(run_dir) / CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise bad_value(str(path), "JSON", f"a file that fails to parse ({error})") from None
    if not isinstance(data, dict):
        raise bad_value(str(path), "a JSON object", type(data).__name__)
    return TrainConfig.from_dict(data)


@functools.cache
def field_docs() -> dict[str, str]:
    """{field name: its docstring, on one line} of TrainConfig, read from this module's source:
    the docstrings are the one statement of what each setting means (`train --help` lists
    them). Empty when the source is not available (an installation without .py files)."""
    try:
        tree = ast.parse(inspect.getsource(TrainConfig))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs
