"""Validation of ``simulate(channel_noise=...)`` (:mod:`hhfast.kernels.channel`).

1. Stationary statistics under a voltage clamp against closed forms: the binomial /
   multinomial occupancies (``hhfast.model.occupancy``) and the exact stationary covariance of
   the Euler–Maruyama recursion (a discrete Lyapunov equation solved by scipy).
2. Validity of the occupancies (in [0, 1], sums 1) where the projection onto the simplex works
   hardest: a patch of 1 µm² driven to spike.
3. The large-area limit: the deterministic Euler spike times of the gist.
4. Bitwise reproducibility (batch position, threads, chunking, float32) and the random streams.
5. Agreement with the exact Markov chain (``hh.reference.markov``) on the spontaneous rate.
6. Input errors, raised before any kernel launch.

Voltages are in the 1952 convention of ``HHParams.classic`` (rest = 0 mV, temperature 6.3 °C,
so the temperature factor is 1).
"""

import math

import numpy as np
import pytest
from scipy.linalg import solve_continuous_lyapunov, solve_discrete_lyapunov

import hhfast as hh
from hhfast import config
from hhfast.model import occupancy, rates, steady_state

ZERO = hh.step(amplitude=0.0)
DT = 0.01

# -- closed forms of the clamped occupancy process ----------------------------------------------


def _transitions(V):
    """The reversible transitions ``(i, j, a, b)`` (i -> j at rate a, back at b; 1/ms) of the K
    (states n0..n4) and Na (m_i h_j at i + 4 j) channels at V (mV), written from the kinetic
    scheme (each of the k closed subunits opens at α, each open one closes at β)."""
    an, bn, am, bm, ah, bh = rates(V)
    K = [(i, i + 1, (4 - i) * an, (i + 1) * bn) for i in range(4)]
    Na = [(i + 4 * j, i + 1 + 4 * j, (3 - i) * am, (i + 1) * bm) for j in range(2)
          for i in range(3)]
    Na += [(i, i + 4, ah, bh) for i in range(4)]
    return K, Na


#: the transitions that touch an open state (indices into _transitions' lists): the only noisy
#: ones of stochastic shielding (K n3 <-> n4; Na m2h1 <-> m3h1, m3h0 <-> m3h1)
SHIELDED_K, SHIELDED_NA = [3], [5, 9]


def _em_covariance(trans, mu, N, dt, noisy=None):
    """Stationary covariances of an occupancy vector (reduced coordinates: state 0 dropped,
    x0 = 1 - sum of the rest) under (a) the Euler–Maruyama recursion
    ``x' = x + dt A x + sqrt(dt) G xi`` and (b) the continuous Langevin equation, from the
    drift matrix A (master equation) and the diffusion ``D = sum_t s_t s_t^T (a x_i + b x_j)/N``
    at the mean (exact for the recursion: D is linear in x, the noise independent of x).

    (a) solves ``P = F P F^T + dt D`` with ``F = I + dt A`` (scipy's discrete Lyapunov),
    (b) ``A P + P A^T + D = 0``.  ``noisy``: the transitions that carry noise (None: all).
    """
    n = len(mu)
    A = np.zeros((n, n))
    D = np.zeros((n, n))
    for t, (i, j, a, b) in enumerate(trans):
        A[i, i] -= a
        A[j, i] += a
        A[j, j] -= b
        A[i, j] += b
        if noisy is None or t in noisy:
            s = np.zeros(n)
            s[i], s[j] = -1.0, 1.0
            D += np.outer(s, s) * (a * mu[i] + b * mu[j]) / N
    assert np.allclose(A @ mu, 0.0, atol=1e-12)  # mu is the chain's stationary law
    Ar = A[1:, 1:] - A[1:, :1]  # d/dt x[1:] with x0 = 1 - sum(x[1:])
    P_em = solve_discrete_lyapunov(np.eye(n - 1) + dt * Ar, dt * D[1:, 1:])
    P_ct = solve_continuous_lyapunov(Ar, -D[1:, 1:])
    return P_em, P_ct


def _var_and_se(x):
    """Sample variance of independent samples and its standard error
    ``sqrt((m4 - s^4) / M)`` (m4 the fourth central moment: no normality assumed)."""
    v = x.var(ddof=1)
    m4 = ((x - x.mean()) ** 4).mean()
    return v, math.sqrt((m4 - v * v) / x.size)


