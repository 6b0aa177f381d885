"""Dormand–Prince 5(4), adaptive: every neuron with its own step size and its own time.

Method (Dormand & Prince 1980; Hairer, Nørsett & Wanner, *Solving ODEs I*, II.4–II.5):
seven stages, the 5th-order solution is propagated, the embedded 4th-order one only gives the
error estimate, and the last stage is the first of the next step (FSAL: six right-hand sides
per step).  Error norm ``sqrt(mean_i (e_i / (atol + rtol max(|y_i|, |y_new,i|)))^2)`` over
V, n, m, h; PI step-size control with Hairer's DOPRI5 constants (safety 0.9, exponent
0.2 - 0.75 beta, beta = 0.04, the step grows at most 10x and shrinks at most 5x per step, and
does not grow on the step after a rejection).  The continuous extension of order 4
(Hairer's ``CONTD5``) gives spike times (root of V(theta) - threshold by safeguarded Newton)
and the samples of ``record=`` on the requested uniform grid.  As in the fixed-step kernels,
a crossing is looked for in a step that ends at or above the threshold while armed, and the
detector re-arms after a step that ends below the re-arm level (threshold minus the margin
``spike_rearm``, docs/architecture.md §3; the error control keeps steps through an action
potential far shorter than the spike).

Stimulus edges.  A step never crosses a breakpoint of the stimulus (nor ``t_end``): it is
shortened to land on it (a step that would end within 1 % of its length before it is
stretched onto it, so no sliver of a step is left), every stage sees the piece in force
(linear in t, so the stage at the step's end takes the limit from the left), and after
landing the FSAL derivative is recomputed with the new piece.  The order therefore holds for edges anywhere.

SIMD.  Lanes of a block advance in lockstep by *attempt* count, each with its own t and h;
lanes that are finished or frozen compute a discarded trial (select, no branch), so the lane
loop stays vectorisable.  A block runs until its slowest lane is done.  Nothing in a lane's
arithmetic reads another lane, so a neuron's result is bitwise the same alone, in any batch,
at any position and on any thread count.  Rare work (a landing on an edge, a threshold
crossing, a sample to record, a guard) is flagged per lane and done in a scalar pass.

Guards.  A trial whose state is not finite is rejected (error taken as huge: the step
shrinks 5x).  A lane whose step is rejected down to below ``HMIN_REL * (|t| + 1)`` ms is
frozen and reported diverged (at its last accepted, finite state); a lane that has made
``max_steps`` attempts is frozen and reported in ``stats[2]`` (step-limited); either way the
time it was frozen at is ``fo[F_DIVT]``.

float64 only: the engine refuses float32 (see :func:`hhfast.simulate`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import config
from .cpu import BLOCK, block_load, block_scratch, block_store, count_spike
from .fastexp import _bits_of_f64, _f64_from_bits, select, vexp, vsqrt
from .hh import rhs
from .layout import F_DIVT, I_DIVSTEP, P_AMP, P_BIAS, P_REARM, P_THR, S_LIMITED
from .options import INLINE, KERNEL
from .spec import MethodSpec, no_check

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
def vmax(a, b):
    """max(a, b) as one select (the builtin's NaN handling kept the lane loop scalar)."""
    return select(a >= b, a, b)


@njit(**INLINE)
def vmin(a, b):
    return select(a <= b, a, b)


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


# rows of the block's per-lane float array ``F`` (one array, not eleven: every distinct array
# the lane loop touches costs LLVM a run-time alias check, and past a few it gave up
# vectorising)
T, TOLD, H, HS, TNEXT, IB, IA, LFO, TREC, NACC, NREJ = range(11)
NLF = 11
# rows of the per-lane flag array ``B``
ACT, ARMED, REJL, EVL, ACCL = range(5)
NLB = 5
# slots of the stage array ``K[7, 4, BLOCK]``: the last trial's k1, k3, k4, k5, k6, k7, and
# (slot FSAL) the derivative at the current state, the next step's k1
KS1, KS3, KS4, KS5, KS6, KS7, FSAL = range(7)


@njit(**INLINE)
def dense(prev, st, K, hs, v, l, th):
    """Variable ``v`` of lane ``l`` at fraction ``th`` of the last accepted step (length
    ``hs`` ms), from the order-4 continuous extension; also returns its derivative in th."""
    y0 = prev[v, l]
    yd = st[v, l] - y0
    r3 = hs * K[KS1, v, l] - yd
    r4 = yd - hs * K[KS7, v, l] - r3
    r5 = hs * (D1 * K[KS1, v, l] + D3 * K[KS3, v, l] + D4 * K[KS4, v, l] + D5 * K[KS5, v, l]
               + D6 * K[KS6, v, l] + D7 * K[KS7, v, l])
    u = 1.0 - th
    a = r4 + u * r5
    b = r3 + th * a
    c = yd + u * b
    db = a - th * r5
    dc = -b + u * db
    return y0 + th * c, c + th * dc


@njit(**INLINE)
def dense_root(prev, st, K, hs, l, thr):
    """Fraction th in [0, 1] of the last step where V's continuous extension reaches ``thr``
    (V(0) < thr <= V(1)): safeguarded Newton (bisection when Newton leaves the bracket)."""
    lo, hi = 0.0, 1.0
    V0 = prev[0, l]
    V1 = st[0, l]
    th = (thr - V0) / (V1 - V0)
    for _ in range(80):
        f, df = dense(prev, st, K, hs, 0, l, th)
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
def commit(prev, st, K, v, l, acc, x0, x5, kv1, kv3, kv4, kv5, kv6, kv7):
    """Keep variable ``v`` of lane ``l``'s trial if accepted (select, no branch); store the
    trial's stages for the continuous extension either way."""
    prev[v, l] = select(acc, x0, prev[v, l])
    st[v, l] = select(acc, x5, x0)
    K[FSAL, v, l] = select(acc, kv7, kv1)
    K[KS1, v, l] = kv1
    K[KS3, v, l] = kv3
    K[KS4, v, l] = kv4
    K[KS5, v, l] = kv5
    K[KS6, v, l] = kv6
    K[KS7, v, l] = kv7


@njit(**INLINE)
def lane_piece(pb, tb, c0, c1, j, seg, t, t_end, l, F):
    """Move lane ``l`` to the stimulus piece in force just after ``t`` (edges within
    ``HMIN_REL`` of t count as passed) and set its current ``IB + IA t`` (µA/cm²) and the
    next time it must land on (next edge or ``t_end``).  Returns the piece index."""
    tol = HMIN_REL * (abs(t) + 1.0)
    while tb[j, seg + 1] <= t + tol:
        seg += 1
    F[IB, l] = pb[P_BIAS, l] + pb[P_AMP, l] * c0[j, seg]
    F[IA, l] = pb[P_AMP, l] * c1[j, seg]
    F[TNEXT, l] = min(tb[j, seg + 1], t_end)
    return seg


@njit(**INLINE)
def set_fsal(st, K, pb, F, l):
    """The derivative at lane ``l``'s current state and time (the next step's first stage)."""
    d = rhs(st[0, l], st[1, l], st[2, l], st[3, l], F[IB, l] + F[IA, l] * F[T, l], pb, l)
    for v in range(4):
        K[FSAL, v, l] = d[v]


@njit(**KERNEL)
def run(b, a):
    """Integrate every neuron of batch ``b`` from ``b.t0`` to exactly ``a.t_end`` (ms) with its
    own steps (:class:`~.layout.Batch` and :class:`~.layout.AdaptiveBatch`, float64 only).

    ``a.stats[NS, N]`` (int64, out): accepted steps, rejected steps, 1 where the ``max_steps``
    guard stopped the neuron; ``fo[F_DIVT]`` is the time (ms) where a lane was frozen, by a
    blow-up or by that guard.  ``b.dt`` is the first trial step (ms); ``rec`` samples
    ``s >= 1`` are taken at ``min(t0 + s rec_dt, t_end)`` from the continuous extension
    (sample 0 is the engine's).
    """
    y, P, tidx, tb, c0, c1 = b.y, b.P, b.tidx, b.tb, b.c0, b.c1
    ic, fo, spikes, rec, rec_slot, rec_var = b.ic, b.fo, b.spikes, b.rec, b.rec_slot, b.rec_var
    t0, h0, win0, win1 = b.t0, b.dt, b.win0, b.win1
    t_end, rtol, atol, max_steps, rec_dt, stats = (a.t_end, a.rtol, a.atol, a.max_steps,
                                                   a.rec_dt, a.stats)
    n_samples = rec.shape[1]
    fmax = np.float64(max_steps)
    for blk in prange(b.blk0, b.blk1):
        i0 = blk * BLOCK
        pb, st, prev, fz, _, armed, alive, seg, _ = block_scratch(y)
        block_load(y, P, ic, tidx, i0, pb, st, armed, alive, seg)
        F = np.zeros((NLF, BLOCK))
        B = np.zeros((NLB, BLOCK), np.bool_)
        K = np.zeros((7, 4, BLOCK))
        running = 0
        for l in range(BLOCK):
            i = i0 + l
            F[T, l] = t0
            F[TOLD, l] = t0
            F[H, l] = h0
            F[LFO, l] = LOG_ERR_FLOOR
            F[TREC, l] = min(t0 + rec_dt, t_end) if rec_slot[i] >= 0 and n_samples > 1 else math.inf
            seg[l] = lane_piece(pb, tb, c0, c1, tidx[i], 0, t0, t_end, l, F)
            set_fsal(st, K, pb, F, l)
            for v in range(4):
                fz[v, l] = st[v, l]
            B[ACT, l] = alive[l]
            B[ARMED, l] = armed[l]
            if alive[l]:
                running += 1
        while running > 0:
            ev = False
            for l in range(BLOCK):  # the vectorised lane loop: selects, no branches
                act = B[ACT, l]
                tl = F[T, l]
                hp = F[H, l]
                rem = F[TNEXT, l] - tl
                land = hp * LAND_STRETCH >= rem  # never leave a sliver before an edge
                hh = select(land, rem, hp)
                V, n, m, g = st[0, l], st[1, l], st[2, l], st[3, l]
                a1, b1, c1_, d1 = K[FSAL, 0, l], K[FSAL, 1, l], K[FSAL, 2, l], K[FSAL, 3, l]
                Ib, Ia = F[IB, l], F[IA, l]
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
                sV = eV / (atol + rtol * vmax(abs(V), abs(V5)))
                sn = en / (atol + rtol * vmax(abs(n), abs(n5)))
                sm = em / (atol + rtol * vmax(abs(m), abs(m5)))
                sg = eg / (atol + rtol * vmax(abs(g), abs(g5)))
                err = vsqrt(0.25 * (sV * sV + sn * sn + sm * sm + sg * sg))
                ok = err <= 1.0  # False for NaN: a non-finite trial is rejected
                ec = select(err <= ERR_HUGE, err, ERR_HUGE)
                ec = select(ec >= ERR_TINY, ec, ERR_TINY)
                lerr = vlog(ec)
                # accepted: PI control; rejected: I control, at most 1/FAC_MIN shrink
                fac = vexp(EXPO1 * lerr - BETA * F[LFO, l]) * (1.0 / SAFE)
                fac = vmin(1.0 / FAC_MIN, vmax(1.0 / FAC_MAX, fac))
                h_acc = hh / fac
                h_acc = select(B[REJL, l], vmin(h_acc, hh), h_acc)
                # a step cut short to land on an edge says nothing against the step that was
                # proposed: keep that one rather than growing from the shortened step
                h_acc = select(land & (h_acc < hp), hp, h_acc)
                h_rej = hh / vmin(1.0 / FAC_MIN, vexp(EXPO1 * lerr) * (1.0 / SAFE))
                acc = act & ok
                rej = act & ~ok
                commit(prev, st, K, 0, l, acc, V, V5, a1, a3, a4, a5, a6, a7)
                commit(prev, st, K, 1, l, acc, n, n5, b1, b3, b4, b5, b6, b7)
                commit(prev, st, K, 2, l, acc, m, m5, c1_, c3, c4, c5, c6, c7)
                commit(prev, st, K, 3, l, acc, g, g5, d1, d3, d4, d5, d6, d7)
                tn = select(land, F[TNEXT, l], tl + hh)
                F[TOLD, l] = select(acc, tl, F[TOLD, l])
                F[T, l] = select(acc, tn, tl)
                F[HS, l] = select(acc, hh, F[HS, l])
                F[LFO, l] = select(acc, vmax(lerr, LOG_ERR_FLOOR), F[LFO, l])
                B[REJL, l] = (B[REJL, l] & ~acc) | rej
                hnew = select(acc, h_acc, select(rej, h_rej, hp))
                F[H, l] = hnew
                na = F[NACC, l] + select(acc, 1.0, 0.0)
                nr = F[NREJ, l] + select(rej, 1.0, 0.0)
                F[NACC, l] = na
                F[NREJ, l] = nr
                B[ACCL, l] = acc
                armd = B[ARMED, l]  # the hysteresis rule of docs/architecture.md §3
                crossing = acc & ((armd & (V5 >= pb[P_THR, l])) | (
                    (~armd) & (V5 < pb[P_REARM, l])))
                guard = act & ((na + nr >= fmax) | (rej & (hnew < HMIN_REL * (abs(tl) + 1.0))))
                e = crossing | (acc & (land | (tn >= F[TREC, l]))) | guard
                B[EVL, l] = e
                ev |= e
            if not ev:
                continue
            # scalar pass over the flagged lanes
            for l in range(BLOCK):
                if not B[EVL, l]:
                    continue
                i = i0 + l
                if B[ACCL, l]:
                    thr = pb[P_THR, l]
                    if B[ARMED, l]:
                        if st[0, l] >= thr:
                            th = dense_root(prev, st, K, F[HS, l], l, thr)
                            count_spike(ic, fo, spikes, i, F[TOLD, l] + th * F[HS, l], win0,
                                        win1)
                            B[ARMED, l] = False
                    elif st[0, l] < pb[P_REARM, l]:
                        B[ARMED, l] = True
                    c = rec_slot[i]
                    while F[TREC, l] <= F[T, l]:
                        s = np.int64(round((F[TREC, l] - t0) / rec_dt)) if F[TREC, l] < t_end \
                            else n_samples - 1
                        th = (F[TREC, l] - F[TOLD, l]) / F[HS, l]
                        for r in range(rec_var.shape[0]):
                            rec[r, s, c] = dense(prev, st, K, F[HS, l], rec_var[r], l, th)[0]
                        F[TREC, l] = min(t0 + (s + 1) * rec_dt, t_end) if s + 1 < n_samples \
                            else math.inf
                    if F[T, l] >= t_end:
                        B[ACT, l] = False
                        running -= 1
                        continue
                    if F[T, l] >= F[TNEXT, l]:  # landed on an edge: new piece, new FSAL stage
                        seg[l] = lane_piece(pb, tb, c0, c1, tidx[i], seg[l], F[T, l], t_end, l, F)
                        set_fsal(st, K, pb, F, l)
                stop = F[NACC, l] + F[NREJ, l] >= fmax
                if stop or (not B[ACCL, l] and F[H, l] < HMIN_REL * (abs(F[T, l]) + 1.0)):
                    for v in range(4):
                        fz[v, l] = st[v, l]
                    alive[l] = False
                    B[ACT, l] = False
                    running -= 1
                    fo[F_DIVT, i] = F[T, l]  # frozen here (the engine tells a stop from a blow-up)
                    if stop:
                        stats[S_LIMITED, i] = 1
                    else:
                        ic[I_DIVSTEP, i] = np.int64(F[NACC, l] + F[NREJ, l])
        for l in range(BLOCK):
            i = i0 + l
            armed[l] = B[ARMED, l]
            stats[0, i] = np.int64(F[NACC, l])
            stats[1, i] = np.int64(F[NREJ, l])
            c = rec_slot[i]
            if c >= 0 and F[TREC, l] < math.inf:  # a frozen lane keeps its frozen state
                s0 = np.int64(round((F[TREC, l] - t0) / rec_dt)) if F[TREC, l] < t_end \
                    else n_samples - 1
                for s in range(s0, n_samples):
                    for r in range(rec_var.shape[0]):
                        rec[r, s, c] = st[rec_var[r], l]
        block_store(y, ic, i0, st, fz, armed, alive)


SPEC = MethodSpec(
    name="dopri5", run=run, noise=False, order=5, kind="adaptive",
    check=no_check, wp_range=(1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4),
    description="Dormand–Prince 5(4), adaptive per neuron (rtol/atol), FSAL, PI control, "
                "dense output of order 4",
    reference="Dormand & Prince (1980); Hairer, Nørsett & Wanner, Solving ODEs I, §II.4–II.5",
)
