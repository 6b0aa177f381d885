"""Features computed inside the kernel (issue 21, item 1) against eFEL, an independent
implementation, on traces recorded (``record="V"``) from the same runs.

eFEL is given the run's own samples: ``interp_step = dt`` (so it does not resample), its
``Threshold`` the run's spike threshold, ``DerivativeThreshold`` and ``DerivativeWindow`` the
kernel's (``config.FEATURE_DERIVATIVE_*``), ``stim_start, stim_end`` the feature window.

Tolerances.  The kernel and eFEL read the same samples, so every spike feature is an exact
function of them in both: the only difference is eFEL's own time grid, which it rebuilds by
interpolation and which lies within 1e-12 ms of the run's (float rounding of its
accumulated grid).  That moves a sample's V by at most |dV/dt|·1e-12 ms < 1e-9 mV (|dV/dt| <
1000 mV/ms in HH), hence ``TOL`` = 1e-8 (ms, mV, Hz, or dimensionless) for features decided
by sample indices.  The window means (``voltage_base``, ``steady_state_voltage_stimend``) can
differ by one sample at a window edge that falls on the grid (eFEL's rounded grid puts it on
the other side): at most (max V − min V over the window) / (n − 1) for n samples, computed
per trace (:func:`_edge_tol`).  ``voltage_mean``/``voltage_std`` have no eFEL equivalent and
are compared with NumPy on the same samples over [t0, t1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hhfast as hh
from hhfast import config
from hhfast.errors import InputError

efel = pytest.importorskip("efel")

#: features decided by sample indices: see the module docstring
TOL = 1e-8
THR = 50.0  # the default threshold of the classic model (V_rest + 50 mV)


def _efel(t, V, t0, t1, thr, dt) -> dict:
    """eFEL's values of every name of ``hh.FEATURES`` for one trace (per-spike arrays: the
    mean over peaks in [t0, t1], as hhfast defines them)."""
    efel.reset()
    for k, v in dict(Threshold=thr, DerivativeThreshold=config.FEATURE_DERIVATIVE_THRESHOLD,
                     DerivativeWindow=config.FEATURE_DERIVATIVE_WINDOW,
                     interp_step=dt).items():
        efel.set_setting(k, v)

    def get(tt, vv, s0, s1, names):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return efel.get_feature_values([dict(T=tt, V=vv, stim_start=[s0], stim_end=[s1])],
                                           names, raise_warnings=False)[0]

    f = get(t, V, t0, t1, ["peak_time", "mean_frequency", "adaptation_index", "AP_amplitude",
                           "min_AHP_values", "AHP_depth", "voltage_base",
                           "steady_state_voltage_stimend"])
    pt = np.array([]) if f["peak_time"] is None else f["peak_time"]
    inw = (pt >= t0) & (pt <= t1)
    ptw = pt[inw]

    def one(a):
        return np.nan if a is None or len(a) == 0 else float(a[0])

    def mean(a):
        return np.nan if a is None or len(a) == 0 else float(np.mean(a))

    def per_peak(a, peaks_in):  # eFEL's per-peak array, first len(a) peaks, in the window
        if a is None:
            return np.nan
        k = min(len(a), len(peaks_in))
        sel = np.asarray(a)[:k][peaks_in[:k]]
        return float(sel.mean()) if sel.size else np.nan

    isi = np.diff(ptw)[1:]  # eFEL's ignore_first_ISI
    out = {
        "Spikecount": float(inw.sum()),
        "mean_frequency": one(f["mean_frequency"]),
        "time_to_first_spike": ptw[0] - t0 if ptw.size else np.nan,
        "ISI_values": isi.mean() if isi.size >= 1 else np.nan,
        "ISI_CV": isi.std(ddof=1) / isi.mean() if isi.size >= 2 else np.nan,
        "adaptation_index": one(f["adaptation_index"]),
        "AP_amplitude": mean(f["AP_amplitude"]),
        "AHP_depth_abs": per_peak(f["min_AHP_values"], inw),
        "AHP_depth": per_peak(f["AHP_depth"], inw),
        "voltage_base": one(f["voltage_base"]),
        "steady_state_voltage_stimend": one(f["steady_state_voltage_stimend"]),
    }
    # eFEL pairs its AP begins (found for peaks after stim_start) with *all* peaks by
    # position, so a peak before t0 leaves the half-widths unpaired (None; hhfast pairs per
    # spike): then take them from the trace cut at the AHP of the last peak before t0, where
    # the two lists start together again
    cut = 0
    before = np.flatnonzero(pt < t0)
    if before.size:
        h = get(t, V, t[0], t[-1], ["min_AHP_indices"])["min_AHP_indices"]
        cut = int(h[before[-1]])
    g = get(t[cut:], V[cut:], max(t0, t[cut]), t1, ["peak_time", "AP_duration_half_width"])
    gp = np.array([]) if g["peak_time"] is None else g["peak_time"]
    out["AP_duration_half_width"] = per_peak(g["AP_duration_half_width"],
                                             (gp >= t0) & (gp <= t1))
    w = (t >= t0) & (t < t1)
    out["voltage_mean"] = V[w].mean()
    out["voltage_std"] = V[w].std()
    return out


def _edge_tol(t, V, a, b) -> float:
    """One sample more or less at an edge of the window [a, b] moves its mean by at most
    (max − min) / (n − 1) (module docstring); a sample's margin either side is included."""
    w = (t >= a - 1.5 * (t[1] - t[0])) & (t <= b + 1.5 * (t[1] - t[0]))
    n = max(int(((t >= a) & (t <= b)).sum()), 2)
    return float(V[w].max() - V[w].min()) / (n - 1) + TOL


