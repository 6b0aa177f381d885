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

import numpy as np
from numba import njit, prange

from .. import config
from .fastexp import (
    exp_arg_max,
    like,
    prefer_wide_vectors,
    rate_arg_max,
    select,
    series_cutoff,
    vexp_below,
)

BLOCK = config.BLOCK
EDGE_SNAP = config.EDGE_SNAP

# rows of P (P_ICM is 1/Cm, so the right-hand side multiplies instead of dividing; P_REARM is
# the re-arm level, threshold minus the re-arm margin, docs/architecture.md §3)
(P_GNA, P_GK, P_GL, P_ENA, P_EK, P_EL, P_ICM, P_VREST, P_PHI, P_BIAS, P_AMP, P_THR,
 P_REARM) = range(13)
NP = 13
# rows of ic
I_ARMED, I_COUNT, I_WCOUNT, I_DIVSTEP = range(4)
NI = 4
# rows of fo
F_FIRST, F_WFIRST, F_WLAST, F_WISI2, F_DIVT = range(5)
NF = 5

INLINE = dict(inline="always", cache=True, fastmath=config.FASTMATH)

E1 = math.exp(1.0)
E25 = math.exp(2.5)
E3 = math.exp(3.0)


@njit(**INLINE)
def x_over_expm1_series(z):
    """z / (e^z - 1) near z = 0 by its series to the z^8 term (Bernoulli numbers; error
    < 2.1e-8 |z|^10, see ``config.KERNEL_SERIES_CUTOFF64``)."""
    z2 = z * z
    even = like(z, 1.0) + z2 * (like(z, 1.0 / 12.0) + z2 * (like(z, -1.0 / 720.0) + z2 * (
        like(z, 1.0 / 30240.0) + z2 * like(z, -1.0 / 1209600.0))))
    return even - like(z, 0.5) * z


@njit(**INLINE)
def rates_unscaled(V, Vr):
    """(αn, βn, αm, βm, αh, βh) in 1/ms at V (mV) for rest Vr, before the temperature factor.

    Written to vectorise and to do little work: two exponentials instead of six.
    F = e^(-u/80) gives βn; its square e^(-u/40), its fourth power e^(-u/20) (αh) and its
    eighth power E = e^(-u/10); the exponentials e^((10-u)/10), e^((25-u)/10) and
    e^((30-u)/10) of αn, αm and βh are constants times E; βm needs its own e^(-u/18).  The
    three divisions share one reciprocal.  The removable 0/0 of αn at u = 10 mV and αm at
    u = 25 mV is taken by one series evaluation (the two are never both near zero; the zero
    denominator is replaced by 1 in the shared product, so the other rates stay exact
    there).  Three squarings multiply F's relative error by 8 (E is within ~8 ulp, 2e-15, of
    e^(-u/10); measured against :func:`hhfast.model.rates` in ``tests/test_kernel_rates.py``).
    The exponent of F is capped above (``rate_arg_max``: u below -2000 mV in float64, -250 mV
    in float32, far outside any trajectory that has not already diverged) so that the shared
    product cannot overflow; G's at the largest finite exponential (βm saturates instead of
    becoming inf below -12700 mV, -1580 mV in float32).
    """
    u = V - Vr
    cap = rate_arg_max(u)
    a = u * like(u, -0.0125)                     # -u/80
    F = vexp_below(select(a > cap, cap, a))      # e^(-u/80)
    b = u * like(u, -1.0 / 18.0)
    G = vexp_below(select(b > exp_arg_max(u), exp_arg_max(u), b))  # e^(-u/18)
    F2 = F * F                                   # e^(-u/40)
    F4 = F2 * F2                                 # e^(-u/20)
    E = F4 * F4                                  # e^(-u/10)
    one = like(u, 1.0)
    zn = one + u * like(u, -0.1)                 # (10 - u)/10
    zm = like(u, 2.5) + u * like(u, -0.1)        # (25 - u)/10
    dn = like(u, E1) * E - one                   # e^zn - 1
    dm = like(u, E25) * E - one                  # e^zm - 1
    dh = like(u, E3) * E + one                   # e^((30 - u)/10) + 1
    small_n = abs(zn) < series_cutoff(u)
    small_m = abs(zm) < series_cutoff(u)
    ser = x_over_expm1_series(select(small_n, zn, zm))
    dn_s = select(small_n, one, dn)
    dm_s = select(small_m, one, dm)
    R = one / (dn_s * dm_s * dh)
    an = like(u, 0.1) * select(small_n, ser, zn * (dm_s * dh * R))
    am = select(small_m, ser, zm * (dn_s * dh * R))
    bh = dn_s * dm_s * R
    return an, like(u, 0.125) * F, am, like(u, 4.0) * G, like(u, 0.07) * F4, bh


