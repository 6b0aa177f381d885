"""Library figures: they return a Figure, draw on a given Axes and show what they claim."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import hhfast as hh  # noqa: E402
from hhfast import plotting  # noqa: E402
from hhfast.fi import FICurve  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def res():
    return hh.simulate(hh.pulses([(0, 1, 150), (10, 11, 50)]), t_stop=30.0, record="V,n,m,h")


def _fi_both():
    c = np.linspace(0.0, 20.0, 5)
    return FICurve(c, np.array([0, 0, 70, 80, 90.0]), np.array([0, 0, 2, 2, 2], np.int8),
                   onset=6.26, block=None, branch="both",
                   sustained_rate_quiet=np.array([0, 0, 0, 80, 90.0]),
                   sustained_rate_firing=np.array([0, 0, 70, 80, 90.0]), band=(6.26, 9.78),
                   hopf=np.array([9.78]), info={"method": "rk4", "dt": 0.01})


def test_fi_plot_both_branches_and_band():
    fi = _fi_both()
    fig, ax = plt.subplots()
    assert fi.plot(ax=ax) is fig
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 5]
    assert len(lines) == 2  # quiet and firing branches
    np.testing.assert_array_equal(lines[0].get_ydata(), fi.sustained_rate_firing)
    np.testing.assert_array_equal(lines[1].get_ydata(), fi.sustained_rate_quiet)
    spans = [p for p in ax.patches if p.get_label().startswith("bistable band")]
    assert len(spans) == 1
    span = spans[0]  # a Rectangle (matplotlib >= 3.9) or a Polygon (older)
    if hasattr(span, "get_width"):
        x = np.array([span.get_x(), span.get_x() + span.get_width()])
    else:
        x = np.asarray(span.get_xy())[:, 0]
    assert x.min() == pytest.approx(6.26) and x.max() == pytest.approx(9.78)


def test_trace_panel_raster_phase(res):
    fig = plotting.trace_panel(res)
    assert len(fig.axes) == 3
    v_line = fig.axes[1].get_lines()[0]
    np.testing.assert_array_equal(v_line.get_ydata(), res.V[0])
    fig, ax = plt.subplots()
    assert plotting.raster_plot(res, ax=ax) is fig
    ticks = ax.get_lines()[0]
    np.testing.assert_array_equal(ticks.get_xdata(), res.spike_times[0])
    fig = plotting.phase_plot(res)
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["V–n", "V–m"]


def test_strength_duration_and_heatmap():
    fig = plotting.strength_duration_plot([0.1, 1, 10], [60, 7, 2.3])
    assert fig.axes[0].get_xscale() == "log"
    rate = np.arange(6.0).reshape(3, 2)
    fig, ax = plt.subplots()
    assert plotting.rate_heatmap([0, 1, 2], [30, 36], rate, ax=ax) is fig
    np.testing.assert_array_equal(ax.collections[0].get_array().reshape(2, 3), rate.T)
    with pytest.raises(ValueError, match="shape"):
        plotting.rate_heatmap([0, 1], [30, 36], rate)
