"""Rheobase by batched bisection against direct bisection with the scipy reference."""

import numpy as np
import pytest

import hhfast as hh
from hhfast import reference
from hhfast.excitability import batched_bisection

REF = dict(rtol=1e-8, atol=1e-8, record_dt=1.0)


def ref_spikes(stim, amp, t_stop, **kw):
    return reference.solve(stim, t_stop, amplitude=amp, **REF, **kw).spike_count[0] > 0


def test_rheobase_1ms_pulse_against_reference_bisection():
    stim = hh.pulses([(0.0, 1.0, 1.0)])
    rb = hh.rheobase(stim, lo=0.0, hi=50.0, tol=1e-3)
    # direct bisection with the reference, neuron by neuron, to 0.01 µA/cm²
    lo, hi = 0.0, 50.0
    while hi - lo > 1e-2:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if ref_spikes(stim, mid, 51.0) else (mid, hi)
    # hhfast (tol 1e-3) must land in the reference bracket widened by its own tolerance;
    # RK4 at dt = 0.01 moves the threshold by far less (V error ~1e-7 mV)
    assert lo - 1e-3 <= rb[0] <= hi + 1e-3


def test_strength_duration_against_reference():
    widths = np.array([0.2, 0.5, 2.0, 5.0])
    rb = hh.rheobase([hh.pulses([(0.0, w, 1.0)]) for w in widths], lo=0.0, hi=500.0, tol=1e-3)
    # classic strength–duration shape: threshold falls with the width
    assert np.all(np.diff(rb) < 0)
    # reference: no spike 0.01 below, a spike at the value found (which is within 1e-3 above
    # the true threshold)
    for w, r in zip(widths[[0, 3]], rb[[0, 3]], strict=True):
        stim = hh.pulses([(0.0, w, 1.0)])
        assert ref_spikes(stim, r + 1e-3, w + 50.0)
        assert not ref_spikes(stim, r - 1e-2, w + 50.0)


def test_rheobase_against_gk_and_nan_outside_bracket():
    stim = hh.pulses([(0.0, 1.0, 1.0)])
    gK = np.array([30.0, 36.0, 42.0])
    rb = hh.rheobase(stim, gK=gK, lo=0.0, hi=50.0, tol=1e-3)
    assert rb.shape == (3,) and np.all(np.diff(rb) > 0)  # more K current, harder to excite
    r = rb[2]
    assert ref_spikes(stim, r + 1e-3, 51.0, gK=42.0)
    assert not ref_spikes(stim, r - 1e-2, 51.0, gK=42.0)
    # the bracket [0, 1] does not contain the threshold: NaN, not a wrong number
    assert np.isnan(hh.rheobase(stim, lo=0.0, hi=1.0)).all()


def test_batched_bisection_brackets_each_switch():
    switch = np.array([0.123, 0.5, 0.987654])
    calls = []

    def pred(idx, x):
        calls.append(x.shape)
        return x >= switch[idx, None]

    lo, hi = batched_bisection(pred, np.zeros(3), np.ones(3), 1e-6, points=7)
    assert np.all(hi - lo <= 1e-6) and np.all((lo < switch) & (switch <= hi))
    # 8-fold per round: ceil(log(1e6)/log(8)) = 7 rounds, each one call for all brackets
    assert len(calls) == 7 and calls[0] == (3, 7)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(lo=5.0, hi=1.0), ValueError, "hi > lo"),
        (dict(tol=0.0), ValueError, "tol"),
        (dict(amplitude=2.0), TypeError, "amplitude"),
        (dict(gK=np.ones(3), bias=np.ones(2)), ValueError, "broadcast"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hh.rheobase(hh.pulses([(0.0, 1.0, 1.0)]), **kwargs)
