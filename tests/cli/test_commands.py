"""train, eval and compare with a fake pipeline module (fast, framework-free): the run folder,
the summary, names, interrupts, torchrun ranks."""
import json
from pathlib import Path

import pytest

from puffer_backend import cli
from puffer_backend.cli import compare as cli_compare, runs
from puffer_backend.pipelines import METRIC_KEYS, envs
from puffer_backend.pipelines.config import CONFIG_FILE, load_config

# --- train / eval / compare with the fake pipeline ---------------------------------------------------

def test_train_writes_a_run_folder(fake, capsys):
    code = cli.main(["train", "--backend", "jax", "--env", "Acrobot-v1", "--steps", "2k", "--seed", "2",
                     "--num-envs", "2", "--out", "out", "--name", "r1", "--set", "learning_rate=3e-4",
                     "--set", "anneal_lr=false", "--target-return", "-200"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    run = fake / "out" / "r1"
    config = json.loads((run / CONFIG_FILE).read_text())
    assert config["backend"] == "jax" and config["env_id"] == "Acrobot-v1" and config["total_steps"] == 2000
    assert config["seed"] == 2 and config["num_envs"] == 2 and config["run_name"] == "r1"
    # --target-return wins over Acrobot-v1's reward_threshold (-100), the preset's target
    assert config["learning_rate"] == 3e-4 and config["anneal_lr"] is False and config["target_return"] == -200
    # config.json existed when train started: the fake read it back into its checkpoint
    assert json.loads((run / "fake.ckpt").read_text())["seen"] == config
    metrics = runs.read_metrics(run)
    assert metrics["step"] == [16.0, 32.0, 48.0]
    assert metrics["mean_return"] == [12.0, 22.0, 32.0]
    assert list(metrics) == ["step", *METRIC_KEYS, "wall_time"]
    assert (run / runs.CURVE_FILE).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run / runs.SUMMARY_FILE).read_text())["mean_return"] == 32.0
    # stdout: the summary line only; stderr: start line and plain progress (capsys is no terminal)
    out_lines = captured.out.strip().splitlines()
    assert len(out_lines) == 1 and out_lines[0].startswith("done: steps 48  sps 3000  mean_return 32.0")
    assert out_lines[0].endswith(f"run {Path('out') / 'r1'}")
    assert "step 16/1792  sps 1000  mean_return 12.0" in captured.err.splitlines()  # 7 whole updates of 256
    assert "(2000 rounded to whole updates of 256)" in captured.err


def test_presets_are_the_layer_between_defaults_and_flags(fake, capsys):
    """Pendulum's preset (CleanRL's continuous control) fills what no flag sets; flags and
    --set win; the start lines say what the preset chose."""
    assert cli.main(["train", "--backend", "torch", "--env", "Pendulum-v1", "--name", "p", "--num-envs", "2",
                     "--set", "update_epochs=3"]) == 0
    config = load_config(fake / "runs" / "p")
    assert (config.num_envs, config.update_epochs) == (2, 3)  # the user's
    assert (config.num_steps, config.num_minibatches, config.learning_rate, config.ent_coef) == (2048, 32, 3e-4, 0.0)
    assert config.norm_obs and config.norm_reward and config.total_steps == 1_000_000 and config.target_return is None
    err = capsys.readouterr().err
    assert "continuous control preset for Pendulum-v1" in err and "num_envs=2" in err and "stops once" not in err


