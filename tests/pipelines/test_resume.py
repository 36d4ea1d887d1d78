"""What a resumed run may change (only RESUME_MAY_CHANGE, and total_steps upwards), and the
seed that resets a resumed torch run's envs."""
import dataclasses

import numpy as np
import pytest

from puffer_backend.pipelines.checkpoint import Checkpoint, save_checkpoint
from puffer_backend.pipelines.config import TrainConfig
from puffer_backend.pipelines.resume import (RESUME_MAY_CHANGE, check_resumable, resume_config,
                                             resumed_env_seed)

SAVED = TrainConfig(backend="jax", total_steps=2048, seed=7)
DONE = Checkpoint("jax", step=2048, update=4)  # 4 updates of 512

# A changed value for every field a resumed run may not change.
CHANGES = {"backend": "torch", "env_id": "Pendulum-v1", "seed": 8, "num_envs": 8, "num_steps": 64,
           "update_epochs": 2, "num_minibatches": 2, "learning_rate": 1e-3, "anneal_lr": False, "gamma": 0.9,
           "gae_lambda": 0.9, "clip_coef": 0.1, "clip_vloss": False, "norm_adv": False, "ent_coef": 0.0,
           "vf_coef": 1.0, "max_grad_norm": 1.0, "hidden_size": 32, "network": "mlp", "recurrent": True,
           "norm_obs": True, "norm_reward": True, "policy": "my_policies:Policy", "policy_kwargs": {"hidden": 8}}


def test_every_other_field_is_covered():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(CHANGES) | set(RESUME_MAY_CHANGE) == fields and not set(CHANGES) & set(RESUME_MAY_CHANGE)


@pytest.mark.parametrize("field, value", CHANGES.items(), ids=list(CHANGES))
def test_a_changed_run_is_refused(field, value):
    config = dataclasses.replace(SAVED, total_steps=4096, **{field: value})
    with pytest.raises(ValueError) as info:
        check_resumable(SAVED, config, DONE)
    message = str(info.value)
    assert message.startswith(f"config.{field}: expected {getattr(SAVED, field)!r}, the value of the run being "
                              "resumed") and message.endswith(f"received {value!r}")


def test_what_may_change():
    config = dataclasses.replace(SAVED, total_steps=4096, target_return=400.0, compile=True, compile_cache=False,
                                 save_every=3,
                                 logger="tensorboard", out_dir="elsewhere", run_name="moved",
                                 extra={"chunk_updates": 2})
    check_resumable(SAVED, config, DONE)


@pytest.mark.parametrize("total, allowed", [(2048, False), (2559, False), (2560, True), (1024, False)])
def test_at_least_one_update_must_be_left(total, allowed):
    config = dataclasses.replace(SAVED, total_steps=total)
    if allowed:
        check_resumable(SAVED, config, DONE)
        return
    with pytest.raises(ValueError, match=r"config.total_steps: expected at least 2560 to resume \(the run has "
                                         r"done 2048 steps, 4 updates of 512\)"):
        check_resumable(SAVED, config, DONE)


def test_resume_config_reads_the_run_and_applies_changes(tmp_path):
    save_checkpoint(tmp_path, SAVED, DONE)
    assert resume_config(tmp_path, total_steps=4096) == dataclasses.replace(SAVED, total_steps=4096)
    with pytest.raises(ValueError, match="config.gamma: expected 0.99"):
        resume_config(tmp_path, total_steps=4096, gamma=0.5)
    with pytest.raises(ValueError, match="config.total_steps: expected at least 2560"):
        resume_config(tmp_path)
    with pytest.raises(ValueError, match="config.save_every: expected an int >= 0"):
        resume_config(tmp_path, total_steps=4096, save_every=-1)
    with pytest.raises(FileNotFoundError):
        resume_config(tmp_path / "missing")


def test_resumed_env_seeds_are_fixed_and_spread():
    seeds = [resumed_env_seed(seed, update) for seed in range(4) for update in range(1, 50)]
    assert seeds == [resumed_env_seed(seed, update) for seed in range(4) for update in range(1, 50)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**32 for s in seeds)
    assert all(isinstance(s, int) for s in seeds) and np.ptp(seeds) > 2**30
