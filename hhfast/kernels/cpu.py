"""The CPU backend's kernels: blocks of ``config.BLOCK`` lanes, one driver for every
fixed-step method and every combination of terms, and the table of compiled kernels
(docs/architecture.md §3).

Layout.  Neurons are processed in blocks of ``BLOCK`` lanes: ``prange`` over the blocks
``[b.blk0, b.blk1)``, the time loop inside, and inside that a lane loop with a constant trip
count that LLVM vectorises.  Rare
work (a threshold crossing, a re-arm, a blow-up, a sample to record, a change of the stimulus)
is detected by a cheap vectorisable scan and done in a called scalar function afterwards.  The
batch is padded by the engine to a multiple of ``BLOCK``, so every neuron runs through the same
code path: a neuron's result does not depend on its position, its batch, the chunking or the
thread count.  The arrays are those of :mod:`.layout`; a kernel is ``kernel(batch, *terms)``.

One driver.  :func:`drive` advances a batch with a method's lane ``step`` (``hh.py`` physics,
one file per method) and the terms (:mod:`.terms`): none (deterministic), current noise, or
channel noise with current noise.  The terms' code is chosen by their
types when Numba compiles the kernel, so a run without a term has the machine code it had
before terms existed (bitwise the same results, measured the same speed).

Compiled kernels.  Numba caches a kernel on disk only if it is a module-level function that
names its step as a global (a step passed as an argument to a cached function misses the cache
in every new process: measured), so the built-in (method, terms) pairs are the two-line
functions at the end of this module, looked up by :func:`kernel`.  A method registered from
outside hhfast gets its kernels from :func:`_build`, compiled once per process.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import config
from . import euler, expeuler, heun, rk4, rl2, rush_larsen
from .fastexp import like, prefer_wide_vectors
from .hh import rhs
from .layout import (
    F_DIVT,
    F_FIRST,
    F_WFIRST,
    F_WISI2,
    F_WLAST,
    I_ARMED,
    I_COUNT,
    I_DIVSTEP,
    I_WCOUNT,
    NP,
    P_AMP,
    P_BIAS,
    P_REARM,
    P_THR,
)
from .options import COLD, INLINE, KERNEL
from .terms import (
    as_tuple,
    term_close,
    term_currents,
    term_kick,
    term_lane,
    term_linear,
    term_open,
    term_step,
)
from .terms import channel as channel_models
from .terms.features import feat_close, feat_lane, feat_open, feat_sample

BLOCK = config.BLOCK
EDGE_SNAP = config.EDGE_SNAP


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
    piecewise-constant stimulus cost one comparison here, and the rest a call."""
    if uniform and ta <= last[3]:  # still inside the same constant piece: nothing to recompute
        return
    block_current_update(pb, tidx, i0, tb, c0, c1, seg, uniform, ta, dt, I, last)


@njit(**COLD)
def block_current_update(pb, tidx, i0, tb, c0, c1, seg, uniform, ta, dt, I, last):
    """The work of :func:`block_current` when the current may have changed."""
    if uniform:
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
@njit(**COLD)
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


@njit(**COLD)
def block_store(y, ic, i0, st, fz, armed, alive):
    """Write the block's final state back (the frozen state for diverged lanes)."""
    for l in range(BLOCK):
        for v in range(4):
            y[v, i0 + l] = st[v, l] if alive[l] else fz[v, l]
        ic[I_ARMED, i0 + l] = 1 if armed[l] else 0


@njit(**INLINE)
def record_lane(rec, rec_slot, rec_var, l, i, s, st, fz, alive):
    """Store sample ``s`` of the recorded variables of lane ``l`` (neuron ``i``; the frozen
    state when it diverged).  Per lane, so that the CUDA driver (one thread, ``l = 0``) runs
    the same code (docs/architecture.md §3.3)."""
    c = rec_slot[i]
    if c >= 0:
        for r in range(rec_var.shape[0]):
            rec[r, s, c] = st[rec_var[r], l] if alive[l] else fz[rec_var[r], l]


