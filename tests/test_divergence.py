"""A blow-up is flagged per neuron and frozen; the rest of the batch runs on unaffected.

The kernels are compiled with config.FASTMATH; these tests fail if that set ever gains the
no-NaN/no-Inf flags that would let LLVM delete the finiteness checks."""

import numpy as np

import hhfast as hh
from hhfast import config


def test_fastmath_set_keeps_nan_and_inf():
    assert "nnan" not in config.FASTMATH and "ninf" not in config.FASTMATH
    assert config.FASTMATH is not True


def test_euler_blow_up_is_flagged_frozen_and_isolated():
    # Euler at dt = 0.2 ms is far above its stability limit (~0.07-0.09 ms for a 10 µA/cm² step);
    # at rest (amplitude 0) the fastest eigenvalue (~1/0.24 ms) keeps it stable.
    amp = np.array([0.0, 10.0, 0.0, 10.0])
    res = hh.simulate(hh.step(), 100.0, dt=0.2, method="euler", amplitude=amp, record="V")
    np.testing.assert_array_equal(res.diverged, [False, True, False, True])
    assert np.all(np.isfinite(res.diverged_time[[1, 3]]))
    assert np.all(np.isnan(res.diverged_time[[0, 2]]))
    for v in "Vnmh":  # frozen at the last finite state
        assert np.all(np.isfinite(res.final_state[v]))
    # after the freeze the recorded trace stays at the frozen value
    k = int(round(res.diverged_time[1] / 0.2))
    assert np.all(res.V[1][k:] == res.final_state["V"][1])
    # the healthy neurons are bitwise what they are alone
    alone = hh.simulate(hh.step(), 100.0, dt=0.2, method="euler", amplitude=0.0, record="V")
    np.testing.assert_array_equal(res.V[0], alone.V[0])
    np.testing.assert_array_equal(res.V[2], alone.V[0])


def test_rk4_blow_up_flagged_and_expeuler_stays_finite():
    res = hh.simulate(hh.step(), 50.0, dt=0.25, method="rk4", amplitude=10.0)
    assert res.diverged[0]
    ok = hh.simulate(hh.step(), 50.0, dt=0.25, method="expeuler", amplitude=10.0)
    assert not ok.diverged[0] and ok.spike_count[0] > 0