# -- 1. stationary statistics under a clamp -----------------------------------------------------
# Clamp: gNa = gK = gL = 0 and no current keep V exactly at V0 (dV = 0 every step) while the
# channels evolve at V0; they start at the stationary mean (the binomial law of the gates'
# steady state) and run CLAMP_T = 40 ms, > 4.7 times the slowest time constant (tau_h = 8.5
# ms at 0 mV): the covariance is within exp(-2 * 40 / 8.5) < 1e-4 of stationary, and the mean
# is exact at every step (linear drift).  Each neuron is an independent sample (own trial id).
CLAMP_V = np.array([0.0, 10.0, 20.0])
CLAMP_M = 16384  # neurons per voltage: relative SE of a variance ~ sqrt(2 / M) = 1.1 %
CLAMP_T = 40.0
# 1e5 µm²: N_Na = 6e6, N_K = 1.8e6.  The least occupied state (m3h0 at 0 mV, p = 6.0e-5) has
# N p = 360 channels, its SD sqrt(N p) = 19 channels: below zero only at 19 SD, so the clip
# at 0 and the projection are never active (asserted below via the minimum occupancy seen).
CLAMP_AREA = 1e5
SUBUNIT_AREA = 1e3  # n, m at 0 mV lie 29 and 18 SD from 0 with N_K = 1.8e4, N_Na = 6e4


@pytest.fixture(scope="module")
def clamp():
    """model -> SimResult of the clamped batch (shape (3, CLAMP_M)), run once per model."""
    cache = {}

    def run(model):
        if model not in cache:
            n, m, h = steady_state(CLAMP_V)
            cache[model] = hh.simulate(
                ZERO, CLAMP_T, dt=DT, channel_noise=model, gNa=0.0, gK=0.0, gL=0.0,
                V0=CLAMP_V[:, None], n0=n[:, None], m0=m[:, None], h0=h[:, None],
                area=SUBUNIT_AREA if model == "subunit" else CLAMP_AREA, seed=2026,
                trial=np.arange(CLAMP_V.size * CLAMP_M).reshape(CLAMP_V.size, CLAMP_M),
                record=None, max_spikes=0)
        return cache[model]
    return run


@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_clamped_occupancy_means_are_binomial(clamp, model):
    # E[x] of the Euler–Maruyama recursion is the fixed point of the linear drift, the binomial
    # law, exactly (no clipping: see CLAMP_AREA).  Tolerance 5 SE, SE = sample SD / sqrt(M).
    res = clamp(model)
    assert np.all(res.final_state["V"] == CLAMP_V[:, None])  # the clamp holds exactly
    for k, V in enumerate(CLAMP_V):
        pk, pna = occupancy(*steady_state(V))
        for x, p in ((res.info["K_states"][k], pk), (res.info["Na_states"][k], pna)):
            assert x.min() > 0.0  # the projection was never needed
            se = x.std(axis=0, ddof=1) / math.sqrt(CLAMP_M)
            assert np.all(np.abs(x.mean(axis=0) - p) < 5 * se), (V, x.mean(axis=0), p, se)
        assert np.array_equal(res.final_state["K_open"][k], res.info["K_states"][k][:, 4])
        assert np.array_equal(res.final_state["Na_open"][k], res.info["Na_states"][k][:, 7])


@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_clamped_open_variances_are_those_of_the_em_recursion(clamp, model):
    # Reference: the discrete Lyapunov solution (closed form of the discretised scheme, from
    # the rates alone).  Tolerance 5 SE of the sample variance (SE ~1.1 % of it, M = 16384).
    res = clamp(model)
    N_K, N_Na = 18.0 * CLAMP_AREA, 60.0 * CLAMP_AREA
    for k, V in enumerate(CLAMP_V):
        pk, pna = occupancy(*steady_state(V))
        K, Na = _transitions(V)
        shield = model == "shielding"
        PK, PKc = _em_covariance(K, pk, N_K, DT, SHIELDED_K if shield else None)
        PN, PNc = _em_covariance(Na, pna, N_Na, DT, SHIELDED_NA if shield else None)
        for x, P, Pc, p, N, r in ((res.final_state["K_open"][k], PK, PKc, pk[4], N_K, 3),
                                  (res.final_state["Na_open"][k], PN, PNc, pna[7], N_Na, 6)):
            v, se = _var_and_se(x)
            assert abs(v - P[r, r]) < 5 * se, (model, V, v, P[r, r], se)
            binom = p * (1 - p) / N
            if not shield:
                # the continuous channel-based Langevin equation has the multinomial
                # covariance exactly (independent closed form: agreement to solver precision)
                assert Pc[r, r] == pytest.approx(binom, rel=1e-9)
                # Euler–Maruyama's bias of the variance at dt = 0.01 ms: at most 6.4 % (Na
                # open at 0 mV, where beta_m = 4/ms: dt * 3 beta_m / 2 ~ 6 %); 0.25 % for K
                assert abs(P[r, r] / binom - 1) < 0.08, (V, P[r, r] / binom)
            else:
                # shielding drops the noise of transitions away from the open state: its
                # open-state variance is within 10 % of the multinomial one here (measured
                # -8.8 % to +5.3 %), the point of the approximation
                assert abs(P[r, r] / binom - 1) < 0.10, (V, P[r, r] / binom)


