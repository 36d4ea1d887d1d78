"""Every Python code block of the README and of the pipelines' and command's docs runs as
written, each in a fresh interpreter in an empty folder (runs/ written there)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/backends.md", "docs/benchmarks.md", "docs/cli.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("pipelines-*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks():
    for name in DOCS:
        for i, match in enumerate(BLOCK.finditer((ROOT / name).read_text())):
            yield pytest.param(match.group(1), id=f"{name}#{i}")


def test_the_docs_have_python_examples():
    assert len(list(_blocks())) >= 6


@pytest.mark.parametrize("code", list(_blocks()))
def test_python_block_runs(code, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
