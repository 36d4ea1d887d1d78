import pytest

from puffer_backend.pipelines import PIPELINES, envs

from .helpers import FAKE_PIPELINE


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Points every backend at the fake pipeline and lets it run without torch/JAX installed."""
    (tmp_path / "fake_pipeline_mod.py").write_text(FAKE_PIPELINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    for backend in PIPELINES:
        monkeypatch.setitem(PIPELINES, backend, "fake_pipeline_mod")
        monkeypatch.setitem(envs.REQUIRED_MODULES, backend, ())
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
