"""The kernels' rate functions (shared exponentials, one division) against hhfast.model."""

import numpy as np
import pytest
from numba import njit

from hhfast import config
from hhfast.kernels.hh import rates
from hhfast.model import HHParams
from hhfast.model import rates as model_rates


@njit(fastmath=config.FASTMATH, error_model="numpy")
def _kernel_rates(V, Vr, phi):
    out = np.empty((6, V.size), V.dtype)
    for i in range(V.size):
        r = rates(V[i], Vr, phi)
        for j in range(6):
            out[j, i] = r[j]
    return out


# u = V - V_rest over everything a neuron visits (EK - rest = -12 mV, spikes peak near
# +105 mV) and well beyond, plus the removable singularities u = 10 (alpha_n) and u = 25
# (alpha_m) exactly, next to them, and on both sides of the kernels' series cut-offs
# (|z| = 0.1 in float64: u = 10 +- 1, 25 +- 1; 0.5 in float32: u = 10 +- 5).
SPECIAL = np.array([10.0, 25.0, 10.0 + 1e-12, 25.0 - 1e-12, 10.0 + 1e-6, 25.0 - 1e-6,
                    9.0, 9.0 + 1e-9, 11.0, 11.0 - 1e-9, 24.0, 26.0, 24.0 + 1e-9, 26.0 - 1e-9,
                    5.0, 5.0 + 1e-6, 15.0, 15.0 - 1e-6, 20.0, 30.0, 20.0 + 1e-6, 30.0 - 1e-6])
U = np.concatenate([np.linspace(-100.0, 200.0, 30_001), SPECIAL])


@pytest.mark.parametrize("params", [HHParams.classic(), HHParams.modern(temperature=18.5)],
                         ids=["classic", "modern-18.5C"])
def test_float64_rates_match_model(params):
    V = U + params.V_rest
    got = _kernel_rates(V, params.V_rest, params.phi)
    want = np.array(model_rates(V, params))
    assert np.all(np.isfinite(got))
    # Tolerance 1e-13 relative: e^(-u/10) is the 8th power of e^(-u/80) (<= ~8 ulp, 2e-15),
    # and z/(e^z - 1) by the direct formula loses ~8 eps/|z| <= 2e-14 at the kernels'
    # series cut-off |z| = 0.1 (the model uses expm1 and has no such loss).
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_removable_singularities_exact():
    # at u = 10 and u = 25 the series gives the limits 0.1 and 1 exactly, as the model does
    got = _kernel_rates(np.array([10.0, 25.0]), 0.0, 1.0)
    assert got[0, 0] == 0.1 and got[2, 1] == 1.0
    # and the other rates sharing the product of denominators stay accurate there
    want = np.array(model_rates(np.array([10.0, 25.0])))
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_float32_rates_match_model():
    V = U.astype(np.float32)
    got = _kernel_rates(V, np.float32(0.0), np.float32(1.0))
    assert got.dtype == np.float32 and np.all(np.isfinite(got))
    want = np.array(model_rates(V.astype(np.float64)))
    # single precision: eps = 6e-8; e^(-u/10) as a power of e^(-u/80) ~8 ulp (5e-7); the
    # direct z/(e^z-1) loses ~8 eps/|z| = 1e-6 at the float32 cut-off |z| = 0.5; the
    # arithmetic around it adds a few eps.  1e-5 leaves a margin of ~5.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