@njit(**COLD)
def record_block(rec, rec_slot, rec_var, i0, s, st, fz, alive):
    """Store sample ``s`` of the recorded variables (the frozen state for diverged lanes)."""
    for l in range(BLOCK):
        record_lane(rec, rec_slot, rec_var, l, i0 + l, s, st, fz, alive)


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


@njit(**COLD)
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
        lane_events(pb, ic, fo, spikes, l, i0 + l, k, t0, dt, win0, win1, st, prev, fz, armed,
                    alive, I, linear)


@njit(**INLINE)
def lane_events(pb, ic, fo, spikes, l, i, k, t0, dt, win0, win1, st, prev, fz, armed, alive, I,
                linear):
    """The event pass of :func:`handle_events` for lane ``l`` (neuron ``i``): per lane, so
    that the CUDA driver (one thread, ``l = 0``) runs the same rules (docs/architecture.md
    §3.3)."""
    if not alive[l]:
        return
    if not is_finite4(st, l):
        freeze_lane(ic, fo, fz, prev, alive, l, i, k, t0, dt)
        return
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


# -- the one driver -----------------------------------------------------------------------------
@njit(**INLINE)
def drive(step, b, noise, ch, ft):
    """Advance every neuron of batch ``b`` (:class:`.layout.Batch`) ``b.n_steps`` steps of
    ``b.dt`` ms from ``b.t0`` with the lane step ``step`` and the terms ``noise, ch``
    (:mod:`.terms`), booking the features term ``ft`` (:mod:`.terms.features`; ``()``: none)
    after every step (its ring store and crossing test ride in the lane loop).

    ``step(V, n, m, h, I0, I1, I2, pb, l, dt, ts)`` is a method's one-step map for lane ``l``:
    state at the step's start, the current (µA/cm²) at the step's start, middle and end (the
    stimulus by the edge rule of :func:`shape_over_step`, plus what a term adds), the block's
    parameters, the step in the kernel's float type and the terms' block state ``ts``; it
    returns the state at the step's end.  It is a ``HOT`` function (:mod:`.options`): LLVM
    inlines it into the lane loop, which therefore has no calls and vectorises.
    """
    y, P, tidx, tb, c0, c1 = b.y, b.P, b.tidx, b.tb, b.c0, b.c1
    ic, fo, spikes, rec, rec_slot, rec_var = b.ic, b.fo, b.spikes, b.rec, b.rec_slot, b.rec_var
    t0, dt, n_steps, win0, win1, record_every = (b.t0, b.dt, b.n_steps, b.win0, b.win1,
                                                 b.record_every)
    h = like(y[0, 0], dt)
    # plain tuples into the prange (terms docstring)
    noise, ch, ft = as_tuple(noise), as_tuple(ch), as_tuple(ft)
    linear = term_linear(noise, ch)
    for blk in prange(b.blk0, b.blk1):
        i0 = blk * BLOCK
        pb, st, prev, fz, I, armed, alive, seg, last = block_scratch(y)
        uniform = block_load(y, P, ic, tidx, i0, pb, st, armed, alive, seg)
        ts = term_open(noise, ch, y, st, i0, dt)
        fs = feat_open(ft, st, pb, i0, t0, dt)
        rec_left = record_every
        for k in range(n_steps):
            block_current(pb, tidx, i0, tb, c0, c1, seg, uniform, t0 + k * dt, dt, I, last)
            j = term_step(noise, ch, ts, k)
            ev = fev = False
            for l in range(BLOCK):  # the vectorised lane loop: no branches, no calls
                V, n, m, g = st[0, l], st[1, l], st[2, l], st[3, l]
                prev[0, l], prev[1, l], prev[2, l], prev[3, l] = V, n, m, g
                Ia, Ib, Ic, kick = term_lane(ts, j, l, I[0, l], I[1, l], I[2, l])
                V1, n1, m1, g1 = step(V, n, m, g, Ia, Ib, Ic, pb, l, h, ts)
                V1 = term_kick(ts, V1, kick)
                # every lane is advanced, diverged ones too (their frozen state is in fz);
                # a per-lane select here made LLVM branch around the update and give up
                st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
                ev |= lane_event(V1, n1, m1, g1, pb[P_THR, l], pb[P_REARM, l], armed[l],
                                 alive[l])
                fev |= feat_lane(ft, fs, l, k + 1, V1, pb[P_THR, l])
            rec_left = end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev,
                                   fz, armed, alive, term_currents(ts, I), rec, rec_slot, rec_var,
                                   record_every, rec_left, linear)
            feat_sample(ft, fs, st, pb, i0, k + 1, t0, dt, fev)
        block_store(y, ic, i0, st, fz, armed, alive)
        term_close(noise, ch, ts, i0, alive)
        feat_close(ft, fs, i0, n_steps)


