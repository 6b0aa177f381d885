"""Stimulus protocols: values, edges, sums, specs, errors, and the kernels' edge rule."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hhfast as hh
from hhfast.stimulus import Stimulus


def test_gist_pulses_right_continuous():
    s = hh.pulses([(0, 1, 150), (10, 11, 50)])
    np.testing.assert_array_equal(s([-1, 0, 0.5, 1, 5, 10, 10.5, 11, 20]),
                                  [0, 150, 150, 0, 0, 50, 50, 0, 0])
    np.testing.assert_array_equal(s.left([0, 1, 10, 11]), [0, 150, 0, 50])
    np.testing.assert_array_equal(s.edges, [0, 1, 10, 11])


def test_step_train_ramp_waveform():
    assert hh.step()(1e9) == 1.0 and hh.step(start=5)(4.999) == 0.0
    tr = hh.pulse_train(start=2, width=1, period=5, count=3, amplitude=2)
    on = (tr(np.arange(0, 20, 0.01)) > 0).astype(int)
    assert np.count_nonzero(np.diff(on) == 1) == 3 and tr(2.5) == 2 and tr(12.99) == 2
    r = hh.ramp(10, 20, begin=1, end=3)
    np.testing.assert_allclose(r([10, 15, 19.999999, 20]), [1, 2, 3, 0], atol=1e-6)
    assert hh.ramp(10, 20, begin=1, end=3, hold=True)(1e6) == 3
    tt = np.array([0.0, 1.0, 4.0, 5.0])
    vv = np.array([0.0, 2.0, -1.0, 3.0])
    w = hh.waveform(tt, vv)
    x = np.linspace(0, 4.999, 777)
    np.testing.assert_allclose(w(x), np.interp(x, tt, vv), atol=1e-12)
    assert w(5.0) == 0.0 and w(-0.1) == 0.0


pulse = st.tuples(
    st.floats(0, 50, allow_nan=False), st.floats(0.01, 20), st.floats(-100, 100)
).map(lambda p: (p[0], p[0] + p[1], p[2]))


@given(st.lists(pulse, min_size=1, max_size=4), st.lists(pulse, min_size=1, max_size=4),
       st.floats(-3, 3))
def test_sum_and_scale_are_pointwise(a, b, k):
    sa, sb = hh.pulses(a), hh.pulses(b)
    t = np.linspace(-1, 80, 501)
    np.testing.assert_allclose((sa + sb)(t), sa(t) + sb(t), atol=1e-9)
    np.testing.assert_allclose((k * sa)(t), k * sa(t), atol=1e-9)


def test_spec_round_trip():
    s = hh.pulses([(0, 1, 150), (10, 11, 50)]) + hh.ramp(2, 8, 0, 5)
    assert Stimulus.from_spec(s.to_spec()) == s
    assert Stimulus.from_spec({"type": "step", "start": 1, "amplitude": 3}) == hh.step(1, math.inf, 3)
    with pytest.raises(ValueError, match="unknown"):
        Stimulus.from_spec({"type": "sine"})
    with pytest.raises(ValueError, match="pulses"):
        Stimulus.from_spec({"type": "pulses"})


@pytest.mark.parametrize("make, match", [
    (lambda: hh.pulses([(1, 1, 5)]), "stop"),
    (lambda: hh.pulses([(float("nan"), 1, 5)]), "start"),
    (lambda: hh.pulses([(0, 1, float("inf"))]), "amplitude"),
    (lambda: hh.pulses([(0, 1)]), r"pulses\[0\]"),
    (lambda: hh.ramp(5, 5), "stop"),
    (lambda: hh.waveform([0, 0], [1, 2]), "increasing"),
    (lambda: hh.waveform([0, 1], [1, float("nan")]), "finite"),
    (lambda: hh.pulse_train(width=0), "width"),
])
def test_bad_stimuli(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- the kernels' edge rule, on a closed form: a pure capacitor (all g = 0) integrates charge --
CAP = dict(gNa=0.0, gK=0.0, gL=0.0)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_edge_inside_a_step_delivers_exact_charge(method):
    # dV/dt = I/Cm: V(T) = V0 + charge/Cm exactly. Edges at 0.0037 and 1.2371 ms fall inside steps
    # of 0.01 ms; the step-mean rule makes the delivered charge 10 * 1.2334 exact to rounding.
    # (expeuler needs g_tot > 0: it is tested on a leak membrane below.)
    s = hh.pulses([(0.0037, 1.2371, 10.0)])
    res = hh.simulate(s, t_stop=2.0, dt=0.01, method=method, Cm=2.0, **CAP)
    assert not res.diverged[0]
    assert res.final_state["V"][0] == pytest.approx(10.0 * 1.2334 / 2.0, abs=1e-10)


def test_rk4_is_exact_for_a_ramp_on_a_capacitor():
    # V is quadratic in t for a linear current: RK4 (exact for cubics) reproduces it
    s = hh.ramp(0.0, 3.0, begin=0.0, end=6.0, hold=True)
    res = hh.simulate(s, t_stop=5.0, dt=0.05, method="rk4", record="V", **CAP)
    t = res.t
    exact = np.where(t < 3, t**2, 9.0 + 6.0 * (t - 3))
    np.testing.assert_allclose(res.V[0], exact, atol=1e-10)


def test_expeuler_is_exact_for_a_leak_membrane():
    # gNa = gK = 0: dV/dt = (I - gL (V - EL))/Cm is linear with constant coefficients, so
    # exponential Euler advances it exactly: V = Vinf + (V0 - Vinf) exp(-gL t / Cm).
    gL, EL, Cm, I, V0 = 0.3, 10.613, 1.5, 7.0, -20.0
    res = hh.simulate(hh.step(0.0, math.inf, I), t_stop=40.0, dt=0.37, method="expeuler",
                      record="V", gNa=0.0, gK=0.0, gL=gL, Cm=Cm, V0=V0)
    vinf = EL + I / gL
    exact = vinf + (V0 - vinf) * np.exp(-gL * res.t / Cm)
    np.testing.assert_allclose(res.V[0], exact, rtol=1e-12, atol=1e-11)


def test_gist_is_the_two_pulse_protocol_of_the_gist():
    # spelled out here independently: 150 µA/cm² for 0<t<1 ms, 50 for 10<t<11 ms
    assert hh.gist() == hh.pulses([(0, 1, 150), (10, 11, 50)])
    t = np.array([0.5, 5.0, 10.5, 20.0])
    np.testing.assert_array_equal(hh.gist()(t), [150.0, 0.0, 50.0, 0.0])
