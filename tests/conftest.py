import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests import adapters  # noqa: E402

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