def _agree(r, t0, t1, dt, thr=THR, tol=None) -> dict:
    """Compare every feature of every recorded neuron of ``r`` with eFEL; returns the worst
    absolute deviation per feature (both NaN: agreement; one NaN: a failure)."""
    tol = tol or {}
    worst, bad = {}, []
    for j, i in enumerate(r.recorded):
        V = r.V[j]
        ref = _efel(r.t, V, t0, t1, thr, dt)
        edge = {"voltage_base": _edge_tol(r.t, V, config.FEATURE_VB_START_PERC * t0,
                                          config.FEATURE_VB_END_PERC * t0),
                "steady_state_voltage_stimend": _edge_tol(
                    r.t, V, t1 - config.FEATURE_SS_FRACTION * (t1 - t0), t1)}
        edge["AHP_depth"] = edge["voltage_base"]  # AHP_depth_abs − voltage_base
        for name in hh.FEATURES:
            a, b = float(r.features[name].reshape(-1)[i]), ref[name]
            if np.isnan(a) and np.isnan(b):
                continue
            d = abs(a - b)
            worst[name] = max(worst.get(name, 0.0), d)
            limit = tol.get(name, edge.get(name, TOL))
            if name == "mean_frequency":
                limit = TOL * max(1.0, abs(b))
            if not d <= limit:
                bad.append(f"neuron {i}: {name} = {a!r}, eFEL {b!r} (|d| = {d:.3g} > {limit:.3g})")
    assert not bad, "\n".join(bad)
    return worst


ALL = list(hh.FEATURES)
#: the features that are means or SDs of V over a span (merged per segment, not per sample)
MOMENTS = ("voltage_base", "steady_state_voltage_stimend", "voltage_mean", "voltage_std",
           "AHP_depth")


# -- agreement with eFEL (default set: the float64 rk4 kernel with features) --------------------
def test_gist_agrees_with_efel():
    """The gist's two pulses: the first spike precedes the window (so eFEL's first-peak and
    AHP bookkeeping of a spike outside the window is exercised), the second inside it."""
    dt = 0.01
    r = hh.simulate(hh.gist(), 60.0, dt=dt, features=ALL, feature_window=(5.0, 55.0),
                    record="V")
    assert r.features["Spikecount"][0] == 1.0
    _agree(r, 5.0, 55.0, dt)


