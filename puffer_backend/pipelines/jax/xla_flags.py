"""XLA:CPU settings for the jax pipeline, opt-in (`PUFFER_XLA_FLAGS=1`), applied before JAX
starts its CPU backend.

The flag here runs each XLA:CPU op on one thread. It was meant to keep a loaded machine's
speed close to its quiet speed; measured on an otherwise quiet 2-core machine
(docs/benchmarks.md), it did the opposite: with one busy process the pipeline kept 77% of
its speed with the flag and all of it without. So JAX's defaults stay, and the flag is
there for machines where the measurement comes out the other way.

XLA reads XLA_FLAGS once, when the first backend is created (not at `import jax`), so
`apply_cpu_flags()` must run before anything touches a device; the pipeline package calls
it on import. A flag the user already set in XLA_FLAGS is left as the user set it.
"""
from __future__ import annotations

import os
import sys

__all__ = ["CPU_FLAGS", "apply_cpu_flags"]

# flag name -> value
CPU_FLAGS = {"xla_cpu_multi_thread_eigen": "false"}


def _backend_started() -> bool:
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bool(getattr(bridge, "_backends", None))


def apply_cpu_flags(environ=None) -> list[str]:
    """Append CPU_FLAGS to XLA_FLAGS in `environ` (default os.environ), skipping any flag
    already named there; returns the flags added. Adds nothing once a JAX backend exists
    (the flags would no longer take effect) or unless PUFFER_XLA_FLAGS is `1`."""
    environ = os.environ if environ is None else environ
    if environ.get("PUFFER_XLA_FLAGS") != "1" or _backend_started():
        return []
    current = environ.get("XLA_FLAGS", "")
    named = {part.lstrip("-").split("=")[0] for part in current.split()}
    added = [f"--{name}={value}" for name, value in CPU_FLAGS.items() if name not in named]
    if added:
        environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added
