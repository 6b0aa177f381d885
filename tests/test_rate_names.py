"""One word, one meaning (issue 18): the count rate (spikes in the window / its duration) and
the ISI rate (1 / mean ISI; the sustained rate is it where the firing is sustained) have their
own names everywhere; the old names still answer, with a RenamedWarning, and the same values."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import hhfast as hh  # noqa: E402
from hhfast import analysis, plotting  # noqa: E402
from hhfast.errors import RenamedWarning  # noqa: E402
from hhfast.fi import FICurve  # noqa: E402

#: a regular spike train: one spike per 1 ms, 50 µA/cm² pulse, every P ms
P, PULSES, T_STOP, WINDOW = 25.0, 12, 300.0, (10.0, 290.0)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def train():
    """Classic HH driven by a 40 Hz pulse train, one spike locked to each pulse."""
    return hh.simulate(hh.pulse_train(0.0, 1.0, P, PULSES, 50.0), t_stop=T_STOP, dt=0.01,
                       window=WINDOW, max_spikes=2 * PULSES)


def _closed_form_count(latency_lo=0.0, latency_hi=WINDOW[0]):
    """Spikes of the train inside the window, from the stimulus alone: the spike of pulse k is
    at ``k P + latency`` with a latency in ``(latency_lo, latency_hi)`` ms; the count is the
    same for every such latency (else the window would be ill-placed for the test)."""
    counts = {sum(WINDOW[0] <= k * P + lat < WINDOW[1] for k in range(PULSES))
              for lat in np.linspace(latency_lo, latency_hi, 101)[1:-1]}
    assert len(counts) == 1
    return counts.pop()


def test_count_rate_and_isi_rate_of_a_regular_train_against_closed_forms(train):
    """The two definitions differ by the window's edge effect exactly as the closed forms say:
    n spikes in a W ms window give n / W, while 1 / mean ISI is 1 / P whatever the window."""
    assert train.spike_count[0] == PULSES  # one spike per pulse: a regular train
    assert 0.0 < train.first_spike[0] < WINDOW[0]  # the latency the closed form assumes
    n = _closed_form_count()
    W = (WINDOW[1] - WINDOW[0]) * 1e-3  # s
    # count rate: an integer over a length, exact up to rounding
    np.testing.assert_allclose(train.count_rate(), n / W, rtol=1e-12)
    np.testing.assert_allclose(analysis.count_rate(train), n / W, rtol=1e-12)
    # ISI rate: 1 / P up to the difference between the latencies of the window's first and
    # last spikes (the state a pulse finds converges to the periodic one within a few
    # periods: 6e-6 ms measured); 1e-5 relative allows 2.5e-3 ms over the 250 ms span
    np.testing.assert_allclose(analysis.isi_rate(train), 1e3 / P, rtol=1e-5)
    np.testing.assert_allclose(analysis.sustained_rate(train), 1e3 / P, rtol=1e-5)
    # and they differ: n P / W = 275 / 280 here, far outside both tolerances
    ratio = analysis.count_rate(train) / analysis.isi_rate(train)
    np.testing.assert_allclose(ratio, n * P / (WINDOW[1] - WINDOW[0]), rtol=2e-5)
    assert abs(ratio[0] - 1.0) > 0.01


def _warns(fn, match):
    """``fn()`` under pytest.warns(RenamedWarning), its value; the warning points at the
    caller (this file), not at hhfast."""
    with pytest.warns(RenamedWarning, match=match) as rec:
        value = fn()
    assert all(issubclass(w.category, FutureWarning) for w in rec)
    assert any(w.filename == __file__ for w in rec), [w.filename for w in rec]
    return value


def test_simresult_rate_warns_and_equals_count_rate(train):
    old = _warns(lambda: train.rate(), "SimResult.rate is renamed SimResult.count_rate")
    np.testing.assert_array_equal(old, train.count_rate())
    old = _warns(lambda: train.rate(50.0, 200.0), "count_rate")
    np.testing.assert_array_equal(old, train.count_rate(50.0, 200.0))
    assert train.count_rate(50.0, 200.0)[0] == 6 / 0.150  # spikes at 50.7 ... 175.7 ms


def test_analysis_spike_rate_and_the_rate_key_warn_and_equal_count_rate(train):
    old = _warns(lambda: analysis.spike_rate(train), "spike_rate is renamed .*count_rate")
    np.testing.assert_array_equal(old, analysis.count_rate(train))
    m = analysis.window_metrics(train)
    assert "rate" not in m and "count_rate" in m and "isi_rate" in m
    np.testing.assert_array_equal(_warns(lambda: m["rate"], "'rate' is renamed 'count_rate'"),
                                  m["count_rate"])
    with pytest.raises(KeyError):
        m["no such metric"]


def _curves():
    c = np.linspace(0.0, 20.0, 5)
    det = FICurve(c, np.array([0, 0, 70, 80, 90.0]), np.array([0, 0, 2, 2, 2], np.int8),
                  onset=6.26, block=None, branch="both",
                  sustained_rate_quiet=np.array([0, 0, 0, 80, 90.0]),
                  sustained_rate_firing=np.array([0, 0, 70, 80, 90.0]), band=(6.26, 9.78),
                  hopf=np.array([9.78]), info={"method": "rk4", "dt": 0.01})
    trials = np.array([[0, 2, 60, 74, 88.0], [0, 4, 64, 78, 90.0]])
    noisy = FICurve(c, None, np.array([0, 1, 2, 2, 2], np.int8), None, None, "rest",
                    info={"method": "euler", "dt": 0.01, "trials": 2},
                    count_rate=trials.mean(0), count_rate_trials=trials,
                    count_rate_sd=trials.std(0, ddof=1), isi_cv=np.full(5, 0.1))
    return det, noisy


def test_ficurve_old_names_warn_and_equal_the_new_ones():
    det, noisy = _curves()
    assert not det.noisy and noisy.noisy
    assert _warns(lambda: det.rate, "FICurve.rate is renamed FICurve.sustained_rate") \
        is det.sustained_rate
    assert _warns(lambda: noisy.rate, "FICurve.rate is renamed FICurve.count_rate") \
        is noisy.count_rate
    for old, new, curve in (("rate_quiet", "sustained_rate_quiet", det),
                            ("rate_firing", "sustained_rate_firing", det),
                            ("rate_trials", "count_rate_trials", noisy),
                            ("rate_sd", "count_rate_sd", noisy)):
        value = _warns(lambda o=old, c=curve: getattr(c, o), f"FICurve.{old} is renamed "
                       f"FICurve.{new}")
        assert value is getattr(curve, new)
    with pytest.raises(AttributeError, match="no_such"):
        _ = det.no_such
    with warnings.catch_warnings():  # the new names do not warn
        warnings.simplefilter("error")
        for curve, name in ((det, "sustained_rate"), (det, "sustained_rate_quiet"),
                            (noisy, "count_rate"), (noisy, "count_rate_sd")):
            assert getattr(curve, name) is not None


def test_fi_plot_axis_says_which_rate():
    """Fails before issue 18: a noisy curve (a count rate) was labelled "sustained rate"."""
    det, noisy = _curves()
    assert "1 / mean ISI" in det.plot().axes[0].get_ylabel()
    ax = noisy.plot().axes[0]
    assert "spikes / window" in ax.get_ylabel() and "sustained" not in ax.get_ylabel()
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), noisy.count_rate)
    fig, ax = plt.subplots()
    plotting.rate_heatmap([0, 1], [30, 36], np.ones((2, 2)), ax=ax,
                          label=plotting.COUNT_RATE_LABEL)
    assert fig.axes[-1].get_ylabel() == plotting.COUNT_RATE_LABEL  # the colour bar


def test_ficurve_csv_names_the_rate():
    det, noisy = _curves()
    header = [ln for ln in det.to_csv().splitlines() if not ln.startswith("#")][0]
    assert header.split(",")[1] == "sustained_rate_Hz"
    header = [ln for ln in noisy.to_csv().splitlines() if not ln.startswith("#")][0]
    assert header.split(",")[1:4] == ["count_rate_Hz", "pattern", "count_rate_sd_Hz"]


def test_sweep_metric_rate_warns_and_stores_the_count_rate(train):
    pytest.importorskip("xarray")
    g = hh.grid(amplitude=[1.0, 1.2])
    stim = hh.pulse_train(0.0, 1.0, P, PULSES, 50.0)
    run = dict(t_stop=T_STOP, dt=0.01, window=WINDOW, progress=False)
    new = hh.sweep(g, stim, **run)
    assert "count_rate" in new and "rate" not in new  # the default metrics' new name
    n = _closed_form_count()
    np.testing.assert_allclose(new.count_rate.values, n / 0.280, rtol=1e-12)
    np.testing.assert_allclose(new.isi_rate.values, 1e3 / P, rtol=1e-5)
    np.testing.assert_array_equal(new.count_rate.values[0], train.count_rate()[0])
    old = _warns(lambda: hh.sweep(g, stim, metrics=["rate", "isi_rate"], **run),
                 "'rate' is renamed 'count_rate'")
    np.testing.assert_array_equal(old.rate.values, new.count_rate.values)
    with pytest.raises(hh.InputValueError, match="'count_rate' twice"):
        hh.sweep(g, stim, metrics=["rate", "count_rate"], **run)
    # plots: the old name finds the new variable (warning), every rate's axis says which
    fig = _warns(lambda: plotting.sweep_plot(new, "rate"), "'rate' is renamed 'count_rate'")
    assert fig.axes[0].get_ylabel() == plotting.COUNT_RATE_LABEL
    assert "1 / mean ISI" in plotting.sweep_plot(new, "isi_rate").axes[0].get_ylabel()
    assert plotting.sweep_plot(old, "rate").axes[0].get_ylabel() == plotting.COUNT_RATE_LABEL


def test_a_store_begun_with_the_old_default_metrics_resumes_with_the_defaults(tmp_path):
    # a store written before the rename holds 'rate' among the default metrics; re-running the
    # same default call must resume it (nothing finished refused), holding its old names
    pytest.importorskip("xarray")
    from hhfast.result import RENAMED_METRICS
    from hhfast.sweeps.spec import DEFAULT_METRICS

    back = {new: old for old, new in RENAMED_METRICS.items()}
    old_default = [back.get(m, m) for m in DEFAULT_METRICS]
    assert old_default != list(DEFAULT_METRICS)  # the rename touched the defaults
    g = hh.grid(amplitude=[1.0, 8.0])
    run = dict(t_stop=50.0, dt=0.025, progress=False, store=str(tmp_path / "s.zarr"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RenamedWarning)
        first = hh.sweep(g, hh.step(), metrics=old_default, **run)
        again = hh.sweep(g, hh.step(), **run)  # the default metrics
    assert list(again.attrs["metrics"]) == old_default
    np.testing.assert_array_equal(again.rate.values, first.rate.values)
    assert bool(again.done.all())
