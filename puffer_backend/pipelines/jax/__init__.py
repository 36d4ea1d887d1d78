"""The jax PPO pipeline (`--backend jax`): PureJaxRL-style, rollout and update under one jax.jit.

ppo.py      train, evaluate, record_video, make_train (the entry module, PIPELINES["jax"])
program.py  the jitted, sharded chunk of updates and its plan, in the order it runs
seeds.py    several seeds as one program: the chunk of updates under vmap over seeds
learner.py  advantages with the time-limit bootstrap, the PPO loss, one optimizer step
policy.py   the actor-critic params (MLP, CNN encoders on image leaves) and the fused rollout MLP,
            or a user's flax module
trees.py    pytrees to and from the checkpoint's named arrays
xla_flags.py  XLA:CPU flags set on import, before the CPU backend starts

Inside this package `import jax` is the framework (absolute imports).
"""
from .xla_flags import apply_cpu_flags

apply_cpu_flags()

__all__: list[str] = []  # a namespace: import its modules (ppo, ...) directly