# -- the compiled kernels: one per built-in (method, terms) -------------------------------------
# (module docstring, "Compiled kernels"; noise: a NoiseBatch, ch: a ChannelBatch)
@njit(**KERNEL)
def euler_plain(b): drive(euler.step, b, (), (), ())
@njit(**KERNEL)
def euler_noise(b, noise): drive(euler.step, b, noise, (), ())
@njit(**KERNEL)
def heun_plain(b): drive(heun.step, b, (), (), ())
@njit(**KERNEL)
def heun_noise(b, noise): drive(heun.step, b, noise, (), ())
@njit(**KERNEL)
def rk4_plain(b): drive(rk4.step, b, (), (), ())
@njit(**KERNEL)
def rk4_noise(b, noise): drive(rk4.step, b, noise, (), ())
@njit(**KERNEL)
def expeuler_plain(b): drive(expeuler.step, b, (), (), ())
@njit(**KERNEL)
def expeuler_noise(b, noise): drive(expeuler.step, b, noise, (), ())
@njit(**KERNEL)
def rush_larsen_plain(b): drive(rush_larsen.step, b, (), (), ())
@njit(**KERNEL)
def rush_larsen_noise(b, noise): drive(rush_larsen.step, b, noise, (), ())
@njit(**KERNEL)
def rl2_plain(b): drive(rl2.step, b, (), (), ())
@njit(**KERNEL)
def rl2_noise(b, noise): drive(rl2.step, b, noise, (), ())
@njit(**KERNEL)
def channel_full(b, noise, ch): drive(channel_models.step_channel, b, noise, ch, ())
@njit(**KERNEL)
def channel_shielding(b, noise, ch): drive(channel_models.step_shielding, b, noise, ch, ())
@njit(**KERNEL)
def channel_subunit(b, noise, ch): drive(channel_models.step_subunit, b, noise, ch, ())
# the same with the features term (ft: a FeatureBatch), compiled only when a run asks for it
@njit(**KERNEL)
def euler_plain_f(b, ft): drive(euler.step, b, (), (), ft)
@njit(**KERNEL)
def euler_noise_f(b, noise, ft): drive(euler.step, b, noise, (), ft)
@njit(**KERNEL)
def heun_plain_f(b, ft): drive(heun.step, b, (), (), ft)
@njit(**KERNEL)
def heun_noise_f(b, noise, ft): drive(heun.step, b, noise, (), ft)
@njit(**KERNEL)
def rk4_plain_f(b, ft): drive(rk4.step, b, (), (), ft)
@njit(**KERNEL)
def rk4_noise_f(b, noise, ft): drive(rk4.step, b, noise, (), ft)
@njit(**KERNEL)
def expeuler_plain_f(b, ft): drive(expeuler.step, b, (), (), ft)
@njit(**KERNEL)
def expeuler_noise_f(b, noise, ft): drive(expeuler.step, b, noise, (), ft)
@njit(**KERNEL)
def rush_larsen_plain_f(b, ft): drive(rush_larsen.step, b, (), (), ft)
@njit(**KERNEL)
def rush_larsen_noise_f(b, noise, ft): drive(rush_larsen.step, b, noise, (), ft)
@njit(**KERNEL)
def rl2_plain_f(b, ft): drive(rl2.step, b, (), (), ft)
@njit(**KERNEL)
def rl2_noise_f(b, noise, ft): drive(rl2.step, b, noise, (), ft)
@njit(**KERNEL)
def channel_full_f(b, noise, ch, ft): drive(channel_models.step_channel, b, noise, ch, ft)
@njit(**KERNEL)
def channel_shielding_f(b, noise, ch, ft):
    drive(channel_models.step_shielding, b, noise, ch, ft)
