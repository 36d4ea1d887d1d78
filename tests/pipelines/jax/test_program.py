"""The jax program: configs it refuses before compiling, and the chunk plan."""
import math

import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")

from puffer_backend.pipelines import TrainConfig  # noqa: E402
from puffer_backend.pipelines.jax.program import make_program  # noqa: E402


def test_bad_configs_name_the_field():
    with pytest.raises(TypeError, match="config: expected a TrainConfig"):
        make_program({"env_id": "CartPole-v1"})
    with pytest.raises(ValueError, match="config.total_steps: expected a positive int, received 0"):
        make_program(TrainConfig(total_steps=0))
    with pytest.raises(ValueError, match="config.num_minibatches"):
        make_program(TrainConfig(num_envs=3, num_steps=5, num_minibatches=4))
    with pytest.raises(ValueError, match="env_id"):
        make_program(TrainConfig(env_id="LunarLander-v3"))


def test_chunk_plan_covers_the_run_exactly():
    # Building a program traces nothing: these cost no compile.
    plan = lambda **kw: make_program(TrainConfig(num_envs=4, num_steps=8, num_minibatches=2, **kw)).chunk_plan  # noqa: E731
    assert plan(total_steps=32 * 6, extra={"chunk_updates": 4}) == (4, 2)
    assert plan(total_steps=32 * 6, extra={"chunk_updates": 6}) == (6,)
    assert plan(total_steps=32 * 6, extra={"chunk_updates": 50}) == (6,)
    for n in (1, 7, 97, 976, 1000, 4096):
        chunks = plan(total_steps=32 * n)
        assert sum(chunks) == n and len(set(chunks[:-1])) <= 1 and chunks[-1] <= chunks[0]
        # Progress shows (about 25 chunks, at most 64 updates each), but not one call per update.
        assert chunks[0] <= 128 and chunks[0] >= min(64, math.ceil(n / 25)) // 2
    # Default: a divisor of num_updates close to ~1/25 of the run, so a single program compiles.
    assert plan(total_steps=32 * 976) == (61,) * 16  # the default run: 500k steps / 512
    assert plan(total_steps=32 * 1000) == (40,) * 25
