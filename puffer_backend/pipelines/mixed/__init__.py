"""The mixed PPO pipeline (`--backend mixed`): a gymnax env under jax.jit feeding the torch
pipeline's policy and learner through zero-copy exchange.

ppo.py  train, evaluate (the entry module, PIPELINES["mixed"])
env.py  the gymnax env stepped from torch, one jitted dispatch per step
"""

__all__: list[str] = []  # a namespace: import its modules (ppo, ...) directly