@njit(**KERNEL)
def channel_subunit_f(b, noise, ch, ft): drive(channel_models.step_subunit, b, noise, ch, ft)


#: (step, terms) -> cached kernel; terms "plain" (deterministic) or "noise"; a channel model's
#: step has only its "channel" kernel; each with "+features" (the features term last)
KERNELS = {
    (euler.step, "plain"): euler_plain, (euler.step, "noise"): euler_noise,
    (heun.step, "plain"): heun_plain, (heun.step, "noise"): heun_noise,
    (rk4.step, "plain"): rk4_plain, (rk4.step, "noise"): rk4_noise,
    (expeuler.step, "plain"): expeuler_plain, (expeuler.step, "noise"): expeuler_noise,
    (rush_larsen.step, "plain"): rush_larsen_plain, (rush_larsen.step, "noise"): rush_larsen_noise,
    (rl2.step, "plain"): rl2_plain, (rl2.step, "noise"): rl2_noise,
    (channel_models.step_channel, "channel"): channel_full,
    (channel_models.step_shielding, "channel"): channel_shielding,
    (channel_models.step_subunit, "channel"): channel_subunit,
    (euler.step, "plain+features"): euler_plain_f, (euler.step, "noise+features"): euler_noise_f,
    (heun.step, "plain+features"): heun_plain_f, (heun.step, "noise+features"): heun_noise_f,
    (rk4.step, "plain+features"): rk4_plain_f, (rk4.step, "noise+features"): rk4_noise_f,
    (expeuler.step, "plain+features"): expeuler_plain_f,
    (expeuler.step, "noise+features"): expeuler_noise_f,
    (rush_larsen.step, "plain+features"): rush_larsen_plain_f,
    (rush_larsen.step, "noise+features"): rush_larsen_noise_f,
    (rl2.step, "plain+features"): rl2_plain_f, (rl2.step, "noise+features"): rl2_noise_f,
    (channel_models.step_channel, "channel+features"): channel_full_f,
    (channel_models.step_shielding, "channel+features"): channel_shielding_f,
    (channel_models.step_subunit, "channel+features"): channel_subunit_f,
}


def kernel(step, terms: str):
    """The compiled kernel that drives ``step`` with ``terms`` ("plain", "noise" or
    "channel", each optionally with "+features"): the cached one of a built-in step, else one
    compiled for this process."""
    k = KERNELS.get((step, terms))
    if k is None:
        k = KERNELS[(step, terms)] = _build(step, terms)
    return k


def _build(step, terms: str):
    """A kernel for a step registered from outside hhfast (not cached on disk: Numba cannot
    key a cache on a step it did not see as a module global; module docstring)."""
    opts = dict(KERNEL, cache=False)
    base, _, feat = terms.partition("+")
    if base == "plain" and not feat:
        def run(b):
            drive(step, b, (), (), ())
    elif base == "noise" and not feat:
        def run(b, noise):
            drive(step, b, noise, (), ())
    elif not feat:
        def run(b, noise, ch):
            drive(step, b, noise, ch, ())
    elif base == "plain":
        def run(b, ft):
            drive(step, b, (), (), ft)
    elif base == "noise":
        def run(b, noise, ft):
            drive(step, b, noise, (), ft)
    else:
        def run(b, noise, ch, ft):
            drive(step, b, noise, ch, ft)
    return njit(**opts)(run)
