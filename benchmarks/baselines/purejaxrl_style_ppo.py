"""Same-machine PPO baseline for gymnax CartPole-v1, in the style of PureJaxRL's ppo.py.

This is a baseline written here, from the algorithm, to mirror PureJaxRL's single-file PPO:
the same algorithm, hyperparameters (PureJaxRL's / CleanRL's CartPole config) and structure
(the whole run is one jitted function: a scan over updates holding a scan over rollout steps
with gymnax's own auto-resetting `step` vmapped over envs, GAE by a reverse scan, and scans
over epochs and shuffled minibatches) and the same per-update work: LogWrapper-style episode
statistics updated in the rollout scan with their per-step info returned for the whole run,
any episode end (termination or time limit) treated as terminal with no bootstrap, Adam
behind a global-norm clip of 0.5 with the learning rate annealed once per update. It is not PureJaxRL's code and does not import
`puffer_backend`: plain jax + flax.linen + optax + gymnax, as a PureJaxRL user's script is.

benchmarks/acceptance_train.py runs it in the same process/machine as our pipelines so
their speed can be given as a ratio to it, rather than to an anchor figure measured elsewhere.

    python -m baselines.purejaxrl_style_ppo --seed 0 --steps 500000   # from benchmarks/
"""
from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.linen.initializers import constant, orthogonal

NAME = "purejaxrl-style"  # how benchmarks/runner.py finds and labels this baseline
CONFIG = {
    "ENV_NAME": "CartPole-v1",
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "TOTAL_TIMESTEPS": 500_000,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "LR": 2.5e-4,
    "ANNEAL_LR": True,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
}
RECENT = 20  # episodes in the "mean recent return" the acceptance benchmark reports


class ActorCritic(nn.Module):
    action_dim: int

    @nn.compact
    def __call__(self, x):
        hidden = orthogonal(np.sqrt(2))
        actor = nn.tanh(nn.Dense(64, kernel_init=hidden, bias_init=constant(0.0))(x))
        actor = nn.tanh(nn.Dense(64, kernel_init=hidden, bias_init=constant(0.0))(actor))
        logits = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01),
                          bias_init=constant(0.0))(actor)
        critic = nn.tanh(nn.Dense(64, kernel_init=hidden, bias_init=constant(0.0))(x))
        critic = nn.tanh(nn.Dense(64, kernel_init=hidden, bias_init=constant(0.0))(critic))
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(critic)
        return logits, jnp.squeeze(value, axis=-1)


# Categorical helpers: what distrax.Categorical does (distrax is not installed here).
def log_prob(logits, action):
    logp = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(logp, action[..., None], axis=-1)[..., 0]


def entropy(logits):
    logp = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


class Transition(NamedTuple):
    done: jnp.ndarray
    action: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray
    log_prob: jnp.ndarray
    obs: jnp.ndarray
    info: dict


class LogState(NamedTuple):
    # What gymnax-style LogWrapper keeps per env, updated inside the rollout scan; its four
    # info fields are emitted every step and returned for the whole run, as PureJaxRL does.
    episode_returns: jnp.ndarray
    episode_lengths: jnp.ndarray
    returned_episode_returns: jnp.ndarray
    returned_episode_lengths: jnp.ndarray
    timestep: jnp.ndarray


def log_step(log, reward, done):
    """LogWrapper's bookkeeping for one vectorized step -> (LogState, info dict)."""
    done_f = done.astype(jnp.float32)
    done_i = done.astype(jnp.int32)
    new_return = log.episode_returns + reward
    new_length = log.episode_lengths + 1
    log = LogState(new_return * (1.0 - done_f), new_length * (1 - done_i),
                   log.returned_episode_returns * (1.0 - done_f) + new_return * done_f,
                   log.returned_episode_lengths * (1 - done_i) + new_length * done_i,
                   log.timestep + 1)
    info = {"returned_episode_returns": log.returned_episode_returns,
            "returned_episode_lengths": log.returned_episode_lengths,
            "timestep": log.timestep, "returned_episode": done}
    return log, info


