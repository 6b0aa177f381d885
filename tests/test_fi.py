"""f–I curves against the scipy reference and published values for classic HH.

Published values (classic HH, 6.3 °C, the 1952 parameters):
* fold of limit cycles (lowest current with repetitive firing) I ≈ 6.26 µA/cm² and subcritical
  Hopf point I ≈ 9.78 µA/cm²; the upper (supercritical) Hopf point I ≈ 154.5 µA/cm²
  — Rinzel & Miller, Math. Biosci. 49:27–59 (1980), also Guckenheimer & Labouriau,
  Bull. Math. Biol. 55:937–952 (1993).
These are quoted to ~0.01 µA/cm² (and differ slightly with the leak reversal used, here
EL = 10.613 mV), so they are checked to 0.01 (0.1 for the upper Hopf point).  The sharper
checks are against the scipy reference (DOP853, rtol = atol = 1e-8: spike times good to
~1e-6 ms, far below anything that decides "fires" against "does not fire" here).
"""

import numpy as np
import pytest

import hhfast as hh
from hhfast import reference
from hhfast.fi import equilibrium_stability, hopf_currents
from hhfast.model import equilibrium

REF = dict(rtol=1e-8, atol=1e-8, record_dt=1.0, max_spikes=200)


def ref_isi_rate(times, t0):
    """1 / mean ISI (Hz) of the reference spike times after t0 (computed here from the stored
    spike times, independently of the kernels' O(1) window statistics)."""
    s = times[times >= t0]
    return 1e3 * (s.size - 1) / (s[-1] - s[0])


@pytest.fixture(scope="module")
def rest_curve():
    # 0.05 µA/cm² grid around the onset; 600 ms runs, rate over the last 300 ms
    return hh.fi_curve(np.linspace(6.0, 6.5, 11), t_stop=600.0)


def test_rest_onset_against_reference_and_published(rest_curve):
    fi = rest_curve
    # refined onset: inside the grid bracket [6.25, 6.30] and at the published fold (step from
    # rest lands on the cycle throughout the band, so the rest onset is the fold)
    assert 6.25 < fi.onset <= 6.30
    assert abs(fi.onset - 6.26) < 0.01
    ref = reference.solve(hh.step(), 600.0, amplitude=np.array([6.25, 6.30]), **REF)
    below, above = ref.spike_times[0], ref.spike_times[1]
    # reference: at 6.25 a few spikes then silence, at 6.30 firing through to the end
    assert np.sum(below >= 300) == 0 and below.size > 0
    assert np.sum(above >= 300) >= 10 and above[-1] > 600 - 2 * np.diff(above).mean()
    pattern = dict(zip(np.round(fi.current, 2), fi.pattern, strict=True))
    assert pattern[6.25] == hh.analysis.TRANSIENT and pattern[6.3] == hh.analysis.SUSTAINED
    # rate just above onset: kernel (rk4, dt = 0.01) against reference 1/mean ISI; the ISI
    # of RK4 at dt = 0.01 is exact to ~1e-6 ms, so 1e-3 relative only leaves room for the
    # window starting at slightly different spikes of a train that is not perfectly periodic
    # yet this close to the fold
    k = int(np.argmin(np.abs(fi.current - 6.30)))
    assert fi.sustained_rate[k] == pytest.approx(ref_isi_rate(above, 300.0), rel=1e-3)
    assert 45 < fi.sustained_rate[k] < 60  # HH jumps to ~50 Hz at onset (type II excitability)
    assert np.all(fi.sustained_rate[fi.current < 6.25] == 0)


@pytest.fixture(scope="module")
def both_curve():
    return hh.fi_curve(np.linspace(5.0, 11.0, 13), t_stop=600.0, branch="both")


def test_band_edges_published(both_curve):
    fb = both_curve
    lo, hi = fb.band
    assert abs(lo - 6.26) < 0.01
    assert abs(hi - 9.78) < 0.01
    assert fb.onset == lo
    # the quiet branch is silent below the Hopf point and fires above it; the firing branch
    # fires all the way down to the fold; in between, both coexist
    c = fb.current
    assert np.all(fb.sustained_rate_quiet[c < hi] == 0) and np.all(fb.sustained_rate_quiet[c > hi] > 0)
    assert np.all(fb.sustained_rate_firing[c > lo] > 40) and np.all(fb.sustained_rate_firing[c < lo] == 0)
    # above the Hopf point the only attractor is the cycle: both branches give the same rate
    np.testing.assert_allclose(fb.sustained_rate_quiet[c > hi], fb.sustained_rate_firing[c > hi], rtol=1e-3)


def test_band_same_in_modern_convention(both_curve):
    """The modern preset is the same model shifted by -65 mV: same band, same rates."""
    fm = hh.fi_curve(both_curve.current, t_stop=600.0, branch="both",
                     params=hh.HHParams.modern())
    # the fold is refined to 1e-3 in each run; the Hopf point to ~1e-10 by Brent's method,
    # up to the Jacobian's central-difference error (~1e-6 relative)
    assert fm.band[0] == pytest.approx(both_curve.band[0], abs=2e-3)
    assert fm.band[1] == pytest.approx(both_curve.band[1], abs=1e-5)
    # rates differ only by round-off in the shifted voltages (spike times to ~1e-9 ms)
    np.testing.assert_allclose(fm.sustained_rate_firing, both_curve.sustained_rate_firing, rtol=1e-6)


