"""Validation of ``simulate(channel_noise=...)`` (:mod:`hhfast.kernels.channel`).

1. Stationary statistics under a voltage clamp against closed forms: the binomial /
   multinomial occupancies (``hhfast.model.occupancy``) and the exact stationary covariance of
   the Euler–Maruyama recursion (a discrete Lyapunov equation solved by scipy).
2. Validity of the occupancies: sums 1 to rounding where occupancies cross 0 most often (a
   driven 1 µm² patch), not clipped, and unbiased means on a small patch at rest.
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
#: the same checks at two sizes: the fast set's (relative SE of a variance sqrt(2 / 2048) =
#: 3.1 %) and the slow set's full size; every tolerance is 5 SE of the sample it is checked on
CLAMP_SIZES = [pytest.param(2048, id="M2048"),
               pytest.param(CLAMP_M, id=f"M{CLAMP_M}", marks=pytest.mark.slow)]
CLAMP_T = 40.0
# 1e5 µm²: N_Na = 6e6, N_K = 1.8e6.  The least occupied state (m3h0 at 0 mV, p = 6.0e-5) has
# N p = 360 channels, its SD sqrt(N p) = 19 channels: below zero only at 19 SD, so no clip
# at 0 (variances, open fractions, returned occupancies) is ever active (the minimum
# occupancy seen is asserted > 0).
CLAMP_AREA = 1e5
SUBUNIT_AREA = 1e3  # n, m at 0 mV lie 29 and 18 SD from 0 with N_K = 1.8e4, N_Na = 6e4


@pytest.fixture(scope="module")
def clamp():
    """(model, M) -> SimResult of the clamped batch (shape (3, M)), run once per model and M."""
    cache = {}

    def run(model, M=CLAMP_M):
        if (model, M) not in cache:
            n, m, h = steady_state(CLAMP_V)
            cache[model, M] = hh.simulate(
                ZERO, CLAMP_T, dt=DT, channel_noise=model, gNa=0.0, gK=0.0, gL=0.0,
                V0=CLAMP_V[:, None], n0=n[:, None], m0=m[:, None], h0=h[:, None],
                area=SUBUNIT_AREA if model == "subunit" else CLAMP_AREA, seed=2026,
                trial=np.arange(CLAMP_V.size * M).reshape(CLAMP_V.size, M),
                record=None, max_spikes=0)
        return cache[model, M]
    return run


@pytest.mark.parametrize("M", CLAMP_SIZES)
@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_clamped_occupancy_means_are_binomial(clamp, model, M):
    # E[x] of the Euler–Maruyama recursion is the fixed point of the linear drift, the binomial
    # law, exactly (no clipping: see CLAMP_AREA).  Tolerance 5 SE, SE = sample SD / sqrt(M).
    res = clamp(model, M)
    assert np.all(res.final_state["V"] == CLAMP_V[:, None])  # the clamp holds exactly
    for k, V in enumerate(CLAMP_V):
        pk, pna = occupancy(*steady_state(V))
        for x, p in ((res.info["K_states"][k], pk), (res.info["Na_states"][k], pna)):
            assert x.min() > 0.0  # no occupancy near 0: the clip inside the variance never acts
            se = x.std(axis=0, ddof=1) / math.sqrt(M)
            assert np.all(np.abs(x.mean(axis=0) - p) < 5 * se), (V, x.mean(axis=0), p, se)
        # the open fractions that drive V are the open occupancies (returned projected onto
        # the simplex: here a division by a sum within a few ulp of 1)
        np.testing.assert_allclose(res.final_state["K_open"][k], res.info["K_states"][k][:, 4],
                                   rtol=1e-14)
        np.testing.assert_allclose(res.final_state["Na_open"][k],
                                   res.info["Na_states"][k][:, 7], rtol=1e-14)


@pytest.mark.parametrize("M", CLAMP_SIZES)
@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_clamped_open_variances_are_those_of_the_em_recursion(clamp, model, M):
    # Reference: the discrete Lyapunov solution (closed form of the discretised scheme, from
    # the rates alone).  Tolerance 5 SE of the sample variance (SE ~1.1 % of it at M = 16384,
    # ~3.1 % at M = 2048).
    res = clamp(model, M)
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


@pytest.mark.slow  # full size only: at M = 2048 (SE ~3 %) its factor bounds lie under 5 SE away
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


# -- 2. validity of the occupancies -------------------------------------------------------------
# the float32 channel kernels are compiled by the slow set only
@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_occupancies_sum_to_one_unclipped_on_a_tiny_patch(model, dtype):
    # 1 µm²: 60 Na and 18 K channels, driven at 20 µA/cm² (repetitive spiking), 5000 steps:
    # occupancies cross 0 all the time.  Every transition moves mass between two states, so
    # each kind's sum stays 1 up to rounding: per step each of the 13 updates rounds at most
    # 3 times by half an ulp of a number <= 1 (1.5 eps), so |sum - 1| <= 5000 * 13 * 1.5 eps
    # in the worst case (measured: 47 eps = 1.0e-14 in float64, 37 eps = 4.5e-6 in float32).
    # The state is not clipped (kernels/channel.py, "Validity"): some occupancies are below 0,
    # and the run stays finite.
    eps = np.finfo(dtype).eps
    res = hh.simulate(hh.step(amplitude=20.0), 50.0, channel_noise=model, area=1.0, seed=11,
                      trial=np.arange(1024), dtype=dtype, record="K_open,Na_open",
                      record_every=5, max_spikes=0)
    assert res.spike_count.min() >= 2 and not res.diverged.any()
    lows = []
    for key in ("K_states", "Na_states"):
        x = res.info[key].astype(np.float64)
        assert np.isfinite(x).all()
        assert np.abs(x.sum(axis=-1) - 1.0).max() <= 5000 * 13 * 1.5 * eps
        lows.append(x.min())
    assert min(lows) < 0.0  # not clipped: the Gaussian increments reach below 0 here
    for name in ("K_open", "Na_open"):
        tr = res.traces[name]
        assert np.isfinite(tr).all() and tr.min() < 0.0 and tr.max() > 0.1


@pytest.mark.slow  # 16384 patches x 4000 steps per model; the fast set has the clamp at M = 2048
@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_open_fractions_are_unbiased_on_a_small_patch(model):
    # Why the state is not clipped: at rest on 30 µm² (N_Na = 1800) the open Na state holds
    # p = 8.8e-5 of the channels (0.16 channels), far less than its SD sqrt(p/N) = 2.2e-4, so
    # the occupancy is below 0 about half of the time.  Unclipped, the mean of every occupancy
    # follows the master equation exactly (linear drift, zero-mean noise), so it equals the
    # binomial law at any area.  Clipping at 0 and renormalising every step gave a mean open Na
    # fraction of 1.93e-4 (+118 %), clipping only the open fraction 1.33e-4 (+50 %).
    # 16384 independent patches (clamp as in section 1, 40 ms): SE of the open Na mean
    # 2.2e-4 / 128 = 1.7e-6 (2 % of p); tolerance 5 SE from the sample SD.
    n, m, h = steady_state(np.array([0.0]))
    M = CLAMP_M
    res = hh.simulate(ZERO, CLAMP_T, dt=DT, channel_noise=model, gNa=0.0, gK=0.0, gL=0.0,
                      V0=0.0, n0=n[0], m0=m[0], h0=h[0], area=30.0, seed=7,
                      trial=np.arange(M), record=None, max_spikes=0)
    pk, pna = occupancy(n[0], m[0], h[0])
    for key, p in (("K_states", pk), ("Na_states", pna)):
        x = res.info[key]
        mean, se = x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(M)
        assert (np.abs(mean - p) <= 5 * se).all(), (key, (mean - p) / se)
    na = res.final_state["Na_open"]
    assert (na < 0).mean() > 0.2  # the regime where clipping would bias: often below 0


@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
def test_subunit_gates_stay_in_the_unit_interval_on_a_tiny_patch(dtype):
    res = hh.simulate(hh.step(amplitude=20.0), 50.0, channel_noise="subunit", area=1.0, seed=11,
                      trial=np.arange(1024), dtype=dtype, record="K_open,Na_open",
                      record_every=5, max_spikes=0)
    assert not res.diverged.any()
    for g in "nmh":
        x = res.info[g]
        assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0
    for name in ("K_open", "Na_open"):
        tr = res.traces[name]
        assert np.isfinite(tr).all() and tr.min() >= 0.0 and tr.max() <= 1.0


# -- 3. the large-area limit --------------------------------------------------------------------
GIST_T = 50.0
HUGE = 1e10  # µm²: N_Na = 6e11; the noise of an occupancy step is ~1e-7 of the drift's


def _gist_times(**kw):
    return hh.simulate(hh.stimulus.gist(), GIST_T, record=None, **kw).spike_times[0]


@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_occupancy_models_converge_to_the_deterministic_spikes_at_first_order(model):
    # Reference: rk4 at dt = 0.001 ms (error ~1e-12 ms).  The occupancy models' Euler step
    # differs from the gate Euler step by O(dt^2) per step (the linear occupancy drift versus
    # the binomial of the stepped gates), so both are first-order schemes of the same ODE:
    # each spike-time error is bounded by twice the deterministic Euler error at the same dt
    # (measured 1.46-1.51 times at dt = 0.01), and it halves with dt (ratio 1.96-1.99
    # measured; allowed [1.7, 2.3]).  The noise at 1e10 µm² moves spikes by ~1e-6 ms.
    ref = _gist_times(method="rk4", dt=0.001)
    assert ref.size == 2
    errs = []
    for dt in (DT, DT / 2):
        euler = _gist_times(method="euler", dt=dt) - ref
        err = _gist_times(channel_noise=model, area=HUGE, dt=dt, seed=1) - ref
        assert err.shape == (2,) and np.all(np.abs(err) <= 2 * np.abs(euler)), (dt, err, euler)
        errs.append(err)
    ratio = errs[0] / errs[1]
    assert np.all((1.7 < ratio) & (ratio < 2.3)), ratio


def test_subunit_is_deterministic_euler_up_to_noise_at_a_huge_area():
    # Fox–Lu at a huge area is the Euler gate step plus noise of relative size N^-1/2: the V
    # trace of the gist equals deterministic Euler's to ~5e-4 mV at 1e10 µm² (noise size),
    # and 100 times the area divides the difference by 10 (allowed 7-14); the spike times
    # are the linear interpolation of Euler's V at the threshold crossing (this kernel
    # interpolates linearly, the deterministic one by cubic Hermite: that difference, 2e-5 -
    # 9e-5 ms, is not a noise effect) to 1e-5 ms (measured 1.7e-6).
    g = hh.stimulus.gist()
    eu = hh.simulate(g, GIST_T, method="euler", dt=DT, record="V")
    V, t = eu.traces["V"][0], eu.t
    thr = config.SPIKE_THRESHOLD_ABOVE_REST
    k = np.flatnonzero((V[:-1] < thr) & (V[1:] >= thr))
    t_lin = t[k] + (thr - V[k]) / (V[k + 1] - V[k]) * DT
    diffs = []
    for area in (HUGE / 100, HUGE):
        s = hh.simulate(g, GIST_T, channel_noise="subunit", area=area, dt=DT, seed=1, record="V")
        diffs.append(np.abs(s.traces["V"][0] - V).max())
    assert diffs[1] < 2e-3 and 7 < diffs[0] / diffs[1] < 14, diffs
    assert np.abs(s.spike_times[0] - t_lin).max() < 1e-5


# -- 4. reproducibility -------------------------------------------------------------------------
def _fingerprint(res):
    """Everything a run returns that noise touches, for bitwise comparison."""
    out = [res.spike_count, *(res.spike_times[i] for i in range(res.spike_count.size))]
    out += [res.final_state[k] for k in sorted(res.final_state)]
    out += [res.info[k] for k in sorted(res.info)]
    return out


def _same(a, b):
    fa, fb = _fingerprint(a), _fingerprint(b)
    return len(fa) == len(fb) and all(np.array_equal(x, y, equal_nan=True)
                                      for x, y in zip(fa, fb))


REPRO = dict(t_stop=30.0, area=20.0, seed=7, record=None)


def _repro_run(model, trial, amp=8.0, **kw):
    opts = {**REPRO, **kw}
    return hh.simulate(hh.step(amplitude=amp), opts.pop("t_stop"), channel_noise=model,
                       trial=trial, **opts)


@pytest.mark.parametrize("model", ["channel", "shielding", "subunit"])
def test_a_neuron_does_not_depend_on_its_batch(model):
    # trial 123 alone, then at position 37 of 70 neurons (3 blocks of 16 + padding), then
    # chunked 2 blocks at a time: bitwise the same path
    alone = _repro_run(model, [123])
    trials = np.arange(1000, 1070)
    trials[37] = 123
    batch = _repro_run(model, trials)

    def one(r, i):
        return [r.spike_times[i], *(r.final_state[k][i] for k in sorted(r.final_state)),
                *(r.info[k][i] for k in sorted(r.info))]
    assert alone.spike_count[0] >= 1
    assert all(np.array_equal(a, b) for a, b in zip(one(alone, 0), one(batch, 37)))
    assert not np.array_equal(one(alone, 0)[-1], one(batch, 36)[-1])  # its neighbour differs


@pytest.mark.parametrize("model", ["channel", "shielding", "subunit"])
def test_threads_and_chunks_do_not_change_a_run(model, monkeypatch):
    trials = np.arange(100)
    ref = _repro_run(model, trials, num_threads=1)
    assert _same(ref, _repro_run(model, trials, num_threads=2))
    monkeypatch.setattr(config, "CHUNK_NEURONS", 2 * config.BLOCK)
    assert _same(ref, _repro_run(model, trials, num_threads=2))


@pytest.mark.slow  # the float32 channel kernels
@pytest.mark.parametrize("model", ["channel", "shielding", "subunit"])
def test_float32_is_reproducible_across_threads(model):
    trials = np.arange(100)
    a = _repro_run(model, trials, num_threads=1, dtype=np.float32)
    assert _same(a, _repro_run(model, trials, num_threads=2, dtype=np.float32))
    assert not _same(a, _repro_run(model, trials, num_threads=1))  # float32 is not float64


@pytest.mark.parametrize("model", ["channel", "shielding", "subunit"])
def test_seed_and_trial_change_the_path(model):
    ref = _repro_run(model, [5, 6])
    assert _same(ref, _repro_run(model, [5, 6]))
    other_seed = _repro_run(model, [5, 6], seed=8)
    other_trial = _repro_run(model, [6, 5])
    for r in (other_seed, other_trial):
        for k in r.info:
            assert not np.array_equal(r.info[k][0], ref.info[k][0])
    # trial ids travel with the neuron: swapping them swaps the paths
    assert all(np.array_equal(other_trial.info[k][0], ref.info[k][1]) for k in ref.info)


@pytest.mark.parametrize("model", ["channel", "shielding", "subunit"])
def test_current_noise_combines_with_channel_noise(model):
    trials = np.arange(32)
    alone = _repro_run(model, trials)
    # sigma = 0: the current-noise lane adds 0 * z, bit for bit the channel-only run
    assert _same(alone, _repro_run(model, trials, noise_sigma=0.0, noise_tau=0.0))
    assert _same(alone, _repro_run(model, trials, noise_sigma=0.0, noise_tau=2.0))
    # sigma > 0: a different run
    noisy = _repro_run(model, trials, noise_sigma=2.0)
    assert not np.array_equal(noisy.final_state["V"], alone.final_state["V"])
    # The channel normals are their own stream: clamped channels (gNa = gK = gL = 0, no
    # current) under a current noise so weak (1e-9 µA/cm², V moves ~1e-10 mV) that the rates
    # change by ~1e-11 follow the same occupancy path as without it, to 1e-8; a different
    # seed of the channel noise moves them by more than 1e-4 (measured 7.7e-4 to ~1e-2), so
    # a channel stream shared with or shifted by the current noise would show.
    clamp = dict(gNa=0.0, gK=0.0, gL=0.0, amp=0.0, t_stop=10.0)
    quiet = _repro_run(model, trials, **clamp)
    weak = _repro_run(model, trials, noise_sigma=1e-9, **clamp)
    other = _repro_run(model, trials, **{**clamp, "seed": 99})
    assert not np.array_equal(weak.final_state["V"], quiet.final_state["V"])
    for k in quiet.info:
        assert np.abs(weak.info[k] - quiet.info[k]).max() < 1e-8
        assert np.abs(other.info[k] - quiet.info[k]).max() > 1e-4


# -- 5. agreement with the exact Markov chain ---------------------------------------------------
# Spontaneous firing at zero current on a 30 µm² patch (N_Na = 1800, N_K = 540), counted in
# the window 20-220 ms (the first 20 ms, the departure from the deterministic rest state,
# left out).  Rates and their SE from the per-neuron counts (independent neurons: SE = SD of
# the counts / sqrt(neurons) / window).  Markov: 200 neurons x 0.2 s = 40 neuron-s (~17 s on
# 2 shared cores), SE 0.48 Hz (1.7 %); Langevin: 4096 neurons x 0.2 s, SE ~0.1 Hz.
RATE_AREA = 30.0
RATE_T, RATE_WINDOW = 220.0, (20.0, 220.0)


def _rate(res):
    c = res.window_count.reshape(-1).astype(float)
    dur = (RATE_WINDOW[1] - RATE_WINDOW[0]) / 1000.0
    return c.mean() / dur, c.std(ddof=1) / math.sqrt(c.size) / dur


@pytest.fixture(scope="module")
def spontaneous():
    """name -> (rate, SE) in Hz at RATE_AREA: "markov" and the three Langevin models."""
    out = {"markov": _rate(hh.reference.markov(
        ZERO, RATE_T, seed=5, area=RATE_AREA, trial=np.arange(200), window=RATE_WINDOW))}
    for model in ("channel", "shielding", "subunit"):
        out[model] = _rate(hh.simulate(ZERO, RATE_T, channel_noise=model, area=RATE_AREA,
                                       seed=5, trial=np.arange(4096), window=RATE_WINDOW,
                                       record=None, max_spikes=0))
    return out


@pytest.mark.slow  # the Markov chain over 40 neuron-s and 3 x 4096 Langevin neurons x 220 ms
def test_subunit_rate_is_far_below_the_markov_chain(spontaneous):
    # Fox–Lu's too-small K/Na fluctuations near rest (factor 2.8 in var(K_open), test above)
    # make it fire far too rarely: below the exact chain and below the channel model by more
    # than 5 combined SE (measured 9.3 Hz vs 28.5, 28.6 and 28.0 Hz)
    sub, se_sub = spontaneous["subunit"]
    for ref in ("markov", "channel", "shielding"):
        r, se = spontaneous[ref]
        assert r - sub > 5 * math.hypot(se, se_sub), (ref, r, sub)
    # and the occupancy models are closer to the chain than the subunit model is
    mk = spontaneous["markov"][0]
    for model in ("channel", "shielding"):
        assert abs(spontaneous[model][0] - mk) < 0.5 * abs(sub - mk), spontaneous


@pytest.mark.slow
@pytest.mark.parametrize("model", ["channel", "shielding"])
def test_occupancy_model_rate_matches_the_markov_chain(spontaneous, model):
    # Tolerance: 5 combined SE (~2.5 Hz) plus a model error of 10 % of the Markov rate (the
    # diffusion approximation: Pu & Thomas 2020 report an L1 distance of ISI distributions
    # ~0.05 between these Langevin models and the chain at 100 µm²)
    r, se = spontaneous[model]
    mk, se_mk = spontaneous["markov"]
    assert abs(r - mk) < 5 * math.hypot(se, se_mk) + 0.10 * mk, (model, r, mk)


# -- 6. input errors, before any kernel launch --------------------------------------------------
@pytest.mark.parametrize("kw, exc, match", [
    (dict(channel_noise="bad"), ValueError, r"channel_noise.*'bad'"),
    (dict(channel_noise=["channel"]), ValueError, r"channel_noise.*\['channel'\]"),
    (dict(channel_noise="channel", method="rk4"), ValueError, r"method='euler'.*'rk4'"),
    (dict(channel_noise="shielding", method="heun"), ValueError, r"method='euler'.*'heun'"),
    (dict(channel_noise="channel", area=0.0), ValueError, r"area must be > 0.*0\.0"),
    (dict(channel_noise="channel", area=[10.0, -1.0]), ValueError, r"area must be > 0.*-1\.0"),
    (dict(channel_noise="channel", area=math.nan), ValueError, r"area must be finite.*nan"),
    (dict(channel_noise="channel", area=math.inf), ValueError, r"area must be finite.*inf"),
    (dict(channel_noise="channel", area="x"), TypeError, r"area.*'x'"),
    (dict(channel_noise="subunit", rho_K=0.0), ValueError, r"rho_K must be > 0"),
    (dict(area=10.0), ValueError, r"area only appl.*channel_noise"),
    (dict(rho_Na=60.0, rho_K=18.0), ValueError, r"rho_Na, rho_K only appl.*channel_noise"),
    (dict(channel_noise="channel", area=0.01), ValueError,
     r"rho_Na \* area = 60\.0 \* 0\.01 gives 0\.6 Na channels"),
    (dict(channel_noise="subunit", area=[100.0, 0.05]), ValueError,
     r"rho_K \* area = 18\.0 \* 0\.05 gives 0\.9 K channels"),
    (dict(channel_noise="channel", record="n"), ValueError, r"record.*'n'.*K_open"),
    (dict(record="K_open"), ValueError, r"record.*'K_open'"),
    (dict(record="V,Na_open"), ValueError, r"record.*'Na_open'"),
])
def test_channel_noise_inputs_are_refused_before_any_kernel(no_kernel, kw, exc, match):
    with pytest.raises(exc, match=match):
        hh.simulate(hh.step(amplitude=1.0), 1.0, **kw)


def test_a_channel_noise_run_cannot_be_continued():
    res = hh.simulate(hh.step(amplitude=1.0), 0.1, channel_noise="subunit", area=10.0,
                      record=None)
    with pytest.raises(ValueError, match="continuation.*channel-noise"):
        res.continuation()
