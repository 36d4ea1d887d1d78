"""Ctrl-C inside StopOnInterrupt is recorded, not raised; a second one raises; the handler is restored."""
import os
import signal
import threading

import pytest

from puffer_backend.pipelines.interrupt import StopOnInterrupt

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="signal handlers are installed from the main thread only")


@pytest.fixture
def default_handler():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_first_interrupt_is_recorded_second_raises(default_handler):
    with StopOnInterrupt() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested  # the handler ran, nothing was raised
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_custom_handler_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *a: seen.append(1))
    try:
        with StopOnInterrupt() as stop:
            os.kill(os.getpid(), signal.SIGINT)
        assert seen == [1] and not stop.requested
    finally:
        signal.signal(signal.SIGINT, previous)