def test_fi_steps_agree_with_efel():
    """Steps across the f–I range (quiet, a single spike, the bistable band, repetitive
    firing up to depolarisation block) agree with eFEL feature by feature."""
    dt = 0.01
    amps = np.array([0.0, 3.0, 6.5, 8.0, 12.0, 25.0, 60.0, 150.0])
    r = hh.simulate(hh.step(10.0, 110.0), 120.0, dt=dt, amplitude=amps, features=ALL,
                    feature_window=(10.0, 110.0), record="V")
    counts = r.features["Spikecount"]
    assert counts[0] == 0 and counts.max() >= 8  # quiet and repetitive firing are covered
    assert np.isfinite(r.features["adaptation_index"]).sum() >= 3
    _agree(r, 10.0, 110.0, dt)


def test_features_leave_the_run_bitwise_unchanged():
    """The features term only reads the state: every other output of a run with features is
    bit for bit that of the same run without (the plain kernel keeps its machine code)."""
    kw = dict(dt=0.01, amplitude=np.array([0.0, 10.0, 40.0]), record="V")
    a = hh.simulate(hh.step(5.0, 45.0), 50.0, **kw)
    b = hh.simulate(hh.step(5.0, 45.0), 50.0, features=ALL, feature_window=(5.0, 45.0), **kw)
    assert not a.features and set(b.features) == set(ALL)
    np.testing.assert_array_equal(a.V, b.V)
    np.testing.assert_array_equal(a.spike_times.array, b.spike_times.array)
    for k in a.final_state:
        np.testing.assert_array_equal(a.final_state[k], b.final_state[k])


def test_several_windows_give_a_trailing_axis_equal_to_single_runs():
    """A list of windows: each window's features are those of a run with that window alone;
    batch shape preserved.  Spike features exactly (the same bookkeeping per window); the
    window means and SD to 1e-13 relative: their sums are kept per segment (a run of samples
    inside the same windows) and merged, and more windows cut more segments, so the merges
    round differently (a few ulp: 4e-16 relative seen)."""
    amp = np.array([[5.0, 10.0], [20.0, 40.0]])
    wins = [(5.0, 25.0), (25.0, 45.0), (5.0, 45.0)]
    r = hh.simulate(hh.step(5.0, 45.0), 50.0, amplitude=amp, features=ALL, feature_window=wins)
    for name in ALL:
        assert r.features[name].shape == (2, 2, 3)
    for w, win in enumerate(wins):
        s = hh.simulate(hh.step(5.0, 45.0), 50.0, amplitude=amp, features=ALL,
                        feature_window=win)
        for name in ALL:
            if name in MOMENTS:
                np.testing.assert_allclose(r.features[name][..., w], s.features[name],
                                           rtol=1e-13, atol=0, err_msg=f"{name} window {win}")
            else:
                np.testing.assert_array_equal(r.features[name][..., w], s.features[name],
                                              err_msg=f"{name} window {win}")


def test_window_moments_keep_their_digits_over_a_long_run():
    """The window's mean and SD are kept by segment (shifted sums, merged at the window's
    edges): against NumPy's two-pass mean and SD of the recorded samples, over 2·10^5 samples
    of runs that settle far from their initial V (a subthreshold step, depolarisation block)
    or fire throughout.  A shifted sum loses ~eps·(offset²/var)·n relative at worst (offset
    the mean's distance from the shift: < 100 mV here), so 1e-9 relative (and 1e-9 mV for an
    SD near 0) leaves three orders of magnitude."""
    amp = np.array([0.0, 2.0, 5.0, 20.0, 200.0])
    r = hh.simulate(hh.step(0.0, 2000.0), 2000.0, amplitude=amp, features=ALL,
                    feature_window=[(100.0, 2000.0), (1500.0, 1900.0)], record="V", max_spikes=0)
    for w, (t0, t1) in enumerate([(100.0, 2000.0), (1500.0, 1900.0)]):
        k = (r.t >= t0) & (r.t < t1)
        mean, sd = r.V[:, k].mean(axis=1), r.V[:, k].std(axis=1)
        np.testing.assert_allclose(r.features["voltage_mean"][:, w], mean, rtol=1e-9, atol=0)
        np.testing.assert_allclose(r.features["voltage_std"][:, w], sd, rtol=1e-9, atol=1e-9)


