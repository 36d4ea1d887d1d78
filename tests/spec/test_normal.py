"""The Normal's closed forms in `spec.normal`, against scipy's Normal (an independent truth)."""
import numpy as np
import pytest
from scipy import stats

from puffer_backend.spec import normal


def test_half_log_2pi():
    assert normal.HALF_LOG_2PI == pytest.approx(np.log(np.sqrt(2 * np.pi)), rel=1e-15)


def test_log_density_is_scipys_logpdf():
    rng = np.random.default_rng(0)
    loc, value = rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) * 3
    scale = rng.uniform(0.05, 4.0, size=(50, 3))
    got = normal.log_density(value, loc, scale, np.log(scale))
    np.testing.assert_allclose(got, stats.norm.logpdf(value, loc, scale), rtol=1e-12, atol=1e-12)


def test_entropy_is_scipys_entropy():
    scale = np.geomspace(1e-3, 1e3, 13)
    np.testing.assert_allclose(normal.entropy(np.log(scale)), stats.norm(0.0, scale).entropy(), rtol=1e-12)
