"""The jax program: configs it refuses before compiling, and the chunk plan."""
import math

import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("gymnax")
pytest.importorskip("optax")

from puffer_backend.pipelines import TrainConfig  # noqa: E402
from puffer_backend.pipelines.jax.program import METRICS, make_program  # noqa: E402


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


def _tiny(**kw):
    return TrainConfig(backend="jax", num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1, hidden_size=8, **kw)


def test_a_run_compiles_one_training_program(tmp_path, caplog):
    """6 updates in chunks of 4 (plan 4, 2): one compile of the training loop, not one per length."""
    import logging

    from puffer_backend.pipelines import MemoryLogger
    from puffer_backend.pipelines.jax import ppo as jax_ppo

    config = _tiny(total_steps=32 * 6, extra={"chunk_updates": 4}, out_dir=str(tmp_path))
    assert make_program(config).chunk_plan == (4, 2)
    logger = MemoryLogger(tmp_path / "run")
    with caplog.at_level(logging.DEBUG), jax.log_compiles():
        summary = jax_ppo.train(config, logger)
    compiles = [r.getMessage() for r in caplog.records
                if "train_updates_on_device" in r.getMessage() and "ompil" in r.getMessage()]
    assert len(compiles) >= 1  # the log names the program: the count below is not vacuous
    assert len([m for m in compiles if m.startswith("Compiling")]) == 1, compiles
    assert [r["step"] for r in logger.records] == [32 * i for i in range(1, 7)]
    assert summary["steps"] == 32 * 6


def test_chunk_lengths_run_the_same_updates():
    """Chunks 4 + 2 (the shorter one through the same program) give the same state as one chunk of 6."""
    import numpy as np

    def final(chunk_updates):
        program = make_program(_tiny(total_steps=32 * 6), chunk_updates=chunk_updates)
        state = program.init_state(jax.random.PRNGKey(3))
        rows = []
        for n in program.chunk_plan:
            state, metrics = program.trainer_for(n)(state)
            rows.append(np.asarray(metrics))
        return program.chunk_plan, state, np.concatenate(rows)

    plan_a, state_a, rows_a = final(4)
    plan_b, state_b, rows_b = final(6)
    assert (plan_a, plan_b) == ((4, 2), (6,))
    assert rows_a.shape == rows_b.shape == (6, len(METRICS)) and not np.isnan(rows_a[:, 2:]).any()
    assert int(state_a.update) == int(state_b.update) == 6
    for a, b in zip(jax.tree.leaves(state_a.params), jax.tree.leaves(state_b.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows_a[:, 2:], rows_b[:, 2:], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="length"):
        make_program(_tiny(total_steps=32 * 6), chunk_updates=4).trainer_for(5)