def test_a_plan_reruns_with_features_as_simulate():
    """``hh.plan(..., features=...).run(gNa=...)`` (a fitting loop's call) gives exactly the
    features of the ``simulate`` call with those values."""
    kw = dict(amplitude=np.array([8.0, 20.0]), features=ALL, feature_window=(5.0, 45.0))
    p = hh.plan(hh.step(5.0, 45.0), 50.0, **kw)
    gNa = np.array([100.0, 130.0])
    a = p.run(gNa=gNa)
    b = hh.simulate(hh.step(5.0, 45.0), 50.0, gNa=gNa, **kw)
    for name in ALL:
        np.testing.assert_array_equal(a.features[name], b.features[name], err_msg=name)
    assert not np.array_equal(a.features["Spikecount"], p.run().features["Spikecount"]) or \
        not np.array_equal(a.features["AP_amplitude"], p.run().features["AP_amplitude"])


def test_undefined_features_are_nan_and_the_default_window_is_the_run():
    """No spike: spike features NaN, Spikecount 0; the default window is the whole run, so
    voltage_base (a window before t0 = 0) is undefined, as in eFEL."""
    r = hh.simulate(hh.step(), 20.0, amplitude=0.0, features=ALL)
    assert r.features["Spikecount"][0] == 0.0
    for name in ("mean_frequency", "time_to_first_spike", "ISI_values", "ISI_CV",
                 "adaptation_index", "AP_amplitude", "AP_duration_half_width",
                 "AHP_depth_abs", "AHP_depth", "voltage_base"):
        assert np.isnan(r.features[name][0]), name
    assert np.isfinite(r.features["voltage_mean"][0])
    assert r.features["Spikecount"].dtype == np.float64


# -- bad input: refused before any kernel runs --------------------------------------------------
@pytest.mark.parametrize("kw, words", [
    (dict(features=["Spikecount", "spike_rate"]), ["features", "spike_rate", "Spikecount",
                                                   "voltage_base"]),
    (dict(features="AP_amplitude", feature_window=(30.0, 10.0)), ["feature_window", "t1 > t0"]),
    (dict(features=["Spikecount"], feature_window=(-1.0, 10.0)), ["feature_window", "within"]),
    (dict(features=["Spikecount"], feature_window=(0.0, 50.0)), ["feature_window", "within"]),
    (dict(features=["Spikecount"], feature_window=[(0.0, 10.0), (5.0, 60.0)]),
     ["feature_window[1]", "within"]),
    (dict(features=["Spikecount"], feature_window=(0.0, float("nan"))), ["feature_window"]),
    (dict(features=["Spikecount"], feature_window="early"), ["feature_window"]),
    (dict(feature_window=(0.0, 10.0)), ["feature_window", "features"]),
    (dict(features=[3]), ["features", "3"]),
    (dict(features=["Spikecount"], method="dopri5"), ["features", "dopri5"]),
])
def test_bad_feature_arguments_are_refused_naming_them(kw, words, no_kernel):
    with pytest.raises(InputError) as e:
        hh.simulate(hh.step(), 20.0, **kw)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


# -- the wide comparison (slow: each is another kernel variant to compile) ----------------------
@pytest.mark.slow
@pytest.mark.parametrize("method", ["euler", "expeuler"])
def test_other_methods_agree_with_efel(method):
    dt = 0.01
    r = hh.simulate(hh.step(10.0, 110.0), 120.0, dt=dt, method=method,
                    amplitude=np.array([0.0, 6.5, 12.0, 60.0]), features=ALL,
                    feature_window=(10.0, 110.0), record="V")
    _agree(r, 10.0, 110.0, dt)