def test_the_env_target_stops_the_run_unless_told_otherwise(fake, capsys):
    """CartPole-v1's reward_threshold (475) is the default target; --no-early-stop removes it."""
    assert cli.main(["train", "--name", "a"]) == 0
    assert load_config(fake / "runs" / "a").target_return == 475.0
    captured = capsys.readouterr()
    assert "stops once the mean return of the 20 latest episodes reaches 475 (CartPole-v1's reward_threshold" in \
        captured.err
    assert "target not reached" in captured.out  # the fake's returns stay far below
    assert cli.main(["train", "--name", "b", "--no-early-stop", "--quiet"]) == 0
    assert load_config(fake / "runs" / "b").target_return is None
    assert "target" not in capsys.readouterr().out
    assert cli.main(["train", "--target-return", "5", "--no-early-stop"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("target, expected", [(20.0, "target reached at step 64"), (1000.0, "target not reached")])
def test_target_return_is_reported(fake, capsys, target, expected):
    assert cli.main(["--quiet", "--name", "t", "--target-return", str(target)]) == 0
    assert expected in capsys.readouterr().out  # fake mean returns: 10, 20, 30 at steps 32, 64, 96
    summary = json.loads((fake / "runs" / "t" / runs.SUMMARY_FILE).read_text())
    assert summary["steps_to_target"] == (64 if target == 20.0 else None)


def test_bare_command_trains_with_defaults(fake, capsys):
    assert cli.main(["--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet: no start line, no progress
    (run,) = (fake / "runs").iterdir()
    assert run.name.startswith("mixed-CartPole-v1-s0-")
    config = load_config(run)
    assert (config.backend, config.env_id, config.total_steps, config.num_envs) == ("mixed", "CartPole-v1", 500000, 4)


def test_existing_name_is_never_overwritten(fake, capsys):
    assert cli.main(["--quiet", "--name", "same"]) == 0
    before = (fake / "runs" / "same" / runs.METRICS_FILE).read_text()
    capsys.readouterr()
    assert cli.main(["--quiet", "--name", "same", "--seed", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--name" in err and "already exists" in err
    assert (fake / "runs" / "same" / runs.METRICS_FILE).read_text() == before
    assert load_config(fake / "runs" / "same").seed == 0


def test_default_names_never_collide(fake, capsys):
    for _ in range(3):  # same second, same settings
        assert cli.main(["--quiet"]) == 0
    assert len(list((fake / "runs").iterdir())) == 3


def test_eval_reports_the_pipelines_mean_return(fake, capsys):
    assert cli.main(["--quiet", "--name", "r", "--seed", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["eval", "runs/r", "--episodes", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"mean_return {31.0 + 0.005 + 0.03:.2f}  episodes 5  run runs/r"


def test_eval_without_checkpoint_or_with_bad_config(fake, capsys):
    assert cli.main(["--quiet", "--name", "r"]) == 0
    (fake / "runs" / "r" / "fake.ckpt").unlink()
    capsys.readouterr()
    assert cli.main(["eval", "runs/r"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    (fake / "runs" / "r" / CONFIG_FILE).write_text("{broken")
    assert cli.main(["eval", "runs/r"]) == 2
    assert "expected JSON" in capsys.readouterr().err
    (fake / "runs" / "r" / CONFIG_FILE).write_text(json.dumps({"backend": "tf"}))
    assert cli.main(["eval", "runs/r"]) == 2
    assert "'tf'" in capsys.readouterr().err


def test_eval_with_the_framework_missing(fake, capsys, monkeypatch):
    assert cli.main(["--quiet", "--name", "r"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(envs.REQUIRED_MODULES, "mixed", ("no_such_framework_xyz",))
    assert cli.main(["eval", "runs/r"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not installed: no_such_framework_xyz" in err


def test_compile_with_jax_is_noted(fake, capsys):
    assert cli.main(["--backend", "jax", "--compile", "--quiet"]) == 0
    assert "--compile applies to the torch policy" in capsys.readouterr().err


def test_compare_overlays_runs(fake, capsys):
    mpimg = pytest.importorskip("matplotlib.image")
    for seed in (0, 1):
        assert cli.main(["--quiet", "--name", f"s{seed}", "--seed", str(seed)]) == 0
    capsys.readouterr()
    assert cli.main(["compare", "runs/s0", "runs/s1", "--out", "plots/both.png"]) == 0
    assert "plots/both.png" in capsys.readouterr().out
    image = mpimg.imread(fake / "plots" / "both.png")
    assert image.ndim == 3 and image.std() > 0
    assert cli.main(["compare", "runs/s0", "--metric", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--metric" in err and "'nope'" in err


# Each format's first bytes: the file is what its suffix says, whatever matplotlib's default.
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".pdf": b"%PDF-",
         ".svg": b"<?xml", ".webp": b"RIFF"}


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_compare_writes_the_format_its_out_suffix_names(fake, capsys, suffix):
    pytest.importorskip("matplotlib")
    assert cli.main(["--quiet", "--name", "a"]) == 0
    assert cli.main(["compare", "runs/a", "--out", f"curves{suffix.upper() if suffix == '.jpg' else suffix}"]) == 0
    written = next(fake.glob("curves.*"))
    assert written.read_bytes()[:len(MAGIC[suffix])] == MAGIC[suffix]
    if suffix == ".webp":
        assert written.read_bytes()[8:12] == b"WEBP"


@pytest.mark.parametrize("out", ["curves.bmp", "curves", "curves.mp4"])
def test_compare_refuses_an_out_it_cannot_write(fake, capsys, out):
    assert cli.main(["--quiet", "--name", "a"]) == 0
    capsys.readouterr()
    assert cli.main(["compare", "runs/a", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"puffer-backend: error: --out: expected an image file name ending in .png, .jpg, .jpeg, .svg, "
                   f".pdf, .webp, received '{out}'")
    assert not list(fake.glob("curves*"))


def test_run_names_disambiguate_same_folder_names(tmp_path):
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    assert cli_compare.run_names([a, b, tmp_path / "z"]) == ["x/run", "y/run", "z"]


def test_pipeline_rejecting_its_config_is_a_usage_error(fake, capsys):
    assert cli.main(["--quiet", "--name", "rejected", "--set", "extra.fake=reject"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "num_envs: expected a multiple" in err
    assert not (fake / "runs" / "rejected").exists()  # nothing but config.json was there: removed
    with pytest.raises(ValueError, match="something internal broke"):  # a bug keeps its traceback
        cli.main(["--quiet", "--name", "buggy", "--set", "extra.fake=bug"])


def test_interrupt_keeps_the_partial_run(fake, capsys):
    assert cli.main(["--quiet", "--name", "cut", "--set", "extra.fake=interrupt"]) == 130
    assert "interrupted at step 64" in capsys.readouterr().err
    assert runs.read_metrics(fake / "runs" / "cut")["step"] == [32.0, 64.0]
    assert (fake / "runs" / "cut" / runs.CURVE_FILE).exists()


def test_summary_json_is_the_pipelines_summary(fake, capsys):
    """The command writes the summary the pipeline returned, whole, and prints it in one line."""
    assert cli.main(["--quiet", "--name", "whole", "--no-early-stop"]) == 0
    assert capsys.readouterr().out.startswith("done: steps 96  sps 3000  mean_return 30.0  time 0.2s  run ")
    summary = json.loads((fake / "runs" / "whole" / runs.SUMMARY_FILE).read_text())
    assert summary == {"steps": 96, "sps": 3000.0, "compile_s": 0.0, "wall_time": 0.25, "mean_return": 30.0,
                       "episodes": 60}


def test_torchrun_other_ranks_write_and_print_nothing(fake, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("FAKE_MAIN", "0")
    assert cli.main(["--name", "dist"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert not (fake / "runs" / "dist").exists()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("FAKE_MAIN", "1")
    assert cli.main(["--name", "dist"]) == 0
    assert (fake / "runs" / "dist" / runs.METRICS_FILE).exists() and "done:" in capsys.readouterr().out




def test_a_factory_env_names_its_run_folder_without_a_colon(fake, capsys):
    (fake / "my_envs.py").write_text("def make_env():\n    return None\n")
    assert cli.main(["--quiet", "--backend", "torch", "--env", "my_envs:make_env"]) == 0, capsys.readouterr().err
    (run,) = (fake / "runs").iterdir()
    assert run.name.startswith("torch-my_envs-make_env-s0-") and ":" not in run.name
    assert load_config(run).env_id == "my_envs:make_env"
