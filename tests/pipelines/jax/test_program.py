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


def test_a_resumed_run_follows_the_uninterrupted_plan():
    from puffer_backend.pipelines.jax.program import plan_chunks

    for total in range(1, 40):
        for chunk in range(1, 12):
            whole = plan_chunks(total, chunk)
            ends = [sum(whole[:i + 1]) for i in range(len(whole))]
            for done in range(total):
                rest = plan_chunks(total, chunk, done)
                assert sum(rest) == total - done and all(n > 0 for n in rest)
                if done == 0 or done in ends:  # resumed after a chunk: the rest of the same chunks
                    assert rest == whole[ends.index(done) + 1:] if done else rest == whole
                else:  # e.g. after raising total_steps: join the plan at its next chunk end
                    assert done + rest[0] == min(e for e in ends if e > done)
    assert plan_chunks(10, 4, 6) == (2, 2) and plan_chunks(10, 4, 5) == (3, 2)
    for total, chunk in [(6, 4), (7, 7), (97, 10)]:
        assert make_program_plan(total, chunk) == plan_chunks(total, chunk)  # the program's own plan


def make_program_plan(updates, chunk):
    config = TrainConfig(num_envs=4, num_steps=8, num_minibatches=2, total_steps=32 * updates,
                         extra={"chunk_updates": chunk})
    return make_program(config).chunk_plan
