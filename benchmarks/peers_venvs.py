"""One virtual environment per peer, with the versions its users install, made once and
re-used: benchmarks/peers.py runs the real CleanRL and PureJaxRL in them.

CleanRL (cleanrl/ppo.py): torch first, CPU build (a plain `pip install torch` on Linux pulls
the CUDA libraries, gigabytes), then the pins of the checkout's requirements/requirements.txt
for what ppo.py imports: gymnasium 0.29.1, numpy, tensorboard, tyro, protobuf.
PureJaxRL (purejaxrl/ppo.py and wrappers.py): gymnax 0.0.9 and the jax, flax, optax,
distrax, brax and navix (wrappers.py imports the last two at the top) that it runs on. gymnax
0.0.9 calls `jax.tree.map` (jax >= 0.4.25); the newest jax (0.10.2, ours too) still runs
ppo.py and wrappers.py, so both sides run the same XLA.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from peers_stats import requirement_pins

__all__ = ["CLEANRL_FALLBACK", "PUREJAXRL_PINS", "cleanrl_steps", "purejaxrl_steps", "ensure_venv", "venv_python",
           "versions"]

# ppo.py's imports with the pins of CleanRL's requirements/requirements.txt, used when a
# checkout lacks that file.
CLEANRL_FALLBACK = {"gymnasium": "0.29.1", "numpy": "1.24.4", "tensorboard": "2.11.2", "tyro": "0.5.10",
                    "protobuf": "3.20.3"}
PUREJAXRL_PINS = ["gymnax==0.0.9", "jax==0.10.2", "jaxlib==0.10.2", "flax==0.12.8", "optax==0.2.8",
                  "distrax==0.1.9", "brax==0.14.2", "navix==0.7.4"]


def cleanrl_steps(checkout: Path, torch_spec: str, torch_index: str | None) -> list[list[str]]:
    """pip install argument lists, in order: torch alone first, then ppo.py's other imports."""
    requirements = Path(checkout) / "requirements" / "requirements.txt"
    pins = dict(CLEANRL_FALLBACK)
    if requirements.is_file():
        pins.update(requirement_pins(requirements.read_text(), CLEANRL_FALLBACK))
    torch = [torch_spec] + (["--index-url", torch_index] if torch_index else [])
    return [torch, [f"{name}=={version}" for name, version in pins.items()]]


def purejaxrl_steps() -> list[list[str]]:
    return [list(PUREJAXRL_PINS)]


def venv_python(folder: Path) -> Path:
    return Path(folder) / "bin" / "python"


def ensure_venv(folder: Path, steps: list[list[str]], python: str = sys.executable, log=print) -> Path:
    """The venv at `folder` with `steps` installed (pip install of each list, in order): made
    once; re-used while its record of the steps is the same, made anew otherwise."""
    folder = Path(folder)
    record = folder / "peers-installed.json"
    if record.is_file() and json.loads(record.read_text()) == steps and venv_python(folder).exists():
        log(f"# venv {folder}: re-used")
        return venv_python(folder)
    log(f"# venv {folder}: creating with {python}")
    subprocess.run([python, "-m", "venv", "--clear", str(folder)], check=True)
    for args in steps:
        command = [str(venv_python(folder)), "-m", "pip", "install", "--quiet", *args]
        log("# " + " ".join(command))
        subprocess.run(command, check=True)
    record.write_text(json.dumps(steps))
    return venv_python(folder)


def versions(python, packages) -> dict[str, str]:
    """{package: installed version or "missing"} in the interpreter `python`."""
    code = ("import importlib.metadata as m, json, sys\n"
            "def v(p):\n"
            "    try:\n        return m.version(p)\n"
            "    except m.PackageNotFoundError:\n        return 'missing'\n"
            "print(json.dumps({p: v(p) for p in sys.argv[1:]}))")
    done = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout) if done.returncode == 0 else {p: "unknown" for p in packages}
