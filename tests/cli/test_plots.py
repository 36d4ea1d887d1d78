"""Learning-curve figures, checked against the data they plot."""
import numpy as np
import pytest


def test_curve_figure_plots_the_recorded_data(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    from puffer_backend.cli.plots import curve_figure, plot_curve

    metrics = {"step": [512.0, 1024.0, 1536.0], "mean_return": [10.0, 50.0, 200.0]}
    figure = curve_figure(metrics, title="run-a", target=475)
    lines = figure.axes[0].get_lines()
    np.testing.assert_array_equal(lines[0].get_xdata(), metrics["step"])
    np.testing.assert_array_equal(lines[0].get_ydata(), metrics["mean_return"])
    assert figure.get_suptitle() == "run-a" and len(figure.axes) == 1  # no other column: one panel
    assert list(lines[1].get_ydata()) == [475, 475]  # the target line
    path = plot_curve(metrics, tmp_path / "sub" / "curve.png")
    image = matplotlib_image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0  # drawn, not blank
    with pytest.raises(ValueError, match="expected a 'mean_return' column"):
        curve_figure({"step": [1.0]})


def test_compare_figure_one_line_per_run(tmp_path):
    pytest.importorskip("matplotlib")
    from puffer_backend.cli.plots import compare_figure

    a = {"step": [1.0, 2.0], "mean_return": [3.0, 4.0], "wall_time": [0.1, 0.2]}
    b = {"step": [1.0, 2.0, 3.0], "mean_return": [5.0, 6.0, 7.0], "wall_time": [0.5, 0.6, 0.9]}
    figure = compare_figure([("a", a), ("b", b)], x="wall_time")
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    np.testing.assert_array_equal(lines[1].get_xdata(), b["wall_time"])
    np.testing.assert_array_equal(lines[1].get_ydata(), b["mean_return"])
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="runs: expected at least one"):
        compare_figure([])


def test_curve_figure_explains_the_run_and_marks_resumes():
    """A panel per recorded training column beside the return, each plotting its column, and
    the resume point drawn at its step on every panel (at its row's wall time on that axis)."""
    pytest.importorskip("matplotlib")
    from puffer_backend.cli.plots import CURVE_PANELS, curve_figure

    rng = np.random.default_rng(0)
    metrics = {"step": [512.0, 1024.0, 1536.0, 2048.0], "wall_time": [0.5, 1.0, 7.0, 7.5],
               "mean_return": [10.0, 20.0, 30.0, 40.0], "sps": [1.0, 2.0, 3.0, 4.0],
               **{key: list(rng.uniform(size=4)) for key in CURVE_PANELS}}
    metrics["clipfrac"] = [float("nan")] * 4  # not recorded: no panel
    figure = curve_figure(metrics, target=35.0, resumed_at=[1024])
    labels = [axes.get_ylabel() for axes in figure.axes]
    assert labels == ["mean return", "policy loss", "value loss", "entropy", "approx kl"]
    for axes, key in zip(figure.axes, ["mean_return", "policy_loss", "value_loss", "entropy", "approx_kl"]):
        data, *marks = axes.get_lines()
        np.testing.assert_array_equal(data.get_ydata(), metrics[key])
        assert list(marks[0].get_xdata()) == [1024, 1024]  # the resume marker, vertical
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["mean_return", "resumed", "target 35"]
    by_time = curve_figure(metrics, x="wall_time", resumed_at=[1024])
    assert list(by_time.axes[1].get_lines()[1].get_xdata()) == [1.0, 1.0]
