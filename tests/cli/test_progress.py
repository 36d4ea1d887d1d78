"""The progress display: plain lines off a terminal, a tqdm bar on one, status notes."""
import io
import math

import pytest

from puffer_backend.cli import runs
from puffer_backend.cli.progress import Progress, format_line


def test_progress_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(500000, stream=stream, interval_s=0)
    assert progress.mode == "plain"
    progress.update(12288, sps=31012.4, mean_return=87.31)
    progress.update(24576, sps=30000.0, mean_return=math.nan)
    progress.close()
    assert stream.getvalue().splitlines() == ["step 12288/500000  sps 31012  mean_return 87.3",
                                              "step 24576/500000  sps 30000  mean_return -"]


def test_progress_plain_interval_holds_lines_back_but_prints_the_last():
    stream = io.StringIO()
    progress = Progress(1000, stream=stream, interval_s=3600)
    for step in range(100, 1001, 100):
        progress.update(step, sps=1.0, mean_return=float(step))
    assert stream.getvalue().splitlines() == [format_line(100, 1000, 1.0, 100.0)]
    progress.close()
    assert stream.getvalue().splitlines() == [format_line(100, 1000, 1.0, 100.0), format_line(1000, 1000, 1.0, 1000.0)]


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal():
    stream = _FakeTerminal()
    progress = Progress(1000, stream=stream)
    assert progress.mode == "bar"
    progress.update(400, sps=123.0, mean_return=9.5)
    progress.update(1000, sps=123.0, mean_return=10.0)
    progress.close()
    text = stream.getvalue()
    assert "1.00k/1.00k" in text and "mean_return 10.0" in text


def test_progress_off_and_bad_arguments():
    stream = io.StringIO()
    progress = Progress(10, stream=stream, mode="off")
    progress.update(5, sps=1.0, mean_return=1.0)
    progress.close()
    assert stream.getvalue() == ""
    with pytest.raises(ValueError, match="mode: expected one of"):
        Progress(10, mode="fancy")
    with pytest.raises(ValueError, match="interval_s: expected"):
        Progress(10, interval_s=-1)


def test_logger_feeds_progress(tmp_path):
    stream = io.StringIO()
    logger = runs.RunLogger(tmp_path, progress=Progress(1024, stream=stream, interval_s=0))
    logger.record(512, sps=100.0, mean_return=5.0)
    logger.close()
    assert stream.getvalue().splitlines() == ["step 512/1024  sps 100  mean_return 5.0"]


def test_notes_above_the_bar_and_as_plain_lines():
    plain = io.StringIO()
    Progress(10, stream=plain, mode="plain").note("compiled in 1.0s")
    assert plain.getvalue() == "compiled in 1.0s\n"
    terminal = _FakeTerminal()
    progress = Progress(10, stream=terminal)
    progress.note("compiled in 2.0s")
    progress.close()
    assert "compiled in 2.0s" in terminal.getvalue()
