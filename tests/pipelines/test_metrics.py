"""RunClock: what sps, wall_time and compile_s mean, with a clock that the test moves by hand."""
import math

import pytest

from puffer_backend.pipelines.metrics import METRIC_KEYS, RunClock, notify


class FakeTimer:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_compile_is_excluded_from_sps_and_included_in_wall_time():
    timer = FakeTimer()
    clock = RunClock(timer)
    timer.now += 1.0                       # set-up
    with clock.compiling():
        timer.now += 4.0                   # compile before training
    clock.start_training()
    timer.now += 2.0                       # training
    assert clock.stamp(1000) == {"sps": 500.0, "wall_time": 7.0}
    with clock.compiling():
        timer.now += 3.0                   # a compile during training (jax's shorter last chunk)
    timer.now += 2.0
    assert clock.sps(2000) == pytest.approx(500.0)
    assert clock.summary(2000) == {"steps": 2000, "sps": pytest.approx(500.0), "compile_s": 7.0, "wall_time": 12.0}


def test_rows_timed_after_the_fact():
    timer = FakeTimer()
    clock = RunClock(timer)
    clock.start_training()
    begin = clock.now()
    timer.now += 3.0
    end = clock.now()
    rows = [clock.stamp(100 * (i + 1), at=begin + (i + 1) / 3 * (end - begin)) for i in range(3)]
    assert [r["wall_time"] for r in rows] == pytest.approx([1.0, 2.0, 3.0])
    assert [r["sps"] for r in rows] == pytest.approx([100.0, 100.0, 100.0])


def test_sps_is_nan_before_training_time_passes():
    clock = RunClock(FakeTimer())
    assert math.isnan(clock.sps(10))
    clock.start_training()
    assert math.isnan(clock.sps(10))


def test_metric_keys_and_notify():
    assert METRIC_KEYS[:2] == ("mean_return", "episodes") and "sps" in METRIC_KEYS

    class WithNote:
        notes = []

        def note(self, text):
            self.notes.append(text)

    logger = WithNote()
    notify(logger, "compiling")
    notify(object(), "ignored")  # a logger without note() is fine
    assert logger.notes == ["compiling"]


def test_a_resumed_clock_goes_on_from_the_saved_times():
    """Run 1 trains 2 s after a 4 s compile and saves; run 2 (a new process) compiles 1 s and
    trains 2 s more: its rows and summary count both, as one uninterrupted run would."""
    timer = FakeTimer()
    first = RunClock(timer)
    with first.compiling():
        timer.now += 4.0
    first.start_training()
    timer.now += 2.0
    saved = first.times()
    assert saved == {"wall_time": 6.0, "training_s": 2.0, "compile_s": 4.0}

    timer.now += 100.0                     # the run is stopped for a while: not counted
    second = RunClock(timer)
    second.continue_from(saved)
    assert second.wall_time() == 6.0 and second.training_s() == 2.0
    with second.compiling():
        timer.now += 1.0
    assert second.compile_s == 1.0         # this process's compile, for its "compiled in" note
    second.start_training()
    timer.now += 2.0
    assert second.stamp(4000) == {"sps": 1000.0, "wall_time": 9.0}
    assert second.summary(4000) == {"steps": 4000, "sps": 1000.0, "compile_s": 5.0, "wall_time": 9.0}
