"""Whose mistake a pipeline's exception is: decided by its type (spec.errors.BadArgumentError)
and by when it came (before the first row), never by its text. A user's mistake is one line
and exit status 2, naming the flag that sets the field it names; a bug keeps its traceback."""
import pytest

from puffer_backend import cli
from puffer_backend.cli import runs
from puffer_backend.spec.errors import BadValueError, bad_type, bad_value

# A pipeline's own check (jax: envs split over devices), named by the backend that refused.
DEVICES = bad_value("num_envs", "a multiple of the device count 8", "4")
# The same text in a plain ValueError: what the message matching took for a bad argument.
LOOKALIKE = "num_envs: expected a multiple of the device count 8, received 4"

REFUSALS = [
    (DEVICES, "backend mixed: num_envs: expected a multiple of the device count 8, received 4"),
    (bad_value("env_id", "an env with Discrete or Box actions", "'my_envs:make' with a Tuple action space"),
     "--env: expected an env with Discrete or Box actions, received 'my_envs:make' with a Tuple action space"),
    (bad_value("config.norm_obs", "an env whose packed observations are floats", "'Blackjack-v1' with int64 rows"),
     "--set norm_obs: expected an env whose packed observations are floats, received 'Blackjack-v1' with int64 rows"),
    (bad_type("config.seed", "an int", "7"), "--seed: expected an int, received str '7'"),
]


def _raising(error, rows: int = 0):
    """A pipeline `train` that records `rows` rows, then raises `error`."""
    def train(config, logger):
        for update in range(1, rows + 1):
            logger.record(32 * update, mean_return=1.0, episodes=update, sps=100.0)
        raise error
    return train


def _checking(error):
    def check_env(config):
        raise error
    return check_env


@pytest.mark.parametrize("error, line", REFUSALS)
def test_a_bad_argument_before_the_first_row_is_one_line_naming_the_flag(fake, capsys, monkeypatch, error, line):
    import fake_pipeline_mod

    monkeypatch.setattr(fake_pipeline_mod, "train", _raising(error))
    assert cli.main(["--quiet", "--name", "refused"]) == 2
    assert capsys.readouterr().err == f"puffer-backend: error: {line}\n"
    assert not (fake / "runs" / "refused").exists()  # it held config.json only: removed


@pytest.mark.parametrize("error, line", REFUSALS)
def test_the_pipelines_env_check_is_blamed_the_same_way(fake, capsys, monkeypatch, error, line):
    import fake_pipeline_mod

    monkeypatch.setattr(fake_pipeline_mod, "check_env", _checking(error), raising=False)
    assert cli.main(["--name", "refused"]) == 2
    assert capsys.readouterr().err == f"puffer-backend: error: {line}\n"  # before the start line
    assert not (fake / "runs").exists()  # before the run folder


@pytest.mark.parametrize("patch", ["train", "check_env"])
def test_a_plain_error_worded_like_a_bad_argument_is_a_bug(fake, capsys, monkeypatch, patch):
    import fake_pipeline_mod

    lookalike = ValueError(LOOKALIKE)
    monkeypatch.setattr(fake_pipeline_mod, patch, (_raising if patch == "train" else _checking)(lookalike),
                        raising=False)
    with pytest.raises(ValueError) as raised:  # the traceback is kept, not turned into a usage error
        cli.main(["--quiet", "--name", "buggy"])
    assert raised.value is lookalike
    assert "error:" not in capsys.readouterr().err


def test_a_bad_argument_after_the_first_row_is_a_bug(fake, monkeypatch):
    import fake_pipeline_mod

    monkeypatch.setattr(fake_pipeline_mod, "train", _raising(DEVICES, rows=1))
    with pytest.raises(BadValueError) as raised:  # it trained with these settings: not the user's mistake
        cli.main(["--quiet", "--name", "late"])
    assert raised.value is DEVICES
    assert runs.read_metrics(fake / "runs" / "late")["step"] == [32.0]  # the partial run is kept


def test_eval_blames_by_type_too(fake, capsys, monkeypatch):
    import fake_pipeline_mod

    assert cli.main(["--quiet", "--name", "r"]) == 0
    capsys.readouterr()
    frames = bad_value("env_id", "a gymnax env with frames for a video", "'Acrobot-v1'")

    def evaluate(run_dir, episodes=20, seed=0):
        raise frames

    monkeypatch.setattr(fake_pipeline_mod, "evaluate", evaluate)
    assert cli.main(["eval", str(fake / "runs" / "r")]) == 2
    assert capsys.readouterr().err == f"puffer-backend: error: RUN: {frames}\n"
    lookalike = ValueError(LOOKALIKE)

    def broken(run_dir, episodes=20, seed=0):
        raise lookalike

    monkeypatch.setattr(fake_pipeline_mod, "evaluate", broken)
    with pytest.raises(ValueError) as raised:
        cli.main(["eval", str(fake / "runs" / "r")])
    assert raised.value is lookalike
