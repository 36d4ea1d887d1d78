"""Every Python code block of README.md and docs/*.md runs as written, each in a fresh
interpreter in an empty folder (runs/ written there): a documented example that fails is a
failing test."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# Fenced blocks, also indented ones inside list items; the indent is removed.
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def _blocks():
    for name in DOCS:
        for i, match in enumerate(BLOCK.finditer((ROOT / name).read_text())):
            indent = len(match.group(1))
            code = "\n".join(line[indent:] for line in match.group(2).splitlines())
            yield pytest.param(code, id=f"{name}#{i}")


def test_the_docs_have_python_examples():
    assert len(list(_blocks())) >= 10


@pytest.mark.parametrize("code", list(_blocks()))
def test_python_block_runs(code, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
