import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests import adapters  # noqa: E402

# The jax and mixed pipelines keep compiled programs in the user's cache folder
# (pipelines.compile_cache): the suite, and the commands it starts, use a folder of its own.
_CACHE = tempfile.TemporaryDirectory(prefix="puffer-backend-test-cache-")
os.environ["PUFFER_BACKEND_CACHE_DIR"] = _CACHE.name
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)  # a user's own JAX cache folder is not the suite's either

# CI runs the same examples every time (a failure there must reproduce); locally hypothesis
# keeps exploring new layouts on each run.
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None)
    settings.load_profile("ci")


@pytest.fixture(params=adapters.selected_backends())
def backend(request):
    """Each conformance test runs once per backend; a backend not installed is skipped, visibly."""
    name = request.param
    pytest.importorskip({"torch": "torch", "jax": "jax"}[name])
    return adapters.load(name)