@pytest.mark.slow  # the reference over 2 x ~1.2 s at tight tolerance; the fast set checks the
# fold against the published value (test_band_edges_published)
def test_fold_against_reference(both_curve):
    """The reference, driven by the same ramp protocol, keeps firing 0.01 above the fold and
    falls off 0.01 below it (the slow passage below the fold lasts ~150 ms there)."""
    fold, i_high = both_curve.band[0], both_curve.info["i_high"]
    T = both_curve.info["ramp_ms"]
    target = np.array([fold - 0.01, fold + 0.01])
    ref = reference.solve(hh.ramp(0.0, T, 1.0, 0.0), T + 600.0, bias=target,
                          amplitude=i_high - target, **REF)
    below, above = ref.spike_times[0], ref.spike_times[1]
    assert np.sum(below >= T + 300) == 0
    assert np.sum(above >= T + 300) >= 10 and above[-1] > T + 600 - 2 * np.diff(above).mean()


def test_hopf_against_reference():
    """Growth of a small perturbation of the equilibrium, integrated by the reference: it
    decays 0.05 below the eigenvalue-located Hopf point and grows 0.05 above it."""
    (h,) = hopf_currents(np.linspace(9.0, 10.5, 4))
    assert abs(h - 9.78) < 0.01
    growth = []
    for current in (h - 0.05, h + 0.05):
        y = np.array(equilibrium(current))
        _, _, d = equilibrium_stability([h + 0.05])  # unstable direction near the edge
        y0 = y + 1e-3 * d[:, 0]  # 1e-3 mV: deep in the linear regime
        ref = reference.solve(hh.step(), 600.0, amplitude=current, V0=y0[0], n0=y0[1],
                              m0=y0[2], h0=y0[3], **REF)
        dev = np.abs(ref.V[0] - y[0])
        growth.append(dev[ref.t >= 500].max() / dev[(ref.t >= 50) & (ref.t < 150)].max())
    # linear growth rate ~ ±1e-3 /ms here: e^(±0.45) over the 450 ms between the windows
    assert growth[0] < 0.9 and growth[1] > 1.1


def test_upper_hopf_published():
    h = hopf_currents(np.linspace(150.0, 160.0, 6))
    assert h.size == 1 and abs(h[0] - 154.5) < 0.1


def test_block_against_reference():
    fi = hh.fi_curve(np.linspace(80.0, 100.0, 11), t_stop=200.0)
    assert fi.onset == 80.0  # firing from the lowest current of this range
    b = fi.block
    assert b is not None and 80 < b < 100
    # reference: oscillations still cross the 50 mV threshold 0.5 below the block, and no
    # longer 0.5 above it (the peak falls ~0.5 mV per µA/cm² here, far more than the
    # kernels' error)
    ref = reference.solve(hh.step(), 200.0, amplitude=np.array([b - 0.5, b + 0.5]), **REF)
    assert np.sum(ref.spike_times[0] >= 100) >= 10
    assert np.sum(ref.spike_times[1] >= 100) == 0
    assert np.all(fi.sustained_rate[fi.current > b] == 0) and np.all(fi.sustained_rate[fi.current < b] > 100)


def test_fi_curve_csv_and_repr(both_curve, tmp_path):
    text = both_curve.to_csv(tmp_path / "fi.csv")
    assert (tmp_path / "fi.csv").read_text() == text
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines[0] == ("current_uA_cm2,sustained_rate_Hz,pattern,sustained_rate_quiet_Hz,"
                        "sustained_rate_firing_Hz")
    data = np.loadtxt(lines[1:], delimiter=",")
    np.testing.assert_allclose(data[:, 0], both_curve.current)
    np.testing.assert_allclose(data[:, 3], both_curve.sustained_rate_quiet, rtol=1e-9)
    assert f"band_uA_cm2: {both_curve.band[0]:.6g}" in text
    assert "band=(6.26" in repr(both_curve)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(currents=[1.0, 0.5]), ValueError, "strictly increasing"),
        (dict(currents=[[1.0, 2.0]]), ValueError, "1-D"),
        (dict(currents=[1.0, np.nan]), ValueError, "currents must be finite"),
        (dict(currents=[1.0], branch="up"), ValueError, "branch"),
        (dict(currents=[1.0], gK=[30.0, 36.0]), ValueError, "gK must be one number"),
        (dict(currents=[1.0], amplitude=3.0), TypeError, "amplitude"),
        (dict(currents=[1.0], window=(600.0, 500.0)), ValueError, "window"),
        (dict(currents=[1.0], t_stop=-1.0), ValueError, "t_stop"),
        (dict(currents=[1.0], branch="both", method="rk5"), ValueError, "method"),
        (dict(currents=[1.0], branch="both", dt=0.0), ValueError, "dt"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hh.fi_curve(**kwargs)