def recent_means(returns, finished, window: int = RECENT):
    """Host side, after the run: per update, the mean of the `window` most recently finished
    returns and the episodes finished so far, from the per-step info `(updates, steps, envs)`."""
    means, counts, recent, count = [], [], [], 0
    for update_returns, update_done in zip(returns, finished):
        done_returns = update_returns[update_done]  # time order, env order within a step
        count += done_returns.size
        recent = (recent + done_returns.tolist())[-window:]
        means.append(float(np.mean(recent)) if recent else float("nan"))
        counts.append(count)
    return np.asarray(means), np.asarray(counts)


def make_train(config):
    config = dict(config)
    config["NUM_UPDATES"] = config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"]
    config["MINIBATCH_SIZE"] = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    env, env_params = gymnax.make(config["ENV_NAME"])

    def linear_schedule(count):
        # Anneal once per update (count is in minibatch steps), as CleanRL/PureJaxRL do.
        per_update = config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"]
        frac = 1.0 - (count // per_update) / config["NUM_UPDATES"]
        return config["LR"] * frac

    def train(rng):
        network = ActorCritic(env.action_space(env_params).n)
        rng, init_rng = jax.random.split(rng)
        params = network.init(init_rng, jnp.zeros(env.observation_space(env_params).shape))
        lr = linear_schedule if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]),
                         optax.adam(learning_rate=lr, eps=1e-5))
        opt_state = tx.init(params)

        rng, reset_rng = jax.random.split(rng)
        obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_rng, config["NUM_ENVS"]), env_params)
        zeros_f, zeros_i = jnp.zeros(config["NUM_ENVS"]), jnp.zeros(config["NUM_ENVS"], jnp.int32)
        log = LogState(zeros_f, zeros_i, zeros_f, zeros_i, zeros_i)

        def update_step(runner_state, _):
            def env_step(carry, _):
                params, opt_state, env_state, last_obs, log, rng = carry
                rng, act_rng = jax.random.split(rng)
                logits, value = network.apply(params, last_obs)
                action = jax.random.categorical(act_rng, logits)
                logp = log_prob(logits, action)
                rng, step_rng = jax.random.split(rng)
                # gymnax >= 1.0 returns terminated and truncated separately; PureJaxRL's
                # PPO treats any episode end as done, so merge them.
                obsv, env_state, reward, terminated, truncated, _ = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None))(
                    jax.random.split(step_rng, config["NUM_ENVS"]), env_state, action,
                    env_params)
                done = jnp.logical_or(terminated, truncated)

                log, info = log_step(log, reward, done)
                transition = Transition(done, action, value, reward, logp, last_obs, info)
                return (params, opt_state, env_state, obsv, log, rng), transition

            runner_state, traj_batch = jax.lax.scan(
                env_step, runner_state, None, config["NUM_STEPS"])
            params, opt_state, env_state, last_obs, log, rng = runner_state
            _, last_val = network.apply(params, last_obs)

            def gae_step(carry, transition):
                gae, next_value = carry
                not_done = 1.0 - transition.done
                delta = transition.reward + config["GAMMA"] * next_value * not_done - transition.value
                gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * not_done * gae
                return (gae, transition.value), gae

            _, advantages = jax.lax.scan(
                gae_step, (jnp.zeros_like(last_val), last_val), traj_batch,
                reverse=True, unroll=16)
            targets = advantages + traj_batch.value

            def update_epoch(carry, _):
                params, opt_state, rng = carry

                def update_minibatch(carry, minibatch):
                    params, opt_state = carry
                    traj, adv, tgt = minibatch

                    def loss_fn(params):
                        logits, value = network.apply(params, traj.obs)
                        logp = log_prob(logits, traj.action)
                        value_clipped = traj.value + jnp.clip(
                            value - traj.value, -config["CLIP_EPS"], config["CLIP_EPS"])
                        value_loss = 0.5 * jnp.maximum(
                            jnp.square(value - tgt), jnp.square(value_clipped - tgt)).mean()
                        ratio = jnp.exp(logp - traj.log_prob)
                        norm_adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                        actor_loss = -jnp.minimum(
                            ratio * norm_adv,
                            jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * norm_adv,
                        ).mean()
                        ent = entropy(logits).mean()
                        total = actor_loss + config["VF_COEF"] * value_loss - config["ENT_COEF"] * ent
                        return total, (value_loss, actor_loss, ent)

                    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    params = optax.apply_updates(params, updates)
                    return (params, opt_state), (loss, aux)

                rng, perm_rng = jax.random.split(rng)
                batch_size = config["MINIBATCH_SIZE"] * config["NUM_MINIBATCHES"]
                permutation = jax.random.permutation(perm_rng, batch_size)
                batch = (traj_batch, advantages, targets)
                batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
                shuffled = jax.tree.map(lambda x: jnp.take(x, permutation, axis=0), batch)
                minibatches = jax.tree.map(
                    lambda x: x.reshape((config["NUM_MINIBATCHES"], -1) + x.shape[1:]), shuffled)
                (params, opt_state), losses = jax.lax.scan(
                    update_minibatch, (params, opt_state), minibatches)
                return (params, opt_state, rng), losses

            (params, opt_state, rng), _ = jax.lax.scan(
                update_epoch, (params, opt_state, rng), None, config["UPDATE_EPOCHS"])

            # The per-step LogWrapper info of the whole rollout is the update's metric.
            runner_state = (params, opt_state, env_state, last_obs, log, rng)
            return runner_state, traj_batch.info

        rng, run_rng = jax.random.split(rng)
        runner_state = (params, opt_state, env_state, obsv, log, run_rng)
        runner_state, metrics = jax.lax.scan(update_step, runner_state, None, config["NUM_UPDATES"])
        return {"runner_state": runner_state, "metrics": metrics}

    return train, config