def test_em_variance_bias_is_first_order_in_dt():
    # The gap between the discrete and the continuous Lyapunov solutions is O(dt): halving dt
    # halves it (ratio 2 up to O(dt) corrections: [1.8, 2.2]).  Closed forms only.
    for V in CLAMP_V:
        pk, pna = occupancy(*steady_state(V))
        for trans, mu, r in ((_transitions(V)[0], pk, 3), (_transitions(V)[1], pna, 6)):
            gaps = []
            for dt in (DT, DT / 2):
                P, Pc = _em_covariance(trans, mu, 1.0, dt)
                gaps.append(P[r, r] - Pc[r, r])
            assert gaps[0] > 0 and 1.8 < gaps[0] / gaps[1] < 2.2, (V, gaps)


def test_clamped_subunit_statistics_and_its_documented_inaccuracy(clamp):
    # Fox–Lu's n follows the scalar recursion n' = n + dt (a (1 - n) - b n) + sqrt(dt (a (1-n)
    # + b n)/N) z: E[n] = n_inf exactly; stationary var(n) = n_inf (1 - n_inf) / N / (1 - dt
    # lam / 2), lam = a + b (solve v = (1 - dt lam)^2 v + dt 2ab / (lam N)); n_inf (1 - n_inf)
    # / N in the continuous limit.  Tolerances 5 SE.
    res = clamp("subunit")
    N_K, N_Na = 18.0 * SUBUNIT_AREA, 60.0 * SUBUNIT_AREA
    factors = []
    for k, V in enumerate(CLAMP_V):
        an, bn, am, bm, ah, bh = rates(V)
        for g, a, b, N in (("n", an, bn, N_K), ("m", am, bm, N_Na), ("h", ah, bh, N_Na)):
            x = res.info[g][k]
            assert 0.0 < x.min() and x.max() < 1.0  # the clip to [0, 1] was never active
            lam, inf = a + b, a / (a + b)
            v_em = inf * (1 - inf) / N / (1 - DT * lam / 2)
            assert abs(x.mean() - inf) < 5 * x.std(ddof=1) / math.sqrt(CLAMP_M), (V, g)
            v, se = _var_and_se(x)
            assert abs(v - v_em) < 5 * se, (V, g, v, v_em, se)
            assert v_em / (inf * (1 - inf) / N) - 1 < 0.03  # EM bias: dt lam / 2 <= 2.1 %
        # K_open = n^4: by the delta method var(n^4) ~ 16 n^6 var(n) (relative error
        # O(var(n) / n^2) < 0.3 % here), far below the binomial n^4 (1 - n^4) / N_K of the
        # channel statistics at rest: the factor (1 - n^4) / (16 n^3 (1 - n)) is 2.8 at 0 mV
        n_inf = an / (an + bn)
        o = res.final_state["K_open"][k]
        v, se = _var_and_se(o)
        v_delta = 16 * n_inf**6 * n_inf * (1 - n_inf) / N_K / (1 - DT * (an + bn) / 2)
        assert abs(v - v_delta) < 5 * se + 0.01 * v_delta, (V, v, v_delta, se)
        binom = n_inf**4 * (1 - n_inf**4) / N_K
        factors.append(binom / v)
    # the documented inaccuracy: at 0 mV (rest) the K_open variance is a factor ~2.8 too small
    # (delta method: 2.81 with the EM bias); the factor falls with V and crosses 1 near 10 mV
    # (too large at 20 mV: 0.59), so the model's noise has the wrong voltage dependence
    assert factors[0] > 2.5 and factors[2] < 0.7, factors
