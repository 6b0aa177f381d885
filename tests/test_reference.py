"""The scipy reference (hhfast.reference.solve) and the error metrics (compare).

The reference is checked against a second, unrelated scipy method (LSODA: multistep
Adams/BDF, against DOP853's explicit Runge–Kutta) and against a closed form (the passive
membrane); compare() is checked against closed-form errors and against deliberately mismatched
pairs.  The issue-2 tests (simulate against the reference at dt = 0.01) live in
tests/test_simulate*.py and are not repeated here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import hhfast as hh
from hhfast import reference as R
from hhfast.model import HHParams

GIST = hh.pulses([(0, 1, 150), (10, 11, 50)])


@pytest.fixture(scope="module")
def gist_refs():
    """The gist protocol solved by two unrelated scipy methods."""
    dop = R.solve(GIST, 50)  # the default: DOP853, rtol = atol = 1e-10
    lsoda = R.solve(GIST, 50, method="LSODA", rtol=1e-12, atol=1e-12)
    return dop, lsoda


def test_reference_agrees_with_a_second_scipy_method(gist_refs):
    dop, lsoda = gist_refs
    assert dop.spike_count[0] == lsoda.spike_count[0] == 2
    # Measured: 4e-12 ms.  1e-9 ms is 10x below the smallest error the convergence tests
    # resolve (RK4 at dt = 0.005 ms: 9e-10 ms) and 1e6x below the 1e-3 ms finest
    # work-precision target, so the reference's own error never limits those claims.
    np.testing.assert_allclose(dop.spike_times[0], lsoda.spike_times[0], rtol=0, atol=1e-9)
    # The traces, sampled every 0.01 ms through the spikes (|dV/dt| up to ~500 mV/ms).
    # Measured max |dV| 3e-7 mV; 1e-5 mV is 30x below RK4's dt = 0.01 trace error here
    # (3e-4 mV, on the upstroke) and far below the 1 mV default of `hhfast validate`.
    dV = np.max(np.abs(dop.V[0] - lsoda.V[0]))
    assert dV < 1e-5


def test_reference_matches_the_passive_membrane_closed_form():
    # gNa = gK = 0: C dV/dt = I - gL (V - EL), so V(t) = Vinf + (V0 - Vinf) exp(-t gL / C).
    p = HHParams.classic(gNa=0.0, gK=0.0)
    I = 2.0
    ref = R.solve(hh.step(), 20, p, amplitude=I)
    vinf = p.EL + I / p.gL
    exact = vinf + (0.0 - vinf) * np.exp(-ref.t * p.gL / p.Cm)
    # Measured 4e-10 mV (rtol = atol = 1e-10 on V ~ 17 mV); 1e-7 mV is a wide margin that a
    # wrong current, sign or time origin (errors >= 1e-2 mV) cannot meet.
    np.testing.assert_allclose(ref.V[0], exact, rtol=0, atol=1e-7)


def test_compare_max_dV_equals_the_closed_form_error_of_euler():
    # On the passive membrane forward Euler is V_k = Vinf + (V0 - Vinf) (1 - dt gL/C)^k exactly,
    # so the error compare() must report is known in closed form.
    p = HHParams.classic(gNa=0.0, gK=0.0)
    I, dt = 2.0, 0.1
    res = hh.simulate(hh.step(), 20, dt=dt, method="euler", params=p, amplitude=I, record="V")
    ref = R.solve(hh.step(), 20, p, amplitude=I)
    c = R.compare(res, ref)
    vinf = p.EL + I / p.gL
    k = np.arange(res.t.size)
    expected = np.max(np.abs(-vinf * ((1 - dt * p.gL / p.Cm) ** k - np.exp(-p.gL * k * dt / p.Cm))))
    # expected ~0.1 mV; the reference is good to 1e-7 mV (previous test), so 1e-6 relative.
    assert c.max_dV[0] == pytest.approx(expected, rel=1e-6)
    assert c.count_match.all() and c.spike_error[0] == 0.0  # no spikes on either side


def test_compare_reports_a_count_mismatch_as_such(gist_refs):
    dop, _ = gist_refs
    one_pulse = R.solve(hh.pulses([(0, 1, 150)]), 50)
    res = hh.simulate(GIST, 50, dt=0.01, method="rk4")
    c = R.compare(res, one_pulse)
    assert c.count[0] == 2 and c.count_ref[0] == 1
    assert c.extra[0] == 1 and c.missing[0] == 0 and not c.count_match[0]
    # the mismatch is never averaged into a finite time error
    assert c.spike_error[0] == math.inf and c.worst_spike_error == math.inf
    assert c.summary()["count_mismatch"] == 1
    # ... while the spike both fired is still reported: RK4 at dt = 0.01 puts the first spike
    # within 2e-8 ms of the reference (measured 1.7e-8); 1e-6 ms allows for kernel rewrites.
    assert c.spike_errors[0].size == 1 and abs(c.spike_errors[0][0]) < 1e-6
    # the other way round the spike is missing
    res1 = hh.simulate(hh.pulses([(0, 1, 150)]), 50, dt=0.01, method="rk4")
    c1 = R.compare(res1, dop)
    assert c1.missing[0] == 1 and c1.extra[0] == 0 and c1.worst_spike_error == math.inf


def test_compare_on_a_subset_of_a_batch_maps_neurons():
    amps = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
    res = hh.simulate(hh.step(), 30, dt=0.01, method="rk4", amplitude=amps)
    ref = R.solve(hh.step(), 30, amplitude=amps[[1, 3]])
    c = R.compare(res, ref, neurons=[1, 3])
    assert c.count_match.all() and (c.count_ref > 0).all()
    # RK4 at dt = 0.01 on 30 ms of firing: measured 7e-8 ms; 1e-5 ms leaves room for kernel
    # rewrites while a wrong neuron (5 vs 15 µA/cm²: spikes ms apart) fails by far.
    assert c.worst_spike_error < 1e-5
    # pairing the wrong neurons is refused, naming the value that differs
    with pytest.raises(ValueError, match="amplitude=15.0"):
        R.compare(res, ref, neurons=[3, 1])


def test_reference_window_statistics_match_the_kernels():
    # The reference computes them from its full spike list, the kernels on the fly in O(1)
    # memory: two independent implementations of the same definition.
    kw = dict(amplitude=10.0, window=(50.0, 200.0))
    ref = R.solve(hh.step(), 200, **kw)
    res = hh.simulate(hh.step(), 200, dt=0.01, method="rk4", **kw)
    assert ref.window == res.window
    assert ref.window_count[0] == res.window_count[0] >= 8
    # measured: first/last spike 1.4e-7 / 3.7e-7 ms apart, ISI sum of squares 3.5e-9
    # relative; 1e-5 ms / 1e-5 relative are margins for kernel rewrites
    np.testing.assert_allclose(ref.window_first, res.window_first, atol=1e-5)
    np.testing.assert_allclose(ref.window_last, res.window_last, atol=1e-5)
    np.testing.assert_allclose(ref.window_isi_sumsq, res.window_isi_sumsq, rtol=1e-5)
    np.testing.assert_allclose(ref.count_rate(), res.count_rate())


def test_compare_rejects_bad_input(gist_refs):
    dop, _ = gist_refs
    res = hh.simulate(GIST, 50, dt=0.01, amplitude=[1.0, 1.0])
    with pytest.raises(TypeError, match="reference"):
        R.compare(res, res)
    with pytest.raises(ValueError, match="neurons"):
        R.compare(res, dop)
    with pytest.raises(ValueError, match="out of range"):
        R.compare(res, dop, neurons=[5])
    with pytest.raises(ValueError, match="window"):
        R.solve(GIST, 50, window=(10, 5))
    with pytest.raises(TypeError, match="neurons"):
        R.compare(res, dop, neurons=[0.5])
    for bad in [(math.nan, 5.0), (10.0, 5.0), (100.0, 200.0)]:
        with pytest.raises(ValueError, match="t_range"):
            R.compare(res, dop, neurons=[0], t_range=bad)
    with pytest.raises(TypeError, match="t_range"):
        R.compare(res, dop, neurons=[0], t_range=5)
    # negative indices count from the end, as in simulate(neurons=...)
    assert R.compare(res, dop, neurons=[-1]).neurons.tolist() == [1]


# -- issue 10 item 2: the reference never returns uninitialised memory --------------------------
def test_samples_never_lie_past_the_run():
    # 21 / 0.07 is 300.00000000000006 in floating point: sample 300 used to land at
    # 21.000000000000004 ms, just past the solved span, and was read from np.empty.
    ref = R.solve(hh.step(), 21.0, amplitude=10.0, record_dt=0.07)
    assert ref.t.size == 301 and ref.t[0] == 0.0 and ref.t[-1] == 21.0
    # The last sample is the state at t_stop: the solver's own end point (final_state) is an
    # independent value of it.  Dense output and end point agree to rounding (measured 0);
    # 1e-9 mV leaves rounding room while uninitialised memory (e.g. 5.9e228) fails by far.
    for s in "Vnmh":
        assert abs(getattr(ref, s)[0, -1] - ref.final_state[s][0]) < 1e-9
    # record_dt that does not divide the run: the last sample is the last grid point before
    # t_stop, never one past it
    ref = R.solve(hh.step(), 1.0, amplitude=10.0, record_dt=0.6)
    assert ref.t.tolist() == [0.0, 0.6]
    assert all(np.isfinite(getattr(ref, s)).all() for s in "Vnmh")


def test_dense_state_refuses_times_outside_the_solved_span():
    ref = R.solve(hh.step(), 5.0, record_dt=5.0)
    with pytest.raises(ValueError, match="outside"):
        R.dense_state(ref.info["dense"][0], [7.0])
    with pytest.raises(ValueError, match="outside"):
        R.dense_state(ref.info["dense"][0], [math.nan])
    with pytest.raises(TypeError, match="pieces"):
        R.dense_state([], [1.0])
    with pytest.raises(TypeError, match="t must be"):
        R.dense_state(ref.info["dense"][0], "a")
    # a rounding error past the end is the end
    at_end = R.dense_state(ref.info["dense"][0], [5.0 * (1 + 1e-15)])[:, 0]
    np.testing.assert_array_equal(at_end, [ref.final_state[s][0] for s in "Vnmh"])


def test_compare_aligns_on_the_runs_actual_times():
    # The run's grid ends at 0.07 * 300 = 21.000000000000004 ms, a rounding past the reference's
    # end: its last sample used to be compared with uninitialised memory (a 5.0 mV "error"
    # where the truth is 1.93).  The truth here: a second reference sampled on the very same
    # grid (same float expression t0 + k * dt), solved a step further so that every sample
    # lies inside it.
    res = hh.simulate(hh.step(), 21.0, dt=0.07, method="rk4", amplitude=10.0, record="V")
    ref = R.solve(hh.step(), 21.0, amplitude=10.0)
    cover = R.solve(hh.step(), 21.07, amplitude=10.0, record_dt=0.07)
    np.testing.assert_array_equal(cover.t[: res.t.size], res.t)
    truth = np.max(np.abs(res.V[0] - cover.V[0][: res.t.size]))
    c = R.compare(res, ref)
    # The two references differ by their own error (1e-10 tolerances: ~1e-7 mV measured on the
    # gist) and by V's change over 4e-15 ms; 1e-5 mV is far below the error (0.80 mV here).
    assert c.max_dV[0] == pytest.approx(truth, abs=1e-5)
    assert c.t_end == 21.0


def test_compare_counts_spikes_over_the_span_both_runs_cover():
    ref = R.solve(hh.step(), 21.0, amplitude=10.0)
    assert ref.spike_count[0] >= 2
    # a run shorter than the reference: the reference's later spikes are not "missing"
    short = hh.simulate(hh.step(), 12.0, dt=0.01, method="rk4", amplitude=10.0)
    c = R.compare(short, ref)
    assert c.t_end == 12.0
    n = int(np.sum(ref.spike_times[0] < 12.0))
    assert 0 < n < ref.spike_count[0]  # the span cuts the reference's spikes
    assert c.count[0] == c.count_ref[0] == n and c.count_match.all()
    # RK4 at dt = 0.01: spike times within 1e-7 ms (measured); 1e-5 ms is a kernel-rewrite margin
    assert c.worst_spike_error < 1e-5
    # a run longer than the reference: its spikes after the reference's end are not "extra"
    long = hh.simulate(hh.step(), 40.0, dt=0.01, method="rk4", amplitude=10.0, record="V")
    assert long.spike_count[0] > ref.spike_count[0]
    c = R.compare(long, ref)
    assert c.t_end == 21.0 and c.count_match.all() and c.worst_spike_error < 1e-5
    # RK4's trace error at dt = 0.01 is ~1e-3 mV through spikes; the samples after 21 ms are
    # not compared (they would raise: the reference does not cover them)
    assert c.max_dV[0] < 0.01


def test_a_continued_run_compares_with_a_continued_reference():
    first = hh.simulate(hh.step(), 20.0, dt=0.01, amplitude=10.0)
    cont = hh.simulate(hh.step(), 50.0, dt=0.01, amplitude=10.0, record="V", **first.continuation())
    ref_first = R.solve(hh.step(), 20.0, amplitude=10.0)
    ref = R.solve(hh.step(), 50.0, amplitude=10.0, t_start=20.0,
                  **{f"{k}0": v for k, v in ref_first.final_state.items()})
    assert ref.t[0] == 20.0 and ref.t[-1] == 50.0
    c = R.compare(cont, ref)
    assert c.count_match.all() and c.count_ref[0] >= 2
    # the continued run starts from RK4's state, off the reference's by RK4's error after 20 ms;
    # measured 7e-8 ms / 4e-5 mV over 20-40 ms; 1e-5 ms / 0.01 mV are kernel-rewrite margins
    assert c.worst_spike_error < 1e-5 and c.max_dV[0] < 0.01


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(stimulus=None), TypeError, "stimulus"),
    (dict(stimulus="step"), TypeError, "stimulus"),
    (dict(t_stop=math.nan), ValueError, "t_stop"),
    (dict(t_stop=math.inf), ValueError, "t_stop"),
    (dict(t_stop=-1.0), ValueError, "t_stop"),
    (dict(t_stop="50"), TypeError, "t_stop"),
    (dict(t_stop=0.0), ValueError, "t_stop"),
    (dict(t_start=math.nan), ValueError, "t_start"),
    (dict(amplitude=math.nan), ValueError, "amplitude"),  # used to hang the solver
    (dict(amplitude=math.inf), ValueError, "amplitude"),
    (dict(amplitude="a"), TypeError, "amplitude"),
    (dict(amplitude=True), TypeError, "amplitude"),
    (dict(gK=-1.0), ValueError, "gK"),  # used to be accepted
    (dict(Cm=0.0), ValueError, "Cm"),
    (dict(n0=2.0), ValueError, "n0"),
    (dict(V0=math.nan), ValueError, "V0"),
    (dict(threshold=math.nan), ValueError, "threshold"),
    (dict(params="classic"), TypeError, "params"),
    (dict(params=HHParams(gK=-3.0)), ValueError, "gK"),
    (dict(rtol=-1.0), ValueError, "rtol"),
    (dict(rtol=math.nan), ValueError, "rtol"),
    (dict(atol="x"), TypeError, "atol"),
    (dict(method="heun"), ValueError, "method"),
    (dict(record_dt=0.0), ValueError, "record_dt"),
    (dict(record_dt=math.nan), ValueError, "record_dt"),
    (dict(max_spikes=-1), ValueError, "max_spikes"),
    (dict(max_spikes=2.5), TypeError, "max_spikes"),
    (dict(window=5), TypeError, "window"),
    (dict(amplitude=[1.0, 2.0], gK=[1.0, 2.0, 3.0]), ValueError, "broadcast"),
    (dict(amplitude=[]), ValueError, "empty"),
    (dict(gk=30.0), TypeError, "gk"),
    (dict(t_stop=1e9), ValueError, "record_dt"),  # 1e11 samples: refused, not allocated
    (dict(max_spikes=10**15), ValueError, "max_spikes"),
])
def test_reference_refuses_bad_input_by_name(kwargs, exc, match):
    args = dict(stimulus=hh.step(), t_stop=10.0) | kwargs
    with pytest.raises(exc, match=match):
        R.solve(args.pop("stimulus"), args.pop("t_stop"), **args)


# -- issue 10 item 4: analysis windows lie within the run --------------------------------------
@pytest.mark.parametrize("window", [(100.0, 200.0), (-10.0, 20.0), (10.0, 60.0), (50.0, 60.0)])
def test_a_window_outside_the_run_is_refused(window):
    with pytest.raises(ValueError, match="within the run"):
        R.solve(hh.step(), 50.0, window=window)


def test_windows_inside_the_run_are_accepted():
    for window, expected in [((10.0, 50.0), (10.0, 50.0)), ((0.0, math.inf), (0.0, 50.0))]:
        assert R.solve(hh.step(), 50.0, window=window, record_dt=50.0).window == expected
    # a continuation's window starts at its own t_start
    ref = R.solve(hh.step(), 50.0, t_start=20.0, window=(20.0, 30.0), record_dt=30.0)
    assert ref.window == (20.0, 30.0)
    with pytest.raises(ValueError, match="within the run"):
        R.solve(hh.step(), 50.0, t_start=20.0, window=(0.0, 30.0))


# -- issue 11 item 5: reference holds the solver, accuracy the studies --------------------------
def test_accuracy_names_stay_reachable_from_reference():
    from hhfast import accuracy

    for name in ("compare", "Comparison", "convergence", "Convergence", "observed_order",
                 "stability_limit", "StabilityLimit"):
        assert getattr(R, name) is getattr(accuracy, name)
    for name in ("validate", "work_precision", "cheapest", "validation_cases", "DEFAULT_WP_DTS",
                 "WP_TARGETS"):
        assert hasattr(accuracy, name)
    with pytest.raises(AttributeError, match="no_such_name"):
        R.no_such_name  # noqa: B018


def test_the_solver_does_not_import_the_accuracy_layer():
    # accuracy imports reference at load time, so reference may only import accuracy on use
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(R))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    assert names and not any("accuracy" in m for m in names)


def test_more_spikes_than_max_spikes_warns_as_simulate_does():
    """The reference keeps the first max_spikes times like simulate, and says so like simulate
    (a TruncationWarning pointing at the caller); the count is independent of the cap."""
    import warnings

    amp = np.array([0.0, 10.0])  # at 10 µA/cm² the classic neuron fires repetitively
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = R.solve(hh.step(), 50.0, amplitude=amp, max_spikes=1)
    ours = [w for w in caught if issubclass(w.category, hh.TruncationWarning)]
    most = int(ref.spike_count.max())
    assert most > 1  # several spikes, so one time was dropped at least
    assert len(ours) == 1 and "1 of 2 neurons" in str(ours[0].message)
    assert ours[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", hh.TruncationWarning)
        full = R.solve(hh.step(), 50.0, amplitude=amp, max_spikes=most)
    assert np.array_equal(full.spike_times[1][:1], ref.spike_times[1])


def test_the_deterministic_reference_refuses_noise_instead_of_ignoring_it():
    # noise values are per-neuron keywords of simulate; a reference that accepted and ignored
    # them would silently compare a noisy run with a noiseless solve
    for kw in (dict(noise_sigma=1.0), dict(noise_tau=2.0), dict(noise_I0=0.5)):
        with pytest.raises(TypeError, match="no noise"):
            R.solve(GIST, 10.0, **kw)
