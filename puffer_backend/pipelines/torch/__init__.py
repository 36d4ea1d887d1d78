"""The torch PPO pipeline (`--backend torch`): CleanRL's ppo.py on gymnasium vector envs.

ppo.py      train, evaluate, record_video on gymnasium envs (the entry module, PIPELINES["torch"])
loop.py     the torch learner's loop over the env contract (envs/contract.py), shared with mixed
policy.py   the Agent (also the mixed pipeline's): MLP, CNN encoders on image leaves, action masks; its
            fused rollout step, the --compile warm-up
user_policy.py  a user's torch module driven as the learner needs
learner.py  rollout buffer, the clipped PPO update, the flat-parameter Adam (also mixed's)
runtime.py  intra-op threads, seeding, the torchrun process group
saving.py   the agent and optimizer to and from the one checkpoint format

Inside this package `import torch` is the framework (absolute imports).
"""

__all__: list[str] = []  # a namespace: import its modules (ppo, ...) directly
