"""One PPO configuration shared by the torch, jax and mixed pipelines (CleanRL's defaults)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class TrainConfig:
    backend: str = "mixed"
    """torch (gymnasium envs), jax (gymnax, whole loop under jit) or mixed (gymnax env, torch policy)"""
    env_id: str = "CartPole-v1"
    total_steps: int = 500_000
    """environment steps over all envs"""
    seed: int = 0
    num_envs: int = 4
    num_steps: int = 128
    """rollout length per env per update"""
    update_epochs: int = 4
    num_minibatches: int = 4
    learning_rate: float = 2.5e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_vloss: bool = True
    norm_adv: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden_size: int = 64
    compile: bool = False
    """torch.compile the torch policy (torch and mixed backends)"""
    target_return: float | None = None
    """stop early once the mean of the 20 most recent episodic returns reaches it"""
    out_dir: str = "runs"
    run_name: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)

    def validate(self) -> None:
        """ValueError naming the field (`config.<field>`) for settings no pipeline can run."""
        from ..spec.errors import bad_value  # the spec layer imports no framework
        for name in ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "hidden_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise bad_value(f"config.{name}", "a positive int", repr(value))
        if self.batch_size % self.num_minibatches:
            raise bad_value("config.num_minibatches",
                            f"a divisor of the batch size {self.batch_size} (num_envs x num_steps)",
                            repr(self.num_minibatches))

    def to_dict(self) -> dict:
        return asdict(self)