@njit(**INLINE)
def rates(V, Vr, phi):
    """(αn, βn, αm, βm, αh, βh) in 1/ms at V (mV) for rest Vr and temperature factor phi
    (see :func:`rates_unscaled`)."""
    an, bn, am, bm, ah, bh = rates_unscaled(V, Vr)
    return phi * an, phi * bn, phi * am, phi * bm, phi * ah, phi * bh


@njit(**INLINE)
def rhs(V, n, m, h, I, pb, l):
    """HH right-hand side for lane ``l`` of a block (parameters ``pb``) at current I
    (µA/cm²): (dV, dn, dm, dh) per ms.  The temperature factor multiplies each gate's
    derivative once instead of each rate."""
    an, bn, am, bm, ah, bh = rates_unscaled(V, pb[P_VREST, l])
    phi = pb[P_PHI, l]
    m3h = m * m * m * h
    n4 = (n * n) * (n * n)
    i_ion = (
        pb[P_GNA, l] * m3h * (V - pb[P_ENA, l])
        + pb[P_GK, l] * n4 * (V - pb[P_EK, l])
        + pb[P_GL, l] * (V - pb[P_EL, l])
    )
    one = like(V, 1.0)
    return (
        (I - i_ion) * pb[P_ICM, l],
        phi * (an * (one - n) - bn * n),
        phi * (am * (one - m) - bm * m),
        phi * (ah * (one - h) - bh * h),
    )


@njit(**INLINE)
def dvdt(V, n, m, h, I, pb, l):
    """dV/dt (mV/ms) of lane ``l`` at current I (µA/cm²): the V row of :func:`rhs` alone."""
    m3h = m * m * m * h
    n4 = (n * n) * (n * n)
    i_ion = (
        pb[P_GNA, l] * m3h * (V - pb[P_ENA, l])
        + pb[P_GK, l] * n4 * (V - pb[P_EK, l])
        + pb[P_GL, l] * (V - pb[P_EL, l])
    )
    return (I - i_ion) * pb[P_ICM, l]


@njit(**INLINE)
def gates_frozen_v(Vf, n, m, h, pb, l, dt):
    """The gates advanced exactly over ``dt`` ms with V frozen at ``Vf`` (mV):
    x∞ + (x − x∞)·e^(−dt·φ·(αx + βx)), x∞ = αx/(αx + βx) at Vf (the Rush–Larsen update).

    One division for the three reciprocals; x∞ is capped at 1 (the shared reciprocal can
    round it one ulp above), so each update is a convex combination and stays in [0, 1]."""
    an, bn, am, bm, ah, bh = rates_unscaled(Vf, pb[P_VREST, l])
    one = like(Vf, 1.0)
    hp = like(Vf, dt) * pb[P_PHI, l]
    sn, sm, sh = an + bn, am + bm, ah + bh
    snm = sn * sm
    R = one / (snm * sh)
    shR = sh * R
    ninf = an * (sm * shR)
    minf = am * (sn * shR)
    hinf = ah * (snm * R)
    ninf = select(ninf > one, one, ninf)
    minf = select(minf > one, one, minf)
    hinf = select(hinf > one, one, hinf)
    return (ninf + (n - ninf) * vexp_below(-hp * sn),
            minf + (m - minf) * vexp_below(-hp * sm),
            hinf + (h - hinf) * vexp_below(-hp * sh))


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
def block_current(pb, tidx, i0, tb, c0, c1, seg, uniform, ta, dt, I, last):
    """Fill ``I[0..2, lane]`` with the current (µA/cm²) at the start, middle and end of the step
    for the lanes of the block starting at neuron ``i0``; ``seg`` holds each lane's piece.
    When all lanes share a stimulus, ``last`` caches the shape values of the previous step
    (the lane loop is skipped while they do not change) and, in ``last[3]``, the last step
    start for which they cannot change (inside a constant piece), so most steps of a
    piecewise-constant stimulus cost one comparison here."""
    if uniform:
        if ta <= last[3]:  # still inside the same constant piece: nothing to recompute
            return
        j = tidx[i0]
        s, sa, sm, se = shape_over_step(tb, c0, c1, j, seg[0], ta, dt)
        seg[0] = s
        # steps starting at or before last[3] see the same constant value (no edge inside
        # them, the while loop of shape_over_step does not advance); a margin of 1e-6 dt
        # keeps borderline steps on the full path whatever the rounding
        last[3] = tb[j, s + 1] - dt * (1.0 + 1e-6) if c1[j, s] == 0.0 else -math.inf
        if sa == last[0] and sm == last[1] and se == last[2]:
            return
        last[0], last[1], last[2] = sa, sm, se
        for l in range(BLOCK):
            I[0, l] = pb[P_BIAS, l] + pb[P_AMP, l] * sa
            I[1, l] = pb[P_BIAS, l] + pb[P_AMP, l] * sm
            I[2, l] = pb[P_BIAS, l] + pb[P_AMP, l] * se
    else:
        for l in range(BLOCK):
            s, sa, sm, se = shape_over_step(tb, c0, c1, tidx[i0 + l], seg[l], ta, dt)
            seg[l] = s
            I[0, l] = pb[P_BIAS, l] + pb[P_AMP, l] * sa
            I[1, l] = pb[P_BIAS, l] + pb[P_AMP, l] * sm
            I[2, l] = pb[P_BIAS, l] + pb[P_AMP, l] * se


