"""Seeds and their statistics: parsing, and rliable's IQM and bootstrap CI checked against scipy."""
import numpy as np
import pytest

from puffer_backend.pipelines.seed_stats import aggregate, bootstrap_band, bootstrap_ci, check_seeds, iqm, parse_seeds

stats = pytest.importorskip("scipy.stats")


def test_parse_ranges_lists_and_both():
    assert parse_seeds("0-15") == tuple(range(16))
    assert parse_seeds("0,3,7") == (0, 3, 7)
    assert parse_seeds("4-6, 1") == (4, 5, 6, 1)
    assert parse_seeds("9") == (9,)


@pytest.mark.parametrize("text, fragment", [("a-3", "a range '0-15'"), ("5-2", "not below its start"),
                                            ("1,1", "each seed once"), ("-1", "a range '0-15'"),
                                            ("0-99999", "at most"), ("4294967296", "seeds in [0, ")])
def test_bad_seeds_name_the_argument(text, fragment):
    with pytest.raises(ValueError, match=r"--seeds: expected") as error:
        parse_seeds(text)
    assert fragment in str(error.value)


def test_check_seeds_types():
    assert check_seeds(range(3)) == (0, 1, 2)
    with pytest.raises(TypeError, match="seeds: expected ints, received float 1.0"):
        check_seeds([0, 1.0])
    with pytest.raises(TypeError, match="seeds: expected a sequence of ints"):
        check_seeds(5)
    with pytest.raises(ValueError, match="seeds: expected at least one seed, received none"):
        check_seeds([])


@pytest.mark.parametrize("n", [1, 3, 4, 7, 16, 33])
def test_iqm_is_scipys_trim_mean(n):
    values = np.random.default_rng(n).normal(100, 30, n)
    assert iqm(values) == pytest.approx(stats.trim_mean(values, 0.25), rel=1e-12)


def test_bootstrap_ci_agrees_with_scipys_percentile_bootstrap():
    values = np.random.default_rng(1).gamma(2.0, 50.0, 12)
    low, high = bootstrap_ci(values, resamples=20000)
    truth = stats.bootstrap((values,), np.mean, method="percentile", n_resamples=20000, confidence_level=0.95,
                            random_state=np.random.default_rng(7)).confidence_interval
    spread = values.std() / np.sqrt(values.size)  # the standard error: Monte Carlo noise is far below it
    assert low == pytest.approx(truth.low, abs=0.05 * spread) and high == pytest.approx(truth.high, abs=0.05 * spread)
    assert low < values.mean() < high
    assert bootstrap_ci(values) == bootstrap_ci(values)  # seeded
    assert bootstrap_ci([3.0]) == (3.0, 3.0)


def test_aggregate_of_summaries():
    summaries = {0: {"mean_return": 10.0, "steps_to_target": 512}, 1: {"mean_return": 30.0, "steps_to_target": None},
                 2: {"mean_return": float("nan")}, 5: {"mean_return": 20.0, "steps_to_target": 256}}
    group = aggregate(summaries)
    assert group["seeds"] == 4 and group["final_return"] == {"0": 10.0, "1": 30.0, "2": None, "5": 20.0}
    assert group["mean"] == pytest.approx(20.0) and group["iqm"] == pytest.approx(stats.trim_mean([10, 20, 30], 0.25))
    assert group["ci95"] == list(bootstrap_ci([10.0, 30.0, 20.0]))
    assert group["steps_to_target"] == {"0": 512, "1": None, "2": None, "5": 256}
    assert "steps_to_target" not in aggregate({0: {"mean_return": 1.0}})


def test_bootstrap_band_is_the_ci_of_each_point():
    rng = np.random.default_rng(3)
    curves = rng.normal(0, 1, (10, 5)).cumsum(axis=1)
    curves[7, 3:] = np.nan  # a run that ended early
    mean, low, high = bootstrap_band(curves, resamples=20000)
    np.testing.assert_allclose(mean, np.nanmean(curves, axis=0))
    for point in (1, 4):
        column = curves[:, point][np.isfinite(curves[:, point])]
        truth = stats.bootstrap((column,), np.mean, method="percentile", n_resamples=20000,
                                random_state=np.random.default_rng(1)).confidence_interval
        spread = column.std() / np.sqrt(column.size)
        assert low[point] == pytest.approx(truth.low, abs=0.1 * spread)
        assert high[point] == pytest.approx(truth.high, abs=0.1 * spread)
    assert (low <= mean).all() and (mean <= high).all()
    mean, low, high = bootstrap_band(np.array([[np.nan, 1.0]]))
    assert np.isnan(mean[0]) and np.isnan(low[0]) and (mean[1], low[1], high[1]) == (1.0, 1.0, 1.0)
