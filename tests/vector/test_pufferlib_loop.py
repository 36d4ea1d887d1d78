"""A PufferLib 3.0 trainer's loop on a JaxVectorEnv with an action mask: `async_reset(seed)`,
then `recv()` -> (o, r, d, t, info, env_id, mask) and `send(actions)` each step, as
`pufferl.py`'s evaluate drives a vecenv; rows stored at `[env_id, step]`; a PPO minibatch
re-scored with `sample_logits(logits, action=...)`. Actions are drawn with
`torch_impl.sample_logits(logits, mask=...)`; the masked env records every forbidden action
itself (masked_env), so "no illegal action" is the env's verdict, not the sampler's."""
import pytest
import torch
from torch import nn

pytest.importorskip("gymnasium")
pytest.importorskip("gymnax")

from puffer_backend import torch_impl  # noqa: E402
from puffer_backend.vector import JaxVectorEnv  # noqa: E402

from .masked_env import FORBIDDEN_REWARD, MASK_SLICE, masked_gymnax_env  # noqa: E402

HORIZON, NUM_ENVS = 32, 8


class Policy(nn.Module):
    """PufferLib's Default shape: encoder, one decoder head, value head."""

    def __init__(self, env, hidden=32):
        super().__init__()
        width = env.single_observation_space.shape[0]
        self.encoder = nn.Sequential(torch_impl.layer_init(nn.Linear(width, hidden)), nn.GELU())
        self.decoder = torch_impl.layer_init(nn.Linear(hidden, env.single_action_space.n), std=0.01)
        self.value = torch_impl.layer_init(nn.Linear(hidden, 1), std=1.0)

    def forward_eval(self, observations, state=None):
        hidden = self.encoder(observations)
        return self.decoder(hidden), self.value(hidden)


def _vecenv(env):
    return JaxVectorEnv(env, NUM_ENVS, seed=0)


def _action_mask(vecenv, o):
    """The mask columns of the rows, as PufferLib's policies read them (None without a mask)."""
    if vecenv.mask_slice is None:
        return None
    start, stop = vecenv.mask_slice
    return o[:, start:stop] > 0.5


@pytest.mark.parametrize("env", ["masked", "jumanji/Snake-v1", "CartPole-v1"])
def test_pufferlib_trainer_loop_never_takes_a_masked_action(env):
    vecenv = _vecenv(masked_gymnax_env() if env == "masked" else env)
    if env != "CartPole-v1":
        assert vecenv.mask_slice is not None
    torch.manual_seed(0)
    policy = Policy(vecenv)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    width = vecenv.single_observation_space.shape[0]
    observations = torch.zeros(NUM_ENVS, HORIZON, width)
    actions = torch.zeros(NUM_ENVS, HORIZON, dtype=torch.int64)
    logprobs = torch.zeros(NUM_ENVS, HORIZON)
    rewards = torch.zeros(NUM_ENVS, HORIZON)
    masks = torch.ones(NUM_ENVS, HORIZON, vecenv.single_action_space.n, dtype=torch.bool)
    global_step, episodes, forbidden = 0, [], 0

    vecenv.async_reset(0)
    for epoch in range(3):
        for step in range(HORIZON):
            o, r, d, t, info, env_id, mask = vecenv.recv()
            env_id = slice(env_id[0], env_id[-1] + 1)
            global_step += int(mask.sum())
            o, r, d = torch.as_tensor(o), torch.as_tensor(r), torch.as_tensor(d)
            forbidden += int((r == FORBIDDEN_REWARD).sum()) if env == "masked" else 0
            episodes += info  # PufferLib: for i in info: stats[k].append(v)
            action_mask = _action_mask(vecenv, o)
            with torch.no_grad():
                logits, value = policy.forward_eval(o)
                action, logprob, _ = torch_impl.sample_logits(logits, mask=action_mask)
            if action_mask is not None:
                assert action_mask.any(dim=1).all()
                assert action_mask.gather(1, action[:, None]).all(), "a masked action was sampled"
                masks[env_id, step] = action_mask
            observations[env_id, step] = o
            actions[env_id, step] = action
            logprobs[env_id, step] = logprob
            rewards[env_id, step] = r
            vecenv.send(action.cpu().numpy())

        # one PPO minibatch, re-scored on the stored actions (PufferLib's train)
        logits, newvalue = policy.forward_eval(observations.reshape(-1, width))
        _, newlogprob, entropy = torch_impl.sample_logits(logits, action=actions.reshape(-1),
                                                          mask=masks.reshape(-1, masks.shape[-1]))
        ratio = (newlogprob - logprobs.reshape(-1)).exp()
        assert torch.allclose(ratio, torch.ones_like(ratio), atol=1e-4)  # same policy: ratio 1
        advantages = rewards.reshape(-1) - newvalue.detach().view(-1)
        loss = -(advantages * ratio).mean() + ((newvalue.view(-1) - rewards.reshape(-1)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    assert global_step == 3 * HORIZON * NUM_ENVS
    assert forbidden == 0
    assert all(set(e) == {"episode_return", "episode_length"} for e in episodes)
    # Snake's mask forbids walls and the body: a masked snake rarely dies within the horizon.
    assert episodes or env == "jumanji/Snake-v1"
    if env == "masked":  # every step of an episode earns 1 while no forbidden action is taken
        assert all(e["episode_return"] == e["episode_length"] for e in episodes)


def test_gymnasium_infos_carry_the_mask_and_sampling_with_it_is_legal():
    vecenv = JaxVectorEnv(masked_gymnax_env(), NUM_ENVS, seed=1)
    obs, infos = vecenv.reset()
    generator = torch.Generator().manual_seed(0)
    forbidden = {"masked": 0, "unmasked": 0}
    for step in range(200):
        mask = infos["action_mask"]
        assert mask.dtype == torch.bool and mask.shape == (NUM_ENVS, 5) and infos["_action_mask"].all()
        assert torch.equal(mask, obs[:, MASK_SLICE[0]:MASK_SLICE[1]] > 0.5)
        logits = torch.zeros(NUM_ENVS, 5)
        kind = "masked" if step % 2 else "unmasked"  # the control shows the env does punish
        action, _, _ = torch_impl.sample_logits(logits, mask=mask if kind == "masked" else None, generator=generator)
        obs, reward, terminated, truncated, infos = vecenv.step(action)
        forbidden[kind] += int((reward == FORBIDDEN_REWARD).sum())
        assert (terminated[reward == FORBIDDEN_REWARD]).all()
    assert forbidden["masked"] == 0 and forbidden["unmasked"] > 0
