"""The bookkeeping every pipeline's loop shares (pipelines.training_run.TrainingRun): rows, the
target rule, the one save cadence for updates one at a time and in chunks, Ctrl-C, the summary;
and every pipeline using it (the same saves and the same summary keys)."""
import math
import signal

import pytest

from puffer_backend.pipelines import METRIC_KEYS, MemoryLogger, TrainConfig, load_pipeline
from puffer_backend.pipelines.metrics import RunClock
from puffer_backend.pipelines.training_run import LOSS_KEYS, TrainingRun, save_due

from .resuming import default_sigint

LOSSES = {key: 0.5 for key in LOSS_KEYS}


def test_save_due_reaches_each_multiple_once_and_never_the_end():
    assert [u for u in range(1, 11) if save_due(u, u - 1, 3, 10)] == [3, 6, 9]
    assert not save_due(10, 9, 5, 10)  # the end of the run saves anyway
    assert not save_due(4, 3, 0, 10)  # 0: never
    assert save_due(7, 4, 3, 10) and not save_due(8, 6, 3, 10)  # a chunk crossing 6; one that does not


def _run(tmp_path, returns, chunks, save_every=2, target=5.0, done=0):
    """Feed `returns` (one per update) in chunks of the given lengths; (run, saved updates, logger)."""
    config = TrainConfig(target_return=target, save_every=save_every)
    logger, saved = MemoryLogger(tmp_path), []
    with TrainingRun(config, logger, RunClock(), save=lambda run: saved.append(run.update),
                     num_updates=len(returns), steps_per_update=10, done_updates=done) as run:
        update = done
        for length in chunks:
            for _ in range(length):
                run.end_update(returns[update], 20 + update, LOSSES)
                update += 1
            if run.should_stop():
                break
            run.save_if_due()
    return run, saved, logger


def test_updates_one_at_a_time_and_in_chunks_keep_one_cadence_and_one_target(tmp_path):
    returns = [1.0, 2.0, 3.0, 6.0, 7.0, 1.0, 1.0]
    one, one_saved, one_log = _run(tmp_path / "a", returns, [1] * 7)
    chunked, chunk_saved, chunk_log = _run(tmp_path / "b", returns, [3, 3, 1])
    assert one.steps_to_target == chunked.steps_to_target == 40  # the first row reaching 5.0
    assert one_saved == [2, 4]  # at 2, then the end (the target stopped the run at 4)
    assert chunk_saved == [3, 6]  # the first chunk crossed 2; the second reached the target: the end
    assert [r["step"] for r in one_log.records] == [10, 20, 30, 40]
    assert [r["step"] for r in chunk_log.records] == [10, 20, 30, 40, 50, 60]
    for record in one_log.records:
        assert set(METRIC_KEYS) <= set(record)
    assert one.summary["steps_to_target"] == 40 and one.summary["steps"] == 40
    assert set(one.summary) == {"steps", "sps", "compile_s", "wall_time", "mean_return", "episodes",
                                "steps_to_target"}


def test_no_target_no_steps_to_target_and_a_resumed_run_counts_on(tmp_path):
    run, saved, logger = _run(tmp_path, [1.0] * 6, [1] * 4, target=None, done=2)
    assert "steps_to_target" not in run.summary
    assert saved == [4, 6] and [r["step"] for r in logger.records] == [30, 40, 50, 60]


def test_ctrl_c_saves_the_last_update_then_raises(tmp_path):
    saved = []
    config = TrainConfig(target_return=None)
    with default_sigint(), pytest.raises(KeyboardInterrupt):
        with TrainingRun(config, MemoryLogger(tmp_path), RunClock(), save=lambda run: saved.append(run.update),
                         num_updates=10, steps_per_update=1) as run:
            for update in run.remaining_updates():
                run.end_update(math.nan, 0, LOSSES)
                if update == 3:
                    signal.raise_signal(signal.SIGINT)  # the first Ctrl-C only asks to stop
                if run.should_stop():
                    break
    assert saved == [3] and run.summary["steps"] == 3


def test_an_error_inside_saves_nothing(tmp_path):
    saved = []
    with pytest.raises(RuntimeError, match="broke"):
        with TrainingRun(TrainConfig(), MemoryLogger(tmp_path), RunClock(), save=lambda run: saved.append(1),
                         num_updates=4, steps_per_update=1) as run:
            run.end_update(1.0, 1, LOSSES)
            raise RuntimeError("broke")
    assert saved == [] and run.summary is None


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_every_pipeline_saves_by_the_one_cadence_and_returns_the_one_summary(backend, tmp_path, monkeypatch):
    pytest.importorskip("torch" if backend != "jax" else "jax")
    pytest.importorskip("gymnax" if backend != "torch" else "gymnasium")
    from puffer_backend.pipelines import checkpoint

    saved = []
    original = checkpoint.save_checkpoint

    def spy(run_dir, config, ckpt):
        saved.append(ckpt.update)
        return original(run_dir, config, ckpt)

    module = "puffer_backend.pipelines.jax.ppo" if backend == "jax" else "puffer_backend.pipelines.torch.loop"
    monkeypatch.setattr(f"{module}.save_checkpoint", spy)
    config = TrainConfig(backend=backend, total_steps=5 * 64, num_envs=2, num_steps=32, num_minibatches=2,
                         update_epochs=1, save_every=2, target_return=1e9, extra={"chunk_updates": 3})
    summary = load_pipeline(backend).train(config, MemoryLogger(tmp_path))
    # Updates one at a time save at 2 and 4; the jax program's chunks (3, 2) cross 2 in the first.
    assert saved == ([3, 5] if backend == "jax" else [2, 4, 5])
    extra = {"devices"} if backend == "jax" else {"device"}
    assert set(summary) == {"steps", "sps", "compile_s", "wall_time", "mean_return", "episodes",
                            "steps_to_target"} | extra
    assert summary["steps"] == 5 * 64 and summary["steps_to_target"] is None


@pytest.mark.parametrize("backend", ["torch", "jax", "mixed"])
def test_a_run_that_goes_non_finite_stops_naming_the_update_and_keeps_the_last_checkpoint(backend, tmp_path):
    """The poisoned env observes NaN from its 100th step: with 2 envs x 32 steps, update 4's
    rollout reaches it. The run stops there, its row recorded, and the checkpoint of update 3
    (finite weights) stays the run's last."""
    pytest.importorskip("torch" if backend != "jax" else "jax")
    pytest.importorskip("gymnax" if backend != "torch" else "gymnasium")
    import numpy as np

    from puffer_backend.pipelines.checkpoint import load_checkpoint
    from puffer_backend.pipelines.training_run import NonFiniteError

    factory = "make_poisoned_env" if backend == "torch" else "make_poisoned_gymnax_env"
    config = TrainConfig(backend=backend, env_id=f"tests.pipelines.envs.toy_envs:{factory}", total_steps=8 * 64,
                         num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1, save_every=1,
                         target_return=None, extra={"chunk_updates": 1})
    logger = MemoryLogger(tmp_path)
    with pytest.raises(NonFiniteError, match=r"^update 4: .*not finite; training stopped, the checkpoint of update 3 "
                                             r"is kept$"):
        load_pipeline(backend).train(config, logger)
    assert [row["step"] for row in logger.records] == [64, 128, 192, 256]
    assert math.isnan(logger.records[-1]["value_loss"])
    _, checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.update == 3
    assert all(np.isfinite(value).all() for value in checkpoint.params.values())
