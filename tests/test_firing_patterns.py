"""Rate definitions, latency and the sustained/transient classification, against spike
times from the scipy reference and from the stored spike times."""

import numpy as np
import pytest

import hhfast as hh
from hhfast import analysis, reference


@pytest.fixture(scope="module")
def runs():
    # quiet (no current), transient (a 2 ms pulse: one spike), sustained (10 µA/cm² step),
    # a step that fires a few spikes and stops (6.0 µA/cm², below the fold)
    stims = [hh.step(), hh.pulses([(5.0, 7.0, 1.0)]), hh.step(5.0), hh.step(5.0)]
    amps = np.array([0.0, 20.0, 10.0, 6.0])
    res = hh.simulate(stims, t_stop=400.0, amplitude=amps, window=(200.0, 400.0),
                      max_spikes=100)
    return stims, amps, res


def test_patterns(runs):
    _, _, res = runs
    p = analysis.firing_pattern(res)
    assert list(p) == [analysis.QUIET, analysis.TRANSIENT, analysis.SUSTAINED,
                       analysis.TRANSIENT]
    rate = analysis.sustained_rate(res)
    assert rate[0] == rate[1] == rate[3] == 0 and rate[2] > 0


def test_rates_against_stored_spike_times(runs):
    _, _, res = runs
    s = res.spike_times[2]
    s = s[(s >= 200) & (s < 400)]
    # isi_rate = (n - 1)/(last - first), spike_rate = n / 0.2 s: computed here from the
    # stored times, not from the kernels' window accumulators
    assert analysis.isi_rate(res)[2] == pytest.approx(1e3 * (s.size - 1) / (s[-1] - s[0]),
                                                      rel=1e-12)
    assert analysis.count_rate(res)[2] == pytest.approx(s.size / 0.2, rel=1e-12)
    assert analysis.isi_cv(res)[2] == pytest.approx(np.std(np.diff(s)) / np.diff(s).mean(),
                                                    rel=1e-6, abs=1e-9)


def test_latency_against_reference(runs):
    stims, amps, res = runs
    lat = analysis.latency(res)
    assert np.isnan(lat[0])
    ref = reference.solve(stims[2], 40.0, amplitude=amps[2], rtol=1e-10, atol=1e-10)
    # onset of the step at 5 ms is the stimulus's first breakpoint; RK4 at dt = 0.01 and the
    # cubic-Hermite crossing give spike times to ~1e-6 ms
    assert lat[2] == pytest.approx(ref.first_spike[0] - 5.0, abs=1e-4)
    assert analysis.latency(res, onset=0.0)[2] == pytest.approx(ref.first_spike[0], abs=1e-4)


def test_window_metrics_keys(runs):
    m = analysis.window_metrics(runs[2])
    for k in ("latency", "pattern", "sustained_rate", "isi_rate", "count_rate"):
        assert m[k].shape == (4,)
