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
    assert figure.axes[0].get_title() == "run-a"
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
