"""Backend adapters: the conformance suite talks to every backend through one small interface."""
import importlib
import os

KNOWN = ("torch", "jax")


def selected_backends() -> list[str]:
    """Backends named in PUFFER_TEST_BACKENDS (comma-separated), default all; unknown names fail."""
    raw = os.environ.get("PUFFER_TEST_BACKENDS", ",".join(KNOWN))
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = sorted(set(names) - set(KNOWN))
    if unknown:
        raise ValueError(f"PUFFER_TEST_BACKENDS: expected names from {KNOWN}, received {unknown}")
    return names


def load(name: str):
    """The adapter instance for `name` (imports that backend's framework)."""
    return importlib.import_module(f"tests.adapters.{name}_adapter").ADAPTER
