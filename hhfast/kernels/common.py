"""What the method kernels share: rate functions, the right-hand side, stimulus evaluation,
spike detection, divergence handling and recording.

Layout.  Neurons are processed in blocks of ``config.BLOCK`` lanes: ``prange`` over blocks,
the time loop inside, and inside that a lane loop with a constant trip count that LLVM can
vectorise.  Rare work (a threshold crossing, a re-arm, a blow-up) is detected by a cheap
vectorisable scan and handled in a scalar loop afterwards.  The batch is padded by the engine
to a multiple of ``BLOCK``, so every neuron runs through the same code path: a neuron's result
does not depend on its position, its batch, the chunking or the thread count.

Array conventions (all per neuron, neuron index last so lanes are contiguous):

``y[4, N]``      state V (mV), n, m, h — initial on entry, final on exit.
``P[NP, N]``     per-neuron constants, rows named by the ``P_*`` constants below.
``ic[NI, N]``    int64 counters, rows ``I_*``.
``fo[NF, N]``    float64 outputs, rows ``F_*``.
``spikes[N, K]`` first K spike times (ms).
``rec[R, S, M]`` recorded samples of state ``rec_var[r]`` for neurons with ``rec_slot >= 0``.
"""

from __future__ import annotations

import math

from numba import njit

from .. import config

BLOCK = config.BLOCK
SERIES_CUTOFF = config.SERIES_CUTOFF
EDGE_SNAP = config.EDGE_SNAP

# rows of P
P_GNA, P_GK, P_GL, P_ENA, P_EK, P_EL, P_CM, P_VREST, P_PHI, P_BIAS, P_AMP, P_THR = range(12)
NP = 12
# rows of ic
I_ARMED, I_COUNT, I_WCOUNT, I_DIVSTEP = range(4)
NI = 4
# rows of fo
F_FIRST, F_WFIRST, F_WLAST, F_WISI2, F_DIVT = range(5)
NF = 5

INLINE = dict(inline="always", cache=True, fastmath=config.FASTMATH)


@njit(**INLINE)
def z_over_expm1(z):
    """z / (exp(z) - 1) with the removable singularity at z = 0 taken by its Taylor series
    (see ``config.SERIES_CUTOFF`` for the cut-off's error budget)."""
    if abs(z) < SERIES_CUTOFF:
        z2 = z * z
        return 1.0 - 0.5 * z + z2 / 12.0 - z2 * z2 / 720.0
    return z / (math.exp(z) - 1.0)


@njit(**INLINE)
def rates(V, Vr, phi):
    """(αn, βn, αm, βm, αh, βh) in 1/ms at V (mV) for rest Vr and temperature factor phi."""
    u = V - Vr
    an = 0.1 * z_over_expm1(1.0 - 0.1 * u)
    bn = 0.125 * math.exp(-u / 80.0)
    am = z_over_expm1(2.5 - 0.1 * u)
    bm = 4.0 * math.exp(-u / 18.0)
    ah = 0.07 * math.exp(-0.05 * u)
    bh = 1.0 / (math.exp(3.0 - 0.1 * u) + 1.0)
    return phi * an, phi * bn, phi * am, phi * bm, phi * ah, phi * bh


@njit(**INLINE)
def rhs(V, n, m, h, I, P, i):
    """HH right-hand side for neuron ``i`` at current I (µA/cm²): (dV, dn, dm, dh) per ms."""
    an, bn, am, bm, ah, bh = rates(V, P[P_VREST, i], P[P_PHI, i])
    m3h = m * m * m * h
    n4 = (n * n) * (n * n)
    i_ion = (
        P[P_GNA, i] * m3h * (V - P[P_ENA, i])
        + P[P_GK, i] * n4 * (V - P[P_EK, i])
        + P[P_GL, i] * (V - P[P_EL, i])
    )
    return (
        (I - i_ion) / P[P_CM, i],
        an * (1.0 - n) - bn * n,
        am * (1.0 - m) - bm * m,
        ah * (1.0 - h) - bh * h,
    )


