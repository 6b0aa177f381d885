"""The vectorisable exponential of the kernels (hhfast.kernels.fastexp) against libm."""

import math

import numpy as np
import pytest
from numba import njit

from hhfast import config
from hhfast.kernels.fastexp import vexp, vexp_below


@njit(fastmath=config.FASTMATH, error_model="numpy")
def _vexp_array(x):
    # compiled with the kernels' flags, in a loop LLVM vectorises: the code path they run
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = vexp(x[i])
    return out


@njit(fastmath=config.FASTMATH, error_model="numpy")
def _vexp_below_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = vexp_below(x[i])
    return out


def _ulp_error(got, exact, dtype):
    """|got - exact| in units of the spacing of ``dtype`` at the exact value."""
    return np.abs(got.astype(np.float64) - exact) / np.spacing(exact.astype(dtype)).astype(
        np.float64)


# The range the model uses: the rates need e^(-u/80) and e^(-u/18) for depolarisations u far
# beyond anything a non-diverging neuron reaches (|u| < 250 mV -> |x| < 14); exponential
# Euler needs e^(-dt * rate) for dt up to ~1 ms (x down to about -100).  We test [-100, 100].
X64 = np.concatenate([np.linspace(-100.0, 100.0, 400_001),
                      np.random.default_rng(1).uniform(-100.0, 100.0, 100_000)])


def test_float64_within_4_ulp_of_math_exp():
    # Spec (issue 4): <= 4 ulp.  Measured: max 3.0 ulp, the same over [-15, 15] (degree-10
    # near-minimax polynomial after a Cody-Waite reduction: its own relative error is 3.3e-16,
    # 1.5 ulp, the rest is rounding in Horner's rule and the final scaling; a degree-11 one
    # gave 1.0 ulp and cost ~5% of the rk4 throughput).
    got = _vexp_array(X64)
    exact = np.array([math.exp(v) for v in X64[::50]])
    assert _ulp_error(got[::50], exact, np.float64).max() <= 4.0
    # the full grid against numpy's exp (itself <= 1 ulp from exact)
    assert _ulp_error(got, np.exp(X64), np.float64).max() <= 4.0


def test_float32_within_2_ulp_of_exact():
    # float32 path (degree-6 polynomial): measured max 1.08 ulp of float32 against exp
    # evaluated in float64 (exact to ~1e-16, far below float32's 6e-8 spacing).
    x = np.linspace(-80.0, 80.0, 200_001).astype(np.float32)
    got = _vexp_array(x)
    assert got.dtype == np.float32
    assert _ulp_error(got, np.exp(x.astype(np.float64)), np.float32).max() <= 2.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nonpositive_variant_same_values(dtype):
    # exponential Euler's decay factors use the variant without overflow tests: same results
    x = np.linspace(-100.0, 0.0, 100_001).astype(dtype)
    assert _vexp_below_array(x).tobytes() == _vexp_array(x).tobytes()
    assert np.isnan(_vexp_below_array(np.array([np.nan], dtype=dtype))[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_keep_divergence_visible(dtype):
    # NaN must propagate and overflow must give inf, or a blown-up neuron would look finite
    x = np.array([np.nan, np.inf, 1e4, -1e4, -np.inf, 0.0], dtype=dtype)
    got = _vexp_array(x)
    assert np.isnan(got[0])
    assert got[1] == np.inf and got[2] == np.inf
    assert 0.0 <= got[3] < 1e-37 and 0.0 <= got[4] < 1e-37  # clamped to a tiny normal number
    assert got[5] == 1.0
