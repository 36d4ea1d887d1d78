"""The mixed PPO pipeline (`--backend mixed`): the torch learner's loop (torch/loop.py) on a
gymnax env under jax.jit, through zero-copy exchange.

ppo.py  train, evaluate, record_video (the entry module, PIPELINES["mixed"])
env.py  the gymnax env stepped from torch (the env contract's JAX side), one jitted dispatch per step
"""

__all__: list[str] = []  # a namespace: import its modules (ppo, ...) directly