# -- stimulus -----------------------------------------------------------------------------------
@njit(**INLINE)
def shape_over_step(tb, c0, c1, j, seg, ta, dt):
    """Stimulus shape of table ``j`` seen by the step [ta, ta + dt] (the edge rule of
    :mod:`hhfast.stimulus`).  ``seg`` is the piece in force at the previous step's start.

    Returns ``(seg, s_start, s_mid, s_end)``.
    """
    snap = EDGE_SNAP * dt
    while tb[j, seg + 1] <= ta + snap:
        seg += 1
    te = ta + dt
    if tb[j, seg + 1] < te - snap:
        # a breakpoint strictly inside the step: every stage sees the step mean (exact charge)
        acc = 0.0
        k = seg
        lo = ta
        while True:
            hi = min(tb[j, k + 1], te)
            acc += (hi - lo) * (c0[j, k] + 0.5 * c1[j, k] * (hi + lo))
            if tb[j, k + 1] >= te:
                break
            k += 1
            lo = hi
        mean = acc / dt
        return seg, mean, mean, mean
    a = c0[j, seg]
    b = c1[j, seg]
    return seg, a + b * ta, a + b * (ta + 0.5 * dt), a + b * te


@njit(**INLINE)
def block_current(P, i0, tidx, tb, c0, c1, seg, uniform, ta, dt, I):
    """Fill ``I[0..2, lane]`` with the current (µA/cm²) at the start, middle and end of the step
    for the lanes of the block starting at neuron ``i0``; ``seg`` holds each lane's piece."""
    if uniform:
        s, sa, sm, se = shape_over_step(tb, c0, c1, tidx[i0], seg[0], ta, dt)
        seg[0] = s
        for l in range(BLOCK):
            i = i0 + l
            I[0, l] = P[P_BIAS, i] + P[P_AMP, i] * sa
            I[1, l] = P[P_BIAS, i] + P[P_AMP, i] * sm
            I[2, l] = P[P_BIAS, i] + P[P_AMP, i] * se
    else:
        for l in range(BLOCK):
            i = i0 + l
            s, sa, sm, se = shape_over_step(tb, c0, c1, tidx[i], seg[l], ta, dt)
            seg[l] = s
            I[0, l] = P[P_BIAS, i] + P[P_AMP, i] * sa
            I[1, l] = P[P_BIAS, i] + P[P_AMP, i] * sm
            I[2, l] = P[P_BIAS, i] + P[P_AMP, i] * se


# -- block set-up and tear-down -----------------------------------------------------------------
@njit(**INLINE)
def block_load(y, ic, tidx, i0, st, alive, seg):
    """Copy the block's state into lane arrays; returns whether all lanes share a stimulus."""
    uniform = True
    for l in range(BLOCK):
        i = i0 + l
        for v in range(4):
            st[v, l] = y[v, i]
        alive[l] = ic[I_DIVSTEP, i] < 0
        seg[l] = 0
        if tidx[i] != tidx[i0]:
            uniform = False
    return uniform


@njit(**INLINE)
def block_store(y, i0, st):
    for l in range(BLOCK):
        for v in range(4):
            y[v, i0 + l] = st[v, l]


@njit(**INLINE)
def record_block(rec, rec_slot, rec_var, i0, s, st):
    for l in range(BLOCK):
        c = rec_slot[i0 + l]
        if c >= 0:
            for r in range(rec_var.shape[0]):
                rec[r, s, c] = st[rec_var[r], l]


