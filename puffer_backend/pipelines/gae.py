"""The advantage rule of every pipeline: generalized advantage estimation with one meaning of `dones`.

Inputs are `(time, envs)` arrays in time order:
    rewards[t]      the reward of step t.
    values[t]       V(obs[t]) under the rollout's policy.
    dones[t]        True where the episode ended at step t, terminated or truncated: nothing
                    is bootstrapped across it.
    last_value      `(envs,)`: V of the observation after the last step.
    limit_values[t] where step t hit a time limit (truncated, not terminated): V(final_obs[t]),
                    the critic's value of the observation the step reached before the
                    auto-reset; 0 elsewhere (None: no time limit in the rollout). A time limit
                    is not a terminal state, so its return is bootstrapped: the time-limit
                    bootstrap, this one formula for every pipeline. (CleanRL's ppo.py and
                    PureJaxRL treat truncation as termination.)
Then, with V[time] = last_value, c[t] = 1 - dones[t] and r[t] = rewards[t] + gamma * limit_values[t]:
    delta[t]      = r[t] + gamma * c[t] * V[t + 1] - values[t]
    advantages[t] = delta[t] + gamma * lambda * c[t] * advantages[t + 1]
    returns       = advantages + values
`gae_numpy` (torch and mixed pipelines, on numpy views of the rollout buffers) and `gae_jax`
(jax pipeline, under jit) compute it; they are tested equal and against the sum definition.
"""
from __future__ import annotations

import numpy as np

__all__ = ["gae_numpy", "gae_jax", "bootstrap_time_limits"]


def bootstrap_time_limits(rewards, limit_values, gamma: float):
    """`rewards + gamma * limit_values`: the time-limit bootstrap (numpy or JAX arrays)."""
    return rewards if limit_values is None else rewards + gamma * limit_values


def gae_numpy(rewards, values, dones, last_value, gamma: float, gae_lambda: float, out=None,
              limit_values=None) -> np.ndarray:
    """Advantages `(time, envs)` float32 by the rule above, written into `out` when given."""
    rewards = np.asarray(bootstrap_time_limits(np.asarray(rewards, np.float32), limit_values, np.float32(gamma)),
                         np.float32)
    values = np.asarray(values, np.float32)
    carry = 1.0 - np.asarray(dones, np.float32)
    next_values = np.concatenate([values[1:], np.asarray(last_value, np.float32)[None]])
    # Everything but the backward recursion is vectorized: per step only a multiply-add remains.
    delta = rewards + np.float32(gamma) * carry * next_values - values
    trace = np.float32(gamma * gae_lambda) * carry
    adv = np.empty_like(rewards) if out is None else out
    last = np.zeros(rewards.shape[1:], np.float32)
    for t in range(rewards.shape[0] - 1, -1, -1):
        last = delta[t] + trace[t] * last
        adv[t] = last
    return adv


def gae_jax(rewards, values, dones, last_value, gamma: float, gae_lambda: float, limit_values=None):
    """Advantages `(time, envs)` by the rule above, as a reverse `lax.scan` (jit-friendly)."""
    import jax  # here, not at module level: the torch pipeline must not load JAX
    import jax.numpy as jnp

    rewards = bootstrap_time_limits(rewards, limit_values, gamma)
    carry = 1.0 - dones.astype(jnp.float32)
    next_values = jnp.concatenate([values[1:], last_value[None]])
    delta = rewards + gamma * carry * next_values - values
    trace = gamma * gae_lambda * carry

    def back(next_adv, step):
        d, k = step
        adv = d + k * next_adv
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(last_value), (delta, trace), reverse=True)
    return adv