# -- block set-up and tear-down -----------------------------------------------------------------
@njit(**INLINE)
def block_load(y, P, ic, tidx, i0, pb, st, armed, alive, seg):
    """Copy the block's parameters and state into block-local lane arrays (contiguous, not
    aliased with anything, so the lane loops vectorise); returns whether all lanes share a
    stimulus table."""
    uniform = True
    for l in range(BLOCK):
        i = i0 + l
        for r in range(NP):
            pb[r, l] = P[r, i]
        for v in range(4):
            st[v, l] = y[v, i]
        armed[l] = ic[I_ARMED, i] != 0
        alive[l] = ic[I_DIVSTEP, i] < 0
        seg[l] = 0
        if tidx[i] != tidx[i0]:
            uniform = False
    return uniform


@njit(**INLINE)
def block_store(y, ic, i0, st, fz, armed, alive):
    """Write the block's final state back (the frozen state for diverged lanes)."""
    for l in range(BLOCK):
        for v in range(4):
            y[v, i0 + l] = st[v, l] if alive[l] else fz[v, l]
        ic[I_ARMED, i0 + l] = 1 if armed[l] else 0


@njit(**INLINE)
def record_block(rec, rec_slot, rec_var, i0, s, st, fz, alive):
    """Store sample ``s`` of the recorded variables (the frozen state for diverged lanes)."""
    for l in range(BLOCK):
        c = rec_slot[i0 + l]
        if c >= 0:
            for r in range(rec_var.shape[0]):
                rec[r, s, c] = st[rec_var[r], l] if alive[l] else fz[rec_var[r], l]


@njit(**INLINE)
def block_scratch(y):
    """Block-local arrays in the kernel's float type: parameters, state, state before the
    step, frozen state of diverged lanes, stage currents, armed/alive flags, stimulus
    pieces, last stimulus shape values.  Called inside the ``prange`` body, it also marks the
    function Numba outlines for that body to use 512-bit vectors."""
    prefer_wide_vectors()
    pb = np.empty((NP, BLOCK), y.dtype)
    st = np.empty((4, BLOCK), y.dtype)
    prev = np.empty((4, BLOCK), y.dtype)
    fz = np.empty((4, BLOCK), y.dtype)
    I = np.empty((3, BLOCK), y.dtype)
    armed = np.empty(BLOCK, np.bool_)
    alive = np.empty(BLOCK, np.bool_)
    seg = np.empty(BLOCK, np.int64)
    last = np.full(4, np.nan)
    last[3] = -np.inf
    return pb, st, prev, fz, I, armed, alive, seg, last


# -- events: blow-up, spikes, re-arming ---------------------------------------------------------
@njit(**INLINE)
def is_finite4(st, l):
    return (
        abs(st[0, l]) < math.inf
        and abs(st[1, l]) < math.inf
        and abs(st[2, l]) < math.inf
        and abs(st[3, l]) < math.inf
    )


@njit(**INLINE)
def lane_event(V, n, m, h, thr, rearm, armed, alive):
    """Does this lane need the scalar event handler after its step (blow-up, crossing of
    ``thr`` while armed, re-arming below ``rearm`` while disarmed: the hysteresis rule of
    docs/architecture.md §3)?  Branch-free (bitwise operators), so the lane loop that
    OR-accumulates it still vectorises."""
    finite = (abs(V) < math.inf) & (abs(n) < math.inf) & (abs(m) < math.inf) & (
        abs(h) < math.inf)
    hit = (~finite) | (armed & (V >= thr)) | ((~armed) & (V < rearm))
    return alive & hit


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
def count_spike(ic, fo, spikes, i, ts, win0, win1):
    """Book a spike of neuron ``i`` at ``ts`` (ms): count, stored times, first spike and the
    window statistics (for the fixed-step kernels' event pass, and for the adaptive kernels,
    which find ``ts`` from their own continuous extension)."""
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


@njit(**INLINE)
def freeze_lane(ic, fo, fz, prev, alive, l, i, k, t0, dt):
    """Lane ``l`` (neuron ``i``) stopped being finite at step ``k``: keep its state before the
    step in ``fz``, mark it dead, record the step and the time of the blow-up."""
    for v in range(4):
        fz[v, l] = prev[v, l]
    alive[l] = False
    ic[I_DIVSTEP, i] = k
    fo[F_DIVT, i] = t0 + (k + 1) * dt