# -- events: blow-up, spikes, re-arming ---------------------------------------------------------
@njit(**INLINE)
def scan_block(P, ic, i0, st, alive):
    """Vectorisable test: does any lane need the scalar event handler after this step?"""
    ev = 0
    for l in range(BLOCK):
        i = i0 + l
        V = st[0, l]
        finite = (
            abs(V) < math.inf
            and abs(st[1, l]) < math.inf
            and abs(st[2, l]) < math.inf
            and abs(st[3, l]) < math.inf
        )
        above = V >= P[P_THR, i]
        armed = ic[I_ARMED, i] != 0
        hit = (not finite) or (armed == above)
        ev |= alive[l] & hit
    return ev


@njit(**INLINE)
def hermite_root(V0, V1, D0, D1, dt, thr):
    """Fraction s in [0, 1] of the step where the cubic Hermite interpolant through
    (V0, dt*D0) and (V1, dt*D1) crosses ``thr`` upward (V0 < thr <= V1).  Safeguarded Newton:
    the cubic keeps RK4's O(dt^4) accuracy, a linear interpolant would cap it at O(dt^2)."""
    lo, hi = 0.0, 1.0
    d0 = dt * D0
    d1 = dt * D1
    s = (thr - V0) / (V1 - V0)
    for _ in range(60):
        s2 = s * s
        s3 = s2 * s
        h00 = 2 * s3 - 3 * s2 + 1
        h10 = s3 - 2 * s2 + s
        h01 = -2 * s3 + 3 * s2
        h11 = s3 - s2
        f = h00 * V0 + h10 * d0 + h01 * V1 + h11 * d1 - thr
        if f < 0:
            lo = s
        else:
            hi = s
        df = (6 * s2 - 6 * s) * V0 + (3 * s2 - 4 * s + 1) * d0 + (6 * s - 6 * s2) * V1
        df += (3 * s2 - 2 * s) * d1
        sn = s - f / df if df != 0 else 0.5 * (lo + hi)
        if not (lo < sn < hi):
            sn = 0.5 * (lo + hi)
        if abs(sn - s) < 1e-15 or hi - lo < 1e-15:
            return sn
        s = sn
    return s


@njit(**INLINE)
def handle_events(P, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, alive, I):
    """Scalar pass over the lanes of a block after step ``k``: freeze and flag lanes whose state
    stopped being finite, record upward threshold crossings, re-arm lanes that fell below."""
    for l in range(BLOCK):
        if not alive[l]:
            continue
        i = i0 + l
        V = st[0, l]
        finite = (
            abs(V) < math.inf
            and abs(st[1, l]) < math.inf
            and abs(st[2, l]) < math.inf
            and abs(st[3, l]) < math.inf
        )
        if not finite:
            for v in range(4):
                st[v, l] = prev[v, l]
            alive[l] = False
            ic[I_DIVSTEP, i] = k
            fo[F_DIVT, i] = t0 + (k + 1) * dt
            continue
        thr = P[P_THR, i]
        if ic[I_ARMED, i] != 0:
            if V >= thr:
                V0 = prev[0, l]
                D0 = rhs(V0, prev[1, l], prev[2, l], prev[3, l], I[0, l], P, i)[0]
                D1 = rhs(V, st[1, l], st[2, l], st[3, l], I[2, l], P, i)[0]
                ts = t0 + (k + hermite_root(V0, V, D0, D1, dt, thr)) * dt
                c = ic[I_COUNT, i]
                if c < spikes.shape[1]:
                    spikes[i, c] = ts
                if c == 0:
                    fo[F_FIRST, i] = ts
                ic[I_COUNT, i] = c + 1
                if win0 <= ts < win1:
                    w = ic[I_WCOUNT, i]
                    if w == 0:
                        fo[F_WFIRST, i] = ts
                    else:
                        isi = ts - fo[F_WLAST, i]
                        fo[F_WISI2, i] += isi * isi
                    fo[F_WLAST, i] = ts
                    ic[I_WCOUNT, i] = w + 1
                ic[I_ARMED, i] = 0
        elif V < thr:
            ic[I_ARMED, i] = 1
