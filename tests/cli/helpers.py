"""Shared by the command's tests: running it as a user does, and a fake pipeline with the real interface."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A pipeline with the real interface: records a few rows, saves a checkpoint, evaluates from it.
FAKE_PIPELINE = textwrap.dedent('''
    import json, os
    from pathlib import Path

    from puffer_backend.pipelines.episodes import first_step_reaching
    from puffer_backend.spec.errors import bad_value

    def train(config, logger):
        behaviour = config.extra.get("fake", "ok")
        seen = json.loads((Path(logger.run_dir) / "config.json").read_text()) if os.environ.get("FAKE_MAIN", "1") == "1" else None
        if behaviour == "reject":
            raise bad_value("num_envs", "a multiple of the device count 8", "4")
        if behaviour == "bug":
            raise ValueError("something internal broke")
        steps, rows = 0, []
        for update in range(1, 4):
            steps = update * config.num_envs * 8
            row = dict(mean_return=10.0 * update + config.seed, episodes=20 * update, sps=1000.0 * update,
                       policy_loss=-0.01 * update, value_loss=0.5, entropy=0.69, approx_kl=0.001,
                       clipfrac=0.1 / update)
            logger.record(steps, **row)
            rows.append({"step": steps, **row})
            if behaviour == "interrupt" and update == 2:
                raise KeyboardInterrupt
        (Path(logger.run_dir) / "fake.ckpt").write_text(json.dumps({"score": 30.0 + config.seed, "seen": seen}))
        # The summary every pipeline returns (pipelines.training_run), whole: the command adds nothing.
        summary = {"steps": steps, "sps": 3000.0, "compile_s": 0.0, "wall_time": 0.25, "mean_return": 30.0 + config.seed,
                   "episodes": 60}
        if config.target_return is not None:
            summary["steps_to_target"] = first_step_reaching(rows, config.target_return)
        return summary

    def evaluate(run_dir, episodes=20, seed=0):
        data = json.loads((Path(run_dir) / "fake.ckpt").read_text())
        return data["score"] + episodes / 1000 + seed / 100
''')


def run_cli(*args, env=None, prelude=""):
    """The command in a fresh interpreter, as a user runs it (prelude: code run first)."""
    code = f"{prelude}\nimport sys\nfrom puffer_backend.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def assert_usage_error(result, *fragments):
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