def train(seed: int = 0, total_steps: int = 500_000, target_return: float | None = None,
          num_envs: int = CONFIG["NUM_ENVS"]) -> dict:
    """Train once with num_envs envs (one compiled call, no early stop); time the compiled run."""
    train_fn, config = make_train({**CONFIG, "TOTAL_TIMESTEPS": int(total_steps), "NUM_ENVS": int(num_envs)})
    rng = jax.random.PRNGKey(seed)

    t0 = time.perf_counter()
    compiled = jax.jit(train_fn).lower(rng).compile()
    compile_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(rng))
    run_s = time.perf_counter() - t1

    steps_per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
    steps = config["NUM_UPDATES"] * steps_per_update
    info = jax.device_get(out["metrics"])
    mean_returns, episodes = recent_means(info["returned_episode_returns"], info["returned_episode"])
    records = [((i + 1) * steps_per_update, float(r)) for i, r in enumerate(mean_returns)]

    steps_to_target = None
    if target_return is not None:
        for (step, value), n in zip(records, episodes):
            if n >= RECENT and value >= target_return:
                steps_to_target = step
                break

    return {
        "steps": steps,
        "sps": steps / run_s,
        "compile_s": compile_s,
        "wall_s": compile_s + run_s,
        "mean_return": records[-1][1] if records else float("nan"),
        "steps_to_target": steps_to_target,
        "records": records,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--target", type=float, default=475.0)
    args = parser.parse_args(argv)
    r = train(args.seed, args.steps, args.target)
    print(f"purejaxrl-style ppo seed={args.seed} steps={r['steps']} sps={r['sps']:,.0f} "
          f"compile_s={r['compile_s']:.2f} wall_s={r['wall_s']:.2f} "
          f"mean_return={r['mean_return']:.1f} steps_to_{args.target:g}={r['steps_to_target']}")


if __name__ == "__main__":
    main()