@pytest.mark.slow
def test_noisy_runs_agree_with_efel():
    """White and OU current noise (fixed seed): the path is rough, so eFEL's and hhfast's
    spike rules meet jitter around the threshold and the AHP's first local minimum."""
    dt = 0.01
    r = hh.simulate(hh.step(20.0, 180.0), 200.0, dt=dt,
                    amplitude=np.array([4.0, 8.0, 15.0, 30.0, 8.0, 15.0]),
                    noise_sigma=np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0]),
                    noise_tau=np.array([0.0, 0.0, 0.0, 0.0, 2.0, 2.0]), seed=3,
                    features=ALL, feature_window=(20.0, 180.0), record="V")
    assert r.features["Spikecount"].sum() > 20
    _agree(r, 20.0, 180.0, dt)


@pytest.mark.slow
def test_channel_noise_runs_agree_with_efel():
    """Channel noise (30 µm², fixed seed).  AP_duration_half_width's fall: eFEL takes the
    sample nearest the half level up to the AP end (found from the steepest descent before
    the next peak, which a causal scan cannot know); the kernel the nearer of the two samples
    around the first downward crossing of it.  On a smooth fall they are the same sample; with
    channel noise the path can re-cross the level within its jitter, so the per-spike widths
    may differ by the span of that band: the jitter per step (≈ 1 mV here) over the fall's
    slope (≥ 20 mV/ms at the half level) is below 0.05 ms, 5 samples at dt = 0.01 ms."""
    dt = 0.01
    r = hh.simulate(hh.step(20.0, 180.0), 200.0, dt=dt, amplitude=np.array([0.0, 8.0, 15.0]),
                    channel_noise="channel", area=30.0, seed=3, features=ALL,
                    feature_window=(20.0, 180.0), record="V")
    assert r.features["Spikecount"].sum() > 10
    _agree(r, 20.0, 180.0, dt, tol={"AP_duration_half_width": 5 * dt})


def test_warmup_prepares_the_features_kernels_on_request(capsys):
    """``hh.warmup(features=True)`` (and ``hhfast warmup --features``) prepares the kernel
    with the features term of each fixed-step method named, none of an adaptive one; the
    default leaves them out; a non-bool is refused by name."""
    spent = hh.warmup(methods=["rk4", "dopri5"], dtypes=["float64"], noise=False, features=True)
    assert list(spent) == [("rk4", "float64"), ("dopri5", "float64"),
                           ("rk4 + features", "float64")]
    assert "rk4 + features" not in {k for k, _ in hh.warmup(methods=["rk4"], dtypes=["float64"],
                                                             noise=False)}
    with pytest.raises(TypeError, match="features"):
        hh.warmup(methods=["rk4"], features="yes")
    from hhfast.cli import main
    assert main(["warmup", "--method", "rk4", "--dtype", "float64", "--no-noise", "--features",
                 "--no-progress"]) == 0
    assert "rk4 + features" in capsys.readouterr().out


@pytest.mark.slow
def test_float32_kernel_gives_the_float64_features_to_its_precision():
    """The features term in the float32 kernel (its ring holds float32 samples, its sums
    stay float64): spike counts equal to float64's, every other feature within 1e-3
    relative or 1e-3 absolute (float32 trajectories drift ~1e-4 relative from float64's
    over these 220 ms: seen 8e-3 mV of AP_amplitude at 82 mV)."""
    amp = np.array([0.0, 5.0, 10.0, 20.0, 60.0])
    kw = dict(amplitude=amp, features=ALL, feature_window=(20.0, 200.0), max_spikes=0)
    a = hh.simulate(hh.step(10.0, 200.0), 220.0, **kw)
    b = hh.simulate(hh.step(10.0, 200.0), 220.0, dtype=np.float32, **kw)
    np.testing.assert_array_equal(b.features["Spikecount"], a.features["Spikecount"])
    assert a.features["Spikecount"][3] > 5
    for name in ALL:
        np.testing.assert_allclose(b.features[name], a.features[name], rtol=1e-3, atol=1e-3,
                                   err_msg=name)
