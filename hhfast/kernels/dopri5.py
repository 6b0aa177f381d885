"""Dormand–Prince 5(4), adaptive: every neuron with its own step size and its own time.

Method (Dormand & Prince 1980; Hairer, Nørsett & Wanner, *Solving ODEs I*, II.4–II.5):
seven stages, the 5th-order solution is propagated, the embedded 4th-order one only gives the
error estimate, and the last stage is the first of the next step (FSAL: six right-hand sides
per step).  Error norm ``sqrt(mean_i (e_i / (atol + rtol max(|y_i|, |y_new,i|)))^2)`` over
V, n, m, h; PI step-size control with Hairer's DOPRI5 constants (safety 0.9, exponent
0.2 - 0.75 beta, beta = 0.04, the step grows at most 10x and shrinks at most 5x per step, and
does not grow on the step after a rejection).  The continuous extension of order 4
(Hairer's ``CONTD5``) gives spike times (root of V(theta) - threshold by safeguarded Newton)
and the samples of ``record=`` on the requested uniform grid.

Stimulus edges.  A step never crosses a breakpoint of the stimulus (nor ``t_end``): it is
shortened to land on it, every stage sees the piece in force (linear in t, so the stage at
the step's end takes the limit from the left), and after landing the FSAL derivative is
recomputed with the new piece.  The order therefore holds for edges anywhere.

SIMD.  Lanes of a block advance in lockstep by *attempt* count, each with its own t and h;
lanes that are finished or frozen compute a discarded trial (select, no branch), so the lane
loop stays vectorisable.  A block runs until its slowest lane is done.  Nothing in a lane's
arithmetic reads another lane, so a neuron's result is bitwise the same alone, in any batch,
at any position and on any thread count.  Rare work (a landing on an edge, a threshold
crossing, a sample to record, a guard) is flagged per lane and done in a scalar pass.

Guards.  A trial whose state is not finite is rejected (error taken as huge: the step
shrinks 5x).  A lane whose proposed step falls below ``HMIN_REL * (|t| + 1)`` ms is frozen
and reported diverged (at its last accepted, finite state); a lane that has made
``max_steps`` attempts is frozen and reported in ``stats[2]`` (step-limited).

float64 only: the engine refuses float32 (see :func:`hhfast.simulate`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import config
from .common import (
    BLOCK,
    F_DIVT,
    I_DIVSTEP,
    P_AMP,
    P_BIAS,
    P_THR,
    block_load,
    block_scratch,
    block_store,
    count_spike,
    rhs,
)
from .fastexp import _bits_of_f64, _f64_from_bits, select, vexp, vsqrt

ORDER = 5
KIND = "adaptive"

INLINE = dict(inline="always", cache=True, fastmath=config.FASTMATH)

# -- Dormand–Prince 5(4) tableau -------------------------------------------------------------
C2, C3, C4, C5 = 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0
A21 = 1.0 / 5.0
A31, A32 = 3.0 / 40.0, 9.0 / 40.0
A41, A42, A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
A51, A52, A53, A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
A61, A62, A63, A64, A65 = (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0,
                           -5103.0 / 18656.0)
B1, B3, B4, B5, B6 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
# error coefficients: 5th-order weights minus the embedded 4th-order ones
E1, E3, E4, E5, E6, E7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                          22.0 / 525.0, -1.0 / 40.0)
# continuous extension of order 4 (Hairer's CONTD5 / DENSE coefficients)
D1, D3, D4, D5, D6, D7 = (-12715105075.0 / 11282082432.0, 87487479700.0 / 32700410799.0,
                          -10690763975.0 / 1880347072.0, 701980252875.0 / 199316789632.0,
                          -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0)

# -- step-size control (Hairer's DOPRI5 defaults) --------------------------------------------
SAFE = 0.9
BETA = 0.04
EXPO1 = 0.2 - 0.75 * BETA
FAC_MAX = 10.0   # the step grows at most this much per step
FAC_MIN = 0.2    # ... and shrinks at most this much
LOG_ERR_FLOOR = math.log(1e-4)  # facold = max(err, 1e-4)
ERR_HUGE = 1e300
ERR_TINY = 1e-300
HMIN_REL = config.ADAPTIVE_HMIN_REL
#: a step that would end within 1 % of its length before an edge is stretched onto it
LAND_STRETCH = 1.01

LN2 = math.log(2.0)
SQRT2 = math.sqrt(2.0)
MANT = np.int64(0x000FFFFFFFFFFFFF)
ONE_BITS = np.int64(0x3FF0000000000000)


@njit(**INLINE)
def vlog(x):
    """ln x for a positive normal float64, as vectorisable arithmetic (no libm call).

    x = 2^e m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172,
    by its series to s^11 (truncation < 2 s^13 / 13 < 2e-11).  Only the step-size controller
    uses it (its factor is clipped and multiplied by a 0.9 safety factor), so this accuracy is
    ample; it is deterministic, which is what bitwise reproducibility needs.
    """
    bits = _bits_of_f64(x)
    e = (bits >> np.int64(52)) - np.int64(1023)
    m = _f64_from_bits((bits & MANT) | ONE_BITS)
    big = m > SQRT2
    m = select(big, 0.5 * m, m)
    ef = np.float64(e) + select(big, 1.0, 0.0)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (
        2.0 / 9.0 + s2 * (2.0 / 11.0))))))
    return ef * LN2 + p


@njit(**INLINE)
def dense(prev, st, kk, hs, v, l, th):
    """Variable ``v`` of lane ``l`` at fraction ``th`` of the last accepted step (length
    ``hs`` ms), from the order-4 continuous extension; also returns its derivative in th."""
    y0 = prev[v, l]
    yd = st[v, l] - y0
    r3 = hs * kk[0, v, l] - yd
    r4 = yd - hs * kk[5, v, l] - r3
    r5 = hs * (D1 * kk[0, v, l] + D3 * kk[1, v, l] + D4 * kk[2, v, l] + D5 * kk[3, v, l]
               + D6 * kk[4, v, l] + D7 * kk[5, v, l])
    u = 1.0 - th
    a = r4 + u * r5
    b = r3 + th * a
    c = yd + u * b
    da = -r5
    db = a + th * da
    dc = -b + u * db
    return y0 + th * c, c + th * dc


@njit(**INLINE)
def dense_root(prev, st, kk, hs, l, thr):
    """Fraction th in [0, 1] of the last step where V's continuous extension reaches ``thr``
    (V(0) < thr <= V(1)): safeguarded Newton (bisection when Newton leaves the bracket)."""
    lo, hi = 0.0, 1.0
    V0 = prev[0, l]
    V1 = st[0, l]
    th = (thr - V0) / (V1 - V0)
    for _ in range(80):
        f, df = dense(prev, st, kk, hs, 0, l, th)
        f -= thr
        if f < 0.0:
            lo = th
        else:
            hi = th
        tn = th - f / df if df != 0.0 else 0.5 * (lo + hi)
        if not (lo < tn < hi):
            tn = 0.5 * (lo + hi)
        if abs(tn - th) < 1e-16 or hi - lo < 1e-16:
            return tn
        th = tn
    return th


@njit(**INLINE)
def commit(prev, st, k1, kk, v, l, acc, x0, x5, kv1, kv3, kv4, kv5, kv6, kv7):
    """Keep variable ``v`` of lane ``l``'s trial if accepted (select, no branch); store the
    trial's stages for the continuous extension either way."""
    prev[v, l] = select(acc, x0, prev[v, l])
    st[v, l] = select(acc, x5, x0)
    k1[v, l] = select(acc, kv7, kv1)
    kk[0, v, l] = kv1
    kk[1, v, l] = kv3
    kk[2, v, l] = kv4
    kk[3, v, l] = kv5
    kk[4, v, l] = kv6
    kk[5, v, l] = kv7


