"""Same-machine PPO baseline for gymnax CartPole-v1, in the style of PureJaxRL's ppo.py.

This is a baseline written here, from the algorithm, to mirror PureJaxRL's single-file PPO:
the same algorithm, hyperparameters (PureJaxRL's / CleanRL's CartPole config) and structure
(the whole run is one jitted function: a scan over updates holding a scan over rollout steps
with gymnax's own auto-resetting `step` vmapped over envs, GAE by a reverse scan, and scans
over epochs and shuffled minibatches). It is not PureJaxRL's code and does not import
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


class EpisodeStats(NamedTuple):
    # What a log wrapper keeps, plus a ring buffer of recently finished returns so the
    # per-update "mean of the 20 most recent" needs no per-step output from the jit.
    running: jnp.ndarray   # (num_envs,) return of the episode in progress
    recent: jnp.ndarray    # (RECENT,) ring buffer of finished episodic returns
    count: jnp.ndarray     # () episodes finished so far


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
        stats = EpisodeStats(jnp.zeros(config["NUM_ENVS"]), jnp.zeros(RECENT),
                             jnp.zeros((), jnp.int32))

        def update_step(runner_state, _):
            def env_step(carry, _):
                params, opt_state, env_state, last_obs, stats, rng = carry
                rng, act_rng, step_rng = jax.random.split(rng, 3)
                logits, value = network.apply(params, last_obs)
                action = jax.random.categorical(act_rng, logits)
                logp = log_prob(logits, action)
                # gymnax >= 1.0 returns terminated and truncated separately; PureJaxRL's
                # PPO treats any episode end as done, so merge them.
                obsv, env_state, reward, terminated, truncated, _ = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None))(
                    jax.random.split(step_rng, config["NUM_ENVS"]), env_state, action,
                    env_params)
                done = jnp.logical_or(terminated, truncated)

                ret = stats.running + reward
                # Slot for each finishing env in the ring buffer; others write out of range.
                slot = (stats.count + jnp.cumsum(done) - 1) % RECENT
                recent = stats.recent.at[jnp.where(done, slot, RECENT)].set(ret, mode="drop")
                stats = EpisodeStats(ret * (1.0 - done), recent,
                                     stats.count + done.sum(dtype=jnp.int32))

                transition = Transition(done, action, value, reward, logp, last_obs)
                return (params, opt_state, env_state, obsv, stats, rng), transition

            runner_state, traj_batch = jax.lax.scan(
                env_step, runner_state, None, config["NUM_STEPS"])
            params, opt_state, env_state, last_obs, stats, rng = runner_state
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

            # Per-update metric: mean of the (up to) RECENT most recent finished returns.
            filled = jnp.minimum(stats.count, RECENT)
            mean_recent = jnp.where(filled > 0, stats.recent.sum() / jnp.maximum(filled, 1), jnp.nan)
            metric = {"mean_return": mean_recent, "episodes": stats.count}
            runner_state = (params, opt_state, env_state, last_obs, stats, rng)
            return runner_state, metric

        rng, run_rng = jax.random.split(rng)
        runner_state = (params, opt_state, env_state, obsv, stats, run_rng)
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
    mean_returns = np.asarray(out["metrics"]["mean_return"], dtype=np.float64)
    episodes = np.asarray(out["metrics"]["episodes"])
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
