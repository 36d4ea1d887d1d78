"""`train --seeds` and `train_seeds` with the fake pipeline (fast, framework-free): the group
folder, per-seed run folders and group.json's statistics, checked against scipy; bad input."""
import json

import numpy as np
import pytest

from puffer_backend import cli
from puffer_backend.cli import runs
from puffer_backend.cli.seeds import GROUP_FILE, group_runs, train_seeds
from puffer_backend.pipelines import TrainConfig
from puffer_backend.pipelines.config import load_config

from .helpers import assert_usage_error, run_cli

stats = pytest.importorskip("scipy.stats")


def test_train_seeds_writes_a_group_folder(fake, capsys):
    code = cli.main(["train", "--backend", "torch", "--steps", "48", "--num-envs", "2", "--seeds", "0-1,7",
                     "--target-return", "25", "--name", "g", "--progress", "plain"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    group_dir = fake / "runs" / "g"
    assert sorted(p.name for p in group_dir.iterdir()) == [GROUP_FILE, "s0", "s1", "s7"]
    assert group_runs(group_dir) == [group_dir / "s0", group_dir / "s1", group_dir / "s7"]
    finals = {}
    for seed in (0, 1, 7):
        run = group_dir / f"s{seed}"
        config = load_config(run)
        assert (config.seed, config.run_name, config.total_steps) == (seed, f"s{seed}", 48)
        summary = json.loads((run / runs.SUMMARY_FILE).read_text())
        finals[seed] = summary["mean_return"]
        assert runs.read_metrics(run)["mean_return"][-1] == finals[seed]  # the fake's: 30 + seed
        assert (run / runs.CURVE_FILE).is_file()
    group = json.loads((group_dir / GROUP_FILE).read_text())
    values = np.array([finals[s] for s in (0, 1, 7)])
    assert group["final_return"] == {str(s): v for s, v in finals.items()} and group["seeds"] == 3
    assert group["mean"] == pytest.approx(values.mean()) and group["iqm"] == pytest.approx(stats.trim_mean(values, 0.25))
    low, high = group["ci95"]
    assert values.min() <= low <= values.mean() <= high <= values.max()
    # The fake's rows: 10 * update + seed at steps 16, 32, 48: 25 is first reached at update 3, or 2 for seed 7.
    assert group["steps_to_target"] == {"0": 48, "1": 48, "7": 32}
    assert group["runs"] == ["s0", "s1", "s7"] and "seed" not in group["config"]
    assert group["config"]["num_envs"] == 2
    lines = captured.out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("done: ") for line in lines[:3])
    assert lines[3].startswith("group: 3 seeds  mean_return 32.7  95% CI [") and "IQM 32.7" in lines[3]
    assert "target reached by 3 of 3" in lines[3]
    assert "3 seeds (0,1,7) one after another" in captured.err


def test_train_seeds_from_python(fake):
    group = train_seeds(TrainConfig(backend="mixed", num_envs=2, total_steps=48), range(3), out_dir="out")
    group_dir = fake / "out" / group["group_dir"].split("/")[-1]
    assert group_dir.name.startswith("mixed-CartPole-v1-seeds0-2-") and (group_dir / GROUP_FILE).is_file()
    assert group["final_return"] == {"0": 30.0, "1": 31.0, "2": 32.0} and group["mean"] == pytest.approx(31.0)
    with pytest.raises(ValueError, match="seeds: expected each seed once, received 2 more than once"):
        train_seeds(TrainConfig(backend="mixed"), [2, 2])
    with pytest.raises(ValueError, match="name: expected a folder name without path separators, received 'a/b'"):
        train_seeds(TrainConfig(backend="mixed"), [2], name="a/b")
    with pytest.raises(TypeError, match="config: expected a TrainConfig"):
        train_seeds({"backend": "mixed"}, [2])


@pytest.mark.parametrize("args, fragments", [
    (["--seeds", "3-1"], ["--seeds", "not below its start", "'3-1'"]),
    (["--seeds", "0,x"], ["--seeds", "a range '0-15'"]),
    (["--seed", "1", "--seeds", "0-1"], ["--seeds: expected either --seed or --seeds, received both (--seed 1)"]),
    (["--resume", "nowhere", "--seeds", "0-1"], ["--seeds: expected either --resume or --seeds"]),
])
def test_bad_seeds_are_one_line_errors(args, fragments):
    assert_usage_error(run_cli("train", "--backend", "torch", *args), *fragments)


def test_compare_draws_bands_per_config_named_by_what_differs(fake, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from puffer_backend.cli import compare

    assert cli.main(["train", "--quiet", "--seeds", "0-1", "--name", "slow", "--set", "learning_rate=1e-4"]) == 0
    assert cli.main(["train", "--quiet", "--seeds", "4,6,8", "--name", "fast", "--set", "learning_rate=1e-3"]) == 0
    captured, real = [], compare._band
    monkeypatch.setattr(compare, "_band", lambda *args: captured.append(real(*args)) or captured[-1])
    assert cli.main(["compare", "runs/slow", "runs/fast", "--out", "bands.png"]) == 0
    assert "5 runs in 2 configs, mean and 95% CI" in capsys.readouterr().out
    assert cli.main(["compare", "runs/slow", "runs/slow/s1", "--out", "one.png"]) == 0  # s1 once
    assert "2 runs in 1 config, mean" in capsys.readouterr().out
    assert (fake / "bands.png").read_bytes()[:4] == b"\x89PNG"
    # The fake's rows: 10 * update + seed at steps 32, 64, 96 (4 envs x 8 steps).
    for (xs, mean, low, high), seeds in zip(captured, [(0, 1), (4, 6, 8)]):
        truth = np.array([[10.0 * u + s for u in (1, 2, 3)] for s in seeds])
        np.testing.assert_array_equal(xs, [32, 64, 96])
        np.testing.assert_allclose(mean, truth.mean(axis=0))
        assert (low >= truth.min(axis=0)).all() and (high <= truth.max(axis=0)).all() and (low < high).all()
    configs = [load_config(fake / "runs" / name / "s0").to_dict() for name in ("slow",)]
    configs.append(load_config(fake / "runs" / "fast" / "s4").to_dict())
    assert compare.group_labels(configs, ["a", "b"], [2, 3]) == ["learning_rate=0.0001 (2 seeds)",
                                                                  "learning_rate=0.001 (3 seeds)"]
    assert compare.group_labels(configs[:1], ["a"], [2]) == ["mixed CartPole-v1 (2 seeds)"]
    assert compare.seed_groups([configs[0], None, configs[1], configs[0]]) == [[0, 3], [1], [2]]


def test_compare_band_legend_in_the_figure(fake):
    pytest.importorskip("matplotlib")
    from puffer_backend.cli.plots import band_figure

    figure = band_figure([("a (2 seeds)", [1, 2], [1.0, 2.0], [0.5, 1.5], [1.5, 2.5])])
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["a (2 seeds)"]
    np.testing.assert_array_equal(axes.get_lines()[0].get_ydata(), [1.0, 2.0])
    band = axes.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0.5 and band[:, 1].max() == 2.5


@pytest.mark.heavy
def test_real_jax_seeds_then_eval_resume_and_compare(tmp_path):
    """`train --backend jax --seeds` for real (one vmapped program), then what a single run
    allows on a seed's folder: eval, --resume with more steps; and compare of the group."""
    pytest.importorskip("jax")
    pytest.importorskip("gymnax")
    out = str(tmp_path / "runs")
    small = ["--num-envs", "4", "--set", "num_steps=8", "--set", "update_epochs=1", "--set", "num_minibatches=2",
             "--no-early-stop", "--quiet"]
    done = run_cli("train", "--backend", "jax", "--steps", "96", "--seeds", "0,5", "--out", out, "--name", "g",
                   *small)
    assert done.returncode == 0, done.stderr
    group = json.loads((tmp_path / "runs" / "g" / GROUP_FILE).read_text())
    assert sorted(group["final_return"]) == ["0", "5"] and group["runs"] == ["s0", "s5"]
    run = tmp_path / "runs" / "g" / "s5"
    assert load_config(run).seed == 5 and runs.read_metrics(run)["step"] == [32.0, 64.0, 96.0]
    image = tmp_path / "g.png"
    shown = run_cli("compare", str(tmp_path / "runs" / "g"), "--out", str(image))
    assert shown.returncode == 0 and "2 runs in 1 config, mean and 95% CI" in shown.stdout and image.is_file()
    assert run_cli("eval", str(run), "--episodes", "2").returncode == 0
    resumed = run_cli("train", "--resume", str(run), "--steps", "160", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert runs.read_metrics(run)["step"] == [32.0, 64.0, 96.0, 128.0, 160.0]
    # Extended, s5 is another config (total_steps 160): two lines, no band.
    shown = run_cli("compare", str(tmp_path / "runs" / "g"), "--out", str(image))
    assert shown.returncode == 0 and "(2 runs, mean_return by step)" in shown.stdout
