import pytest

pytest.importorskip("jax")