@njit(**INLINE)
def handle_events(pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, fz, armed, alive,
                  I, linear):
    """Scalar pass over the lanes of a block after step ``k``: freeze (into ``fz``) and flag
    lanes whose state stopped being finite, record upward threshold crossings of armed lanes
    (and disarm them), re-arm lanes that fell below the re-arm level ``P_REARM`` (threshold
    minus the margin: docs/architecture.md §3).
    Spike times are computed in float64 whatever the kernel's float type: the cubic Hermite
    root of the step (:func:`hermite_root`, from the right-hand side at both ends), or with
    ``linear`` (a constant: the channel-noise kernels, whose paths are not smooth and whose
    state rows are open fractions) the linear interpolation of V."""
    for l in range(BLOCK):
        if not alive[l]:
            continue
        i = i0 + l
        if not is_finite4(st, l):
            freeze_lane(ic, fo, fz, prev, alive, l, i, k, t0, dt)
            continue
        V = st[0, l]
        thr = pb[P_THR, l]
        if armed[l]:
            if V >= thr:
                V0 = prev[0, l]
                if linear:
                    Va, Vb = np.float64(V0), np.float64(V)
                    s = (np.float64(thr) - Va) / (Vb - Va) if Vb > Va else 1.0
                else:
                    D0 = rhs(V0, prev[1, l], prev[2, l], prev[3, l], I[0, l], pb, l)[0]
                    D1 = rhs(V, st[1, l], st[2, l], st[3, l], I[2, l], pb, l)[0]
                    s = hermite_root(np.float64(V0), np.float64(V), np.float64(D0),
                                     np.float64(D1), dt, np.float64(thr))
                count_spike(ic, fo, spikes, i, t0 + (k + s) * dt, win0, win1)
                armed[l] = False
        elif V < pb[P_REARM, l]:
            armed[l] = True


@njit(**INLINE)
def end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, fz, armed, alive, I,
                rec, rec_slot, rec_var, record_every, rec_left, linear=False):
    """What every kernel does after its lane loop: the scalar event pass when the lane loop
    flagged one (``ev``; ``linear`` as in :func:`handle_events`), then recording every
    ``record_every`` steps (a countdown, not a modulo).  Returns the new countdown."""
    if ev:
        handle_events(pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, fz, armed, alive, I,
                      linear)
    rec_left -= 1
    if rec_left == 0:
        rec_left = record_every
        record_block(rec, rec_slot, rec_var, i0, (k + 1) // record_every, st, fz, alive)
    return rec_left


# -- the block driver every fixed-step method runs ----------------------------------------------
@njit(**INLINE)
def drive_fixed(step, y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec,
                rec_slot, rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` with the lane step
    ``step`` (the arrays are described in the module docstring).

    ``step(V, n, m, h, I0, I1, I2, pb, l, dt)`` is a method's one-step map for lane ``l``:
    state at the step's start, the stimulus current (µA/cm²) at the step's start, middle and
    end (the edge rule of :func:`shape_over_step`), the block's parameters and the step in the
    kernel's float type; it returns the state at the step's end.  It is an
    ``@njit(inline="always")`` function passed as an argument: Numba specialises this driver
    for it and LLVM inlines it into the lane loop, so the loop has no calls and vectorises,
    while the method's ``run`` stays a module-level function that Numba caches on disk.
    """
    h = like(y[0, 0], dt)
    for b in prange(y.shape[1] // BLOCK):
        i0 = b * BLOCK
        pb, st, prev, fz, I, armed, alive, seg, last = block_scratch(y)
        uniform = block_load(y, P, ic, tidx, i0, pb, st, armed, alive, seg)
        rec_left = record_every
        for k in range(n_steps):
            block_current(pb, tidx, i0, tb, c0, c1, seg, uniform, t0 + k * dt, dt, I, last)
            ev = False
            for l in range(BLOCK):  # the vectorised lane loop: no branches, no calls
                V, n, m, g = st[0, l], st[1, l], st[2, l], st[3, l]
                prev[0, l], prev[1, l], prev[2, l], prev[3, l] = V, n, m, g
                V1, n1, m1, g1 = step(V, n, m, g, I[0, l], I[1, l], I[2, l], pb, l, h)
                # every lane is advanced, diverged ones too (their frozen state is in fz);
                # a per-lane select here made LLVM branch around the update and give up
                st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
                ev |= lane_event(V1, n1, m1, g1, pb[P_THR, l], pb[P_REARM, l], armed[l],
                                 alive[l])
            rec_left = end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev,
                                   fz, armed, alive, I, rec, rec_slot, rec_var, record_every,
                                   rec_left)
        block_store(y, ic, i0, st, fz, armed, alive)