@njit(**INLINE)
def lane_piece(pb, tb, c0, c1, j, seg, t, t_end, l, ib, ia, tnext):
    """Move lane ``l`` to the stimulus piece in force just after ``t`` (edges within
    ``HMIN_REL`` of t count as passed) and set its current ``ib + ia t`` (µA/cm²) and the
    next time it must land on (next edge or ``t_end``).  Returns the piece index."""
    tol = HMIN_REL * (abs(t) + 1.0)
    while tb[j, seg + 1] <= t + tol:
        seg += 1
    ib[l] = pb[P_BIAS, l] + pb[P_AMP, l] * c0[j, seg]
    ia[l] = pb[P_AMP, l] * c1[j, seg]
    tnext[l] = min(tb[j, seg + 1], t_end)
    return seg


@njit(parallel=True, nogil=True, cache=True, fastmath=config.FASTMATH, error_model="numpy")
def run(y, P, tidx, tb, c0, c1, t0, t_end, h0, rtol, atol, max_steps, win0, win1, ic, fo,
        spikes, rec, rec_slot, rec_var, rec_dt, stats):
    """Integrate every neuron from ``t0`` to exactly ``t_end`` (ms) with its own steps.

    Arrays as in :mod:`hhfast.kernels.common` (float64 only), plus ``stats[3, N]`` (int64,
    out): accepted steps, rejected steps, 1 where the ``max_steps`` guard stopped the neuron.
    ``h0`` is the first trial step (ms); ``rec`` samples ``s >= 1`` are taken at
    ``min(t0 + s rec_dt, t_end)`` from the continuous extension (sample 0 is the engine's).
    """
    n_samples = rec.shape[1]
    for b in prange(y.shape[1] // BLOCK):
        i0 = b * BLOCK
        pb, st, prev, fz, _, armed, alive, seg, _ = block_scratch(y)
        block_load(y, P, ic, tidx, i0, pb, st, armed, alive, seg)
        t = np.full(BLOCK, t0)
        told = np.full(BLOCK, t0)
        h = np.full(BLOCK, h0)
        hs = np.zeros(BLOCK)          # length of the last accepted step
        tnext = np.empty(BLOCK)
        ib = np.empty(BLOCK)
        ia = np.empty(BLOCK)
        k1 = np.empty((4, BLOCK))
        kk = np.empty((6, 4, BLOCK))  # k1, k3, k4, k5, k6, k7 of the last trial
        lfo = np.full(BLOCK, LOG_ERR_FLOOR)
        rejl = np.zeros(BLOCK, np.bool_)
        done = np.zeros(BLOCK, np.bool_)
        evl = np.zeros(BLOCK, np.bool_)
        accl = np.zeros(BLOCK, np.bool_)
        nacc = np.zeros(BLOCK, np.int64)
        nrej = np.zeros(BLOCK, np.int64)
        rk = np.ones(BLOCK, np.int64)      # next sample index
        trec = np.full(BLOCK, math.inf)    # its time
        running = 0
        for l in range(BLOCK):
            i = i0 + l
            seg[l] = lane_piece(pb, tb, c0, c1, tidx[i], 0, t0, t_end, l, ib, ia, tnext)
            d = rhs(st[0, l], st[1, l], st[2, l], st[3, l], ib[l] + ia[l] * t0, pb, l)
            for v in range(4):
                k1[v, l] = d[v]
                fz[v, l] = st[v, l]
            if rec_slot[i] >= 0 and n_samples > 1:
                trec[l] = min(t0 + rec_dt, t_end)
            done[l] = not alive[l]
            if not done[l]:
                running += 1
        while running > 0:
            ev = False
            for l in range(BLOCK):  # the vectorised lane loop: selects, no branches
                act = alive[l] & ~done[l]
                tl = t[l]
                rem = tnext[l] - tl
                land = h[l] * LAND_STRETCH >= rem  # never leave a sliver before an edge
                hh = select(land, rem, h[l])
                V, n, m, g = st[0, l], st[1, l], st[2, l], st[3, l]
                a1, b1, c1_, d1 = k1[0, l], k1[1, l], k1[2, l], k1[3, l]
                Ib, Ia = ib[l], ia[l]
                a2, b2, c2, d2 = rhs(V + hh * (A21 * a1), n + hh * (A21 * b1),
                                     m + hh * (A21 * c1_), g + hh * (A21 * d1),
                                     Ib + Ia * (tl + C2 * hh), pb, l)
                a3, b3, c3, d3 = rhs(V + hh * (A31 * a1 + A32 * a2), n + hh * (A31 * b1 + A32 * b2),
                                     m + hh * (A31 * c1_ + A32 * c2),
                                     g + hh * (A31 * d1 + A32 * d2),
                                     Ib + Ia * (tl + C3 * hh), pb, l)
                a4, b4, c4, d4 = rhs(V + hh * (A41 * a1 + A42 * a2 + A43 * a3),
                                     n + hh * (A41 * b1 + A42 * b2 + A43 * b3),
                                     m + hh * (A41 * c1_ + A42 * c2 + A43 * c3),
                                     g + hh * (A41 * d1 + A42 * d2 + A43 * d3),
                                     Ib + Ia * (tl + C4 * hh), pb, l)
                a5, b5, c5, d5 = rhs(V + hh * (A51 * a1 + A52 * a2 + A53 * a3 + A54 * a4),
                                     n + hh * (A51 * b1 + A52 * b2 + A53 * b3 + A54 * b4),
                                     m + hh * (A51 * c1_ + A52 * c2 + A53 * c3 + A54 * c4),
                                     g + hh * (A51 * d1 + A52 * d2 + A53 * d3 + A54 * d4),
                                     Ib + Ia * (tl + C5 * hh), pb, l)
                a6, b6, c6, d6 = rhs(
                    V + hh * (A61 * a1 + A62 * a2 + A63 * a3 + A64 * a4 + A65 * a5),
                    n + hh * (A61 * b1 + A62 * b2 + A63 * b3 + A64 * b4 + A65 * b5),
                    m + hh * (A61 * c1_ + A62 * c2 + A63 * c3 + A64 * c4 + A65 * c5),
                    g + hh * (A61 * d1 + A62 * d2 + A63 * d3 + A64 * d4 + A65 * d5),
                    Ib + Ia * (tl + hh), pb, l)
                V5 = V + hh * (B1 * a1 + B3 * a3 + B4 * a4 + B5 * a5 + B6 * a6)
                n5 = n + hh * (B1 * b1 + B3 * b3 + B4 * b4 + B5 * b5 + B6 * b6)
                m5 = m + hh * (B1 * c1_ + B3 * c3 + B4 * c4 + B5 * c5 + B6 * c6)
                g5 = g + hh * (B1 * d1 + B3 * d3 + B4 * d4 + B5 * d5 + B6 * d6)
                a7, b7, c7, d7 = rhs(V5, n5, m5, g5, Ib + Ia * (tl + hh), pb, l)
                eV = hh * (E1 * a1 + E3 * a3 + E4 * a4 + E5 * a5 + E6 * a6 + E7 * a7)
                en = hh * (E1 * b1 + E3 * b3 + E4 * b4 + E5 * b5 + E6 * b6 + E7 * b7)
                em = hh * (E1 * c1_ + E3 * c3 + E4 * c4 + E5 * c5 + E6 * c6 + E7 * c7)
                eg = hh * (E1 * d1 + E3 * d3 + E4 * d4 + E5 * d5 + E6 * d6 + E7 * d7)
                sV = eV / (atol + rtol * max(abs(V), abs(V5)))
                sn = en / (atol + rtol * max(abs(n), abs(n5)))
                sm = em / (atol + rtol * max(abs(m), abs(m5)))
                sg = eg / (atol + rtol * max(abs(g), abs(g5)))
                err = vsqrt(0.25 * (sV * sV + sn * sn + sm * sm + sg * sg))
                ok = err <= 1.0  # False for NaN: a non-finite trial is rejected
                ec = select(err <= ERR_HUGE, err, ERR_HUGE)
                ec = select(ec >= ERR_TINY, ec, ERR_TINY)
                lerr = vlog(ec)
                # accepted: PI control; rejected: I control, at most FAC_MIN shrink
                fac = vexp(EXPO1 * lerr - BETA * lfo[l]) * (1.0 / SAFE)
                fac = min(1.0 / FAC_MIN, max(1.0 / FAC_MAX, fac))
                h_acc = hh / fac
                h_acc = select(rejl[l], min(h_acc, hh), h_acc)
                # a step cut short to land on an edge says nothing against the step that was
                # proposed: keep that one rather than growing from the shortened step
                h_acc = select(land & (h_acc < h[l]), h[l], h_acc)
                f_rej = min(1.0 / FAC_MIN, vexp(EXPO1 * lerr) * (1.0 / SAFE))
                h_rej = hh / f_rej
                acc = act & ok
                rej = act & ~ok
                accl[l] = acc
                commit(prev, st, k1, kk, 0, l, acc, V, V5, a1, a3, a4, a5, a6, a7)
                commit(prev, st, k1, kk, 1, l, acc, n, n5, b1, b3, b4, b5, b6, b7)
                commit(prev, st, k1, kk, 2, l, acc, m, m5, c1_, c3, c4, c5, c6, c7)
                commit(prev, st, k1, kk, 3, l, acc, g, g5, d1, d3, d4, d5, d6, d7)
                tn = select(land, tnext[l], tl + hh)
                told[l] = select(acc, tl, told[l])
                t[l] = select(acc, tn, tl)
                hs[l] = select(acc, hh, hs[l])
                lfo[l] = select(acc, max(lerr, LOG_ERR_FLOOR), lfo[l])
                rejl[l] = select(acc, False, select(rej, True, rejl[l]))
                hnew = select(acc, h_acc, select(rej, h_rej, h[l]))
                h[l] = hnew
                nacc[l] += select(acc, np.int64(1), np.int64(0))
                nrej[l] += select(rej, np.int64(1), np.int64(0))
                crossing = acc & (armed[l] == (V5 >= pb[P_THR, l]))
                guard = act & ((nacc[l] + nrej[l] >= max_steps)
                               | (rej & (hnew < HMIN_REL * (abs(tl) + 1.0))))
                e = crossing | (acc & (land | (tn >= trec[l]))) | guard
                evl[l] = e
                ev |= e
            if not ev:
                continue
            # scalar pass over the flagged lanes
            for l in range(BLOCK):
                if not evl[l]:
                    continue
                i = i0 + l
                if accl[l]:
                    thr = pb[P_THR, l]
                    if armed[l]:
                        if st[0, l] >= thr:
                            th = dense_root(prev, st, kk, hs[l], l, thr)
                            count_spike(ic, fo, spikes, i, told[l] + th * hs[l], win0, win1)
                            armed[l] = False
                    elif st[0, l] < thr:
                        armed[l] = True
                    c = rec_slot[i]
                    while trec[l] <= t[l]:
                        th = (trec[l] - told[l]) / hs[l]
                        for r in range(rec_var.shape[0]):
                            rec[r, rk[l], c] = dense(prev, st, kk, hs[l], rec_var[r], l, th)[0]
                        rk[l] += 1
                        trec[l] = min(t0 + rk[l] * rec_dt, t_end) if rk[l] < n_samples else math.inf
                    if t[l] >= t_end:
                        done[l] = True
                        running -= 1
                        continue
                    if t[l] >= tnext[l]:  # landed on a stimulus edge: new piece, new FSAL stage
                        seg[l] = lane_piece(pb, tb, c0, c1, tidx[i], seg[l], t[l], t_end, l, ib,
                                            ia, tnext)
                        d = rhs(st[0, l], st[1, l], st[2, l], st[3, l], ib[l] + ia[l] * t[l],
                                pb, l)
                        for v in range(4):
                            k1[v, l] = d[v]
                stop = nacc[l] + nrej[l] >= max_steps
                if stop or (not accl[l] and h[l] < HMIN_REL * (abs(t[l]) + 1.0)):
                    for v in range(4):
                        fz[v, l] = st[v, l]
                    alive[l] = False
                    running -= 1
                    if stop:
                        stats[2, i] = 1
                    else:
                        ic[I_DIVSTEP, i] = nacc[l] + nrej[l]
                        fo[F_DIVT, i] = t[l]
        for l in range(BLOCK):
            i = i0 + l
            stats[0, i] = nacc[l]
            stats[1, i] = nrej[l]
            c = rec_slot[i]
            if c >= 0:  # a frozen lane keeps its frozen state for the rest of the record
                while rk[l] < n_samples:
                    for r in range(rec_var.shape[0]):
                        rec[r, rk[l], c] = st[rec_var[r], l]
                    rk[l] += 1
        block_store(y, ic, i0, st, fz, armed, alive)
