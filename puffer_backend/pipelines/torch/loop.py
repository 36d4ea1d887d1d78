"""The training loop of the torch learner, shared by the torch and mixed pipelines.

CleanRL's ppo.py, top to bottom, over one env contract (pipelines.envs.contract.RolloutEnv):
the torch pipeline runs it on gymnasium vector envs (envs.gym_vec.GymVecEnv), the mixed
pipeline on a gymnax env stepped under `jax.jit` (mixed.env.GymnaxTorchEnv): "mixed" is this
loop with a JAX env. Per update: anneal the learning rate, collect a rollout (the policy
samples with `torch_impl.sample_logits`, the env steps and keeps its episode statistics),
bootstrap the time limits it reports with the critic's values of their final observations,
compute the advantages (pipelines.gae), run the PPO update (learner.py); the run's
bookkeeping (rows, target, save cadence, Ctrl-C, summary) is pipelines.training_run's.
A recurrent agent (`config.recurrent`, recurrent.py) has its own rollout, bootstrap and
update, which carry its state.
Under torchrun (the torch pipeline's DDP), every rank steps its own envs (seed + rank) and
the update runs under DistributedDataParallel; rank 0 records and saves.
The agent, its optimizer, the sampling generator and the buffers live on the env's `device`
(pipelines.devices): per step no host synchronization beyond what the env needs (a
gymnasium env reads its actions on the host; the mixed env none).
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..episodes import EVAL_HORIZON
from ..metrics import RunClock, notify
from ..resume import resumed_env_seed
from ..training_run import TrainingRun
from .learner import RolloutBuffer, anneal_learning_rate, make_optimizer, minibatch_loss, parameters_finite, ppo_update
from .policy import Agent, build_agent, rollout_fn, warm_up_compiled
from .recurrent import (RecurrentAgent, RecurrentMemory, collect_recurrent_rollout, evaluate_recurrent,
                        finish_recurrent_rollout, recurrent_ppo_update)
from .runtime import DistInfo, seed_everything, unchecked_values
from .saving import agent_checkpoint, load_agent_params, restore_learner
from .user_policy import UserPolicy, check_policy_actions, make_user_optimizer
from ..named_policy import build_policy
from ...spec.errors import bad_value
from ...spec.layout import row_width

__all__ = ["train_on", "collect_rollout", "finish_rollout", "evaluate_on", "evaluation_agent"]


def _action_dtype(action_spec) -> torch.dtype:
    return torch.float32 if action_spec.action_dtype == np.float32 else torch.int64


def train_on(env, config, logger, *, backend: str, clock: RunClock, checkpoint=None, user_policy=None,
             dist: DistInfo | None = None, compile_note=lambda: "") -> dict:
    """Train PPO on `env` (a RolloutEnv of `config.num_envs` envs and `config.num_steps`
    steps); returns the summary (pipelines.training_run). checkpoint: the run to continue
    (pipelines.resume); user_policy: a torch/user_policy.UserPolicy, else the built-in agent;
    dist: this process's place under torchrun; compile_note: `() -> str` appended to the
    "compiled in" line (the mixed pipeline's compilation-cache note)."""
    dist = dist or DistInfo()
    seed = config.seed + dist.rank
    device = torch.device(env.device)
    generator = seed_everything(seed, device)

    # The agent, its optimizer and what --compile compiles. A user's policy takes the plain
    # path: no fused rollout copy, Adam over its own tensors.
    if config.recurrent:
        _check_recurrent(user_policy, dist)
    if user_policy is None and config.policy is not None:  # named by import path: built after seeding
        user_policy = UserPolicy(named_torch_policy(config, env.observation_layout, env.action_spec))
    agent = (build_agent(env, config.hidden_size, config.network, config.recurrent) if user_policy is None
             else user_policy)
    if user_policy is not None:
        user_policy.use_action_mask(env.observation_layout, env.action_spec)  # as the built-in agent masks
    agent.to(device)  # before the optimizer is made over its parameters (a user's policy moves in place)
    weights = agent if user_policy is None else user_policy.policy  # what the checkpoint holds
    model = agent
    if dist.world_size > 1:
        # DDP broadcasts rank 0's initial weights and averages gradients in backward().
        model = torch.nn.parallel.DistributedDataParallel(agent)
    policy, loss_fn = agent, minibatch_loss
    if config.compile:
        # the rollout's policy step, and the update's forward, loss and backward as one graph
        policy, loss_fn = torch.compile(agent), torch.compile(minibatch_loss)
    optimizer = (make_optimizer if user_policy is None else make_user_optimizer)(agent, config.learning_rate)
    buf = RolloutBuffer(config.num_steps, env.num_envs, env.obs_width, env.obs_dtype, env.action_spec.action_shape,
                        _action_dtype(env.action_spec), device)
    act = rollout_fn(agent, policy, config.compile, generator) if not config.recurrent else None
    memory = RecurrentMemory(agent, config.num_steps, env.num_envs, device) if config.recurrent else None

    # The first reset, and what compiles (the JAX env's programs, torch.compile's graphs),
    # timed apart from training.
    compiling = env.compiles or config.compile
    if compiling:
        what = " and ".join(name for name, on in (("the jitted env", env.compiles),
                                                   ("the torch policy", config.compile)) if on)
        notify(logger, f"compiling {what} ...")
    with clock.compiling() if compiling else contextlib.nullcontext():
        with torch.inference_mode():  # an inference tensor, as every later observation (see warm_up_compiled)
            obs = env.reset(seed)
        env.warm_up()
        if user_policy is not None:
            check_policy_actions(user_policy, obs, env.action_spec)
        if config.compile:
            warm_up_compiled(policy, loss_fn, model, obs, buf, config)
    if compiling:
        notify(logger, f"compiled in {clock.compile_s:.1f}s{compile_note()} (not counted in sps)")

    done_updates = 0
    if checkpoint is not None:
        if not restore_learner(weights, optimizer, generator, checkpoint):
            generator.manual_seed(resumed_env_seed(seed, checkpoint.update))
            notify(logger, f"the sampling generator was saved from another device than {device}: "
                   "reseeded (the run continues, not bit for bit)")
        with torch.inference_mode():
            obs = env.restore(checkpoint.state, reset_seed=resumed_env_seed(seed, checkpoint.update))
        if memory is not None and env.restores_episodes:  # else the envs were reset: so is the state
            memory.restore(checkpoint.state)
        clock.continue_from(checkpoint.info["clock"])
        done_updates = checkpoint.update

    def save(run: TrainingRun) -> None:
        save_checkpoint(logger.run_dir, config, agent_checkpoint(
            backend, run.step, run.update, weights, optimizer, generator,
            state={**env.state_arrays(), **(memory.arrays() if memory is not None else {})},
            info={"clock": clock.times()}))

    num_updates = config.num_updates_for(dist.world_size)
    clock.start_training()
    with TrainingRun(config, logger, clock, save=save, num_updates=num_updates, done_updates=done_updates,
                     steps_per_update=config.steps_per_update(dist.world_size), is_main=dist.is_main,
                     agree=dist.agree, extra_summary={"device": str(device)}) as run, unchecked_values():
        for update in run.remaining_updates():
            if config.anneal_lr:
                anneal_learning_rate(optimizer, update, num_updates, config.learning_rate)
            agent.refresh_rollout_weights()  # the last update changed the weights
            if memory is None:
                obs = collect_rollout(env, act, buf, obs)
                finish_rollout(env, agent.get_value, buf, obs, config)
            else:
                obs = collect_recurrent_rollout(env, agent, memory, buf, obs, generator)
                finish_recurrent_rollout(env, agent, memory, buf, obs, config)
            if memory is None:
                losses = ppo_update(model, optimizer, buf, config, generator, loss_fn)
            else:
                losses = recurrent_ppo_update(agent, optimizer, buf, memory, config, generator)
            run.end_update(*env.episode_stats(), losses, params_finite=parameters_finite(optimizer))
            if run.should_stop():
                break
            run.save_if_due()
    return run.summary


def _check_recurrent(user_policy, dist: DistInfo) -> None:
    """config.recurrent is the built-in agent, on one process (its update does not go through DDP)."""
    if user_policy is not None:
        raise bad_value("policy", "None when config.recurrent (recurrent is the built-in LSTM policy)",
                        f"a {type(user_policy.policy).__name__}")
    if dist.world_size > 1:
        raise bad_value("config.recurrent", "False under torchrun (the recurrent update runs on one process)",
                        f"True with WORLD_SIZE={dist.world_size}")


def collect_rollout(env, act, buf: RolloutBuffer, obs: torch.Tensor) -> torch.Tensor:
    """Fill `buf`'s step rows with one rollout of `env.num_steps` steps from `obs`; returns the
    observation after the last step. act: obs -> (action, logprob, value). The env may step
    asynchronously: its step runs while the step's rows are written."""
    with torch.inference_mode():
        for t in range(env.num_steps):
            action, logprob, value = act(obs)
            env.step(t, action)
            buf.store_step(t, obs, action, logprob, value)
            obs = env.observation()
    return obs


def finish_rollout(env, value_fn, buf: RolloutBuffer, obs: torch.Tensor, config) -> None:
    """Take the rollout's end from `env` into `buf`: rewards, dones, the critic's values of the
    time limits' final observations (the bootstrap, pipelines.gae), then advantages and
    returns. value_fn: packed rows -> V `(rows,)`."""
    with torch.inference_mode():
        last_value = value_fn(obs)
        end = env.end_rollout()
        limit_values = value_fn(end.final_obs) if end.final_obs is not None else None
        buf.store_end(end, limit_values)
    buf.finish(last_value, config.gamma, config.gae_lambda)


def named_torch_policy(config, observation_layout, action_spec):
    """config.policy's module (pipelines.named_policy), given the env's row width, layout and actions."""
    return build_policy(config, obs_width=row_width(observation_layout), action_spec=action_spec,
                        observation_layout=observation_layout)


def evaluation_agent(config, checkpoint, observation_layout, action_spec, policy=None):
    """The saved policy, greedy: the built-in agent rebuilt from the config, or the user's
    `policy` (a module of the same shape; else config.policy's, built) with the saved weights loaded into it."""
    if policy is None and config.policy is not None:
        policy = named_torch_policy(config, observation_layout, action_spec)
    if policy is None:
        agent = (RecurrentAgent if config.recurrent else Agent)(observation_layout, action_spec, config.hidden_size,
                                                                 config.network)
        load_agent_params(agent, checkpoint)
        return agent
    load_agent_params(policy, checkpoint)
    return UserPolicy(policy, observation_layout, action_spec)


def evaluate_on(env, agent, episodes: int, seed: int) -> float:
    """Mean return (the env's own rewards) of the greedy `agent` over one episode per env of
    `env` (a RolloutEnv of `episodes` envs, normalization frozen); an episode still running
    after EVAL_HORIZON steps counts its return so far."""
    if isinstance(agent, RecurrentAgent):
        return evaluate_recurrent(env, agent, episodes, seed, EVAL_HORIZON)
    returns = np.zeros(episodes)
    finished = np.zeros(episodes, dtype=bool)
    with torch.inference_mode():
        obs = env.reset(seed)
        for _ in range(EVAL_HORIZON):
            if finished.all():
                break
            action, _, _, _ = agent(obs, deterministic=True)
            env.step(0, action)
            obs = env.observation()
            reward, done = env.last_step()
            returns += np.where(finished, 0.0, reward)
            finished |= done
    return float(returns.mean())
