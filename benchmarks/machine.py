"""What every benchmark prints with its figures, and runs in a fresh interpreter: the CPU
model (lscpu's), torch's CPU capability and threads, the load; a child process's result row."""
from __future__ import annotations

import json
import os
import platform
import subprocess

__all__ = ["cpu_model", "machine_lines", "child_row"]


def cpu_model() -> str:
    """lscpu's model name (CPUs of one machine kind differ: AVX2 only, or AVX-512)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or "unknown (no lscpu)"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_lines() -> list[str]:
    """CPU model, torch's CPU capability and the thread counts a run had, as `# ` lines."""
    lines = [f"# cpu: {cpu_model()}, {os.cpu_count()} logical cpus, load average "
             + " ".join(f"{x:.2f}" for x in os.getloadavg())]
    try:
        import torch
        lines.append(f"# torch {torch.__version__}: cpu capability {torch.backends.cpu.get_cpu_capability()}, "
                     f"threads {torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op")
    except ImportError:
        lines.append("# torch: not installed")
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS") if k in os.environ}
    lines.append(f"# thread settings from the environment: {env or 'none'}")
    return lines


def child_row(command: list, row_mark: str, timeout_s: float) -> tuple[dict | None, str]:
    """Run `command` (a benchmark's child run) -> (the JSON row it printed after `row_mark`, "")
    or (None, why there is none: the timeout or the child's last line of stderr)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout_s:.0f}s"
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(row_mark):
            return json.loads(line[len(row_mark):]), ""
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return None, (lines[-1] if lines else f"exit status {done.returncode}, no result")
