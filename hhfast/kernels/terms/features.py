"""The features term: electrophysiology features accumulated while the neurons run, with no
trace stored (docs/architecture.md §3.2).

A run that asks for features is driven with a third term ``ft`` (a
:class:`~hhfast.kernels.layout.FeatureBatch`); every other run passes ``()``, whose hooks
compile to nothing, so its kernel, machine code and speed are those it had before.

What the term does, per lane, after each step (the sample ``j = k + 1`` at ``t0 + j·dt``;
sample 0, the initial state, at the block's start):

* keeps the last ``config.FEATURE_HISTORY`` samples of V in a ring (block-local), and tests
  for a threshold crossing, inside the driver's vectorised lane loop (:func:`lane_sample`);
* follows eFEL's spike rule (``efel`` ``peak_indices``): a spike runs from an upward crossing
  of the threshold (``V[j-1] < thr < V[j]``) to the next downward one, its peak is the first
  largest sample in between; no hysteresis (that is the engine's own detector, not eFEL's);
* follows eFEL's ``first_min_element`` from each peak: the AHP is the first sample below every
  earlier one (since the peak) that the next two samples do not undercut, or the lowest sample
  before the next spike;
* adds V to the mean and M2 over each window and to the sums over voltage_base's and the
  stimulus end's spans, by segment (the comment above ``EDGE``; block-local, written into
  the accumulators at the block's end).

Per-sample work rides in the driver's lane loop (:func:`lane_sample`); rare work is found
there (a threshold crossing, the fall of a pending half-width) and done in a called scalar
pass (:func:`feature_events`): at a spike's end it finds the AP begin by eFEL's rule
(``AP_begin_indices``: the start of the last run of ``dvdt_window`` samples whose
central-difference dV/dt is at least ``dvdt_thr`` before the peak, searched back to the
previous AHP) in the ring, the amplitude, the half-width's crossings
(``AP_duration_half_width``: the samples nearest half-way between begin and peak on the rise
and the fall), and books the spike into every window that holds its peak time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import overload

from ... import config
from ..layout import (
    A_ADI,
    A_AHPN,
    A_AHPS,
    A_AMPN,
    A_AMPS,
    A_FIRST,
    A_HWN,
    A_HWS,
    A_ISIM2,
    A_ISIMEAN,
    A_ISIN,
    A_LAST,
    A_LASTISI,
    A_N,
    A_R2,
    A_R3,
    A_SSN,
    A_SSS,
    A_VBN,
    A_VBS,
    A_VM2,
    A_VMEAN,
    A_VN,
    FB_A,
    FB_DTHR,
    FB_DWIN,
    FB_WIN,
    P_THR,
    W_SS0,
    W_T0,
    W_T1,
    W_VB0,
    W_VB1,
)
from ..options import COLD, INLINE

BLOCK = config.BLOCK
HIST = config.FEATURE_HISTORY
MASK = HIST - 1
#: the lane loop writes V into a small stage (rows ``HIST .. HIST + STAGE`` of the ring's
#: array: 8 KiB in float64, in L1), copied into the ring every ``STAGE`` samples and before
#: every scalar pass; a store per sample straight into the 256 KiB ring missed L1 every time
#: and cost 0.09 of a plain euler step (measured)
STAGE = 64
SMASK = STAGE - 1
PREC = config.FEATURE_TIME_PRECISION
_OPTS = dict(inline="always", jit_options=dict(fastmath=config.FASTMATH))

#: rows of the block state ``S`` (float64, ``[NSF + NWR·nw, BLOCK]``), first per lane:
#: above the threshold (0/1), inside a spike (an upward crossing seen), the running peak (V,
#: sample), the running AHP tracker (V, sample, samples since its last new low, done 0/1), a
#: finished spike whose AHP is still open (0/1) and its peak time, the AP-begin search's
#: lower bound (the last AHP's sample, -1: none), a pending half-width fall (the half level
#: h, NaN: none; rise time; peak time), the segment's shift and sums (below); then the
#: block's scalars ``S[S_K, K_*]``
(S_AB, S_IN, S_PKV, S_PKI, S_MNV, S_MNI, S_MNC, S_MND, S_HAS, S_PKT, S_LB, S_HP, S_RT,
 S_PT, S_C, S_S1, S_S2, S_K) = range(18)
NSF = 18
#: the block's scalars: the segment's sample count; the time (ms) from which the next
#: sample may cross a window edge (:func:`next_edge`); the last sample copied from the
#: stage into the ring (``STAGE``)
K_N, K_EDGE, K_RING = range(3)
#: then ``NWR`` rows per window ``w`` from row ``NSF + NWR·w``: its sums per lane, Welford
#: mean and M2 of V over [t0, t1) and the sums over voltage_base's and the stimulus end's
#: spans (rows ``M_*``), and a row of scalars (``M_K``): the three spans' sample counts
#: (columns ``C_*``) and whether the current segment is inside each (columns ``3 + C_*``,
#: 1.0 inside)
M_MEAN, M_M2, M_VB, M_SS, M_K = range(5)
NWR = 5
C_V, C_VB, C_SS = range(3)
#: how near (ms) a sample must come to a window edge to be tested against it: ten times the
#: precision the window tests allow, far above the rounding of t0 + j·dt (~1e-13 ms), far
#: below any usable dt
EDGE = 10.0 * PREC

# The window sums are kept by segment.  The driver's lane loop adds every sample's
# d = V - c and d² into S_S1, S_S2 (the shift c, S_C, is V where the segment began, so the
# sums stay small and S2 - S1²/n keeps its digits).  A segment is a run of samples inside
# the same spans; where the next sample enters or leaves one (a few times per run), the
# segment's sums go into each span it was inside (Chan et al.'s merge for the moments) and
# a new segment starts.  Per sample: three loads, two stores and three flops per lane in
# the vectorised lane loop, and one comparison per block (the next edge); a loop over the
# windows at every sample cost 0.2 of a plain euler step (measured).


# -- block state --------------------------------------------------------------------------------
@njit(**INLINE)
def feature_scratch(ft, st):
    """The block state ``(hist, S)``, allocated where the driver's other block-local arrays
    are (inlined into its ``prange`` body), so LLVM knows they alias nothing and the lane
    loops over them vectorise (a called allocator hid that: the loop stayed scalar).  Two
    arrays, no more: every array the time loop passes to a called function cost speed,
    taken or not (four more cost 0.1 of a plain euler step: measured)."""
    nw = ft[FB_WIN].shape[0]
    return np.empty((HIST + STAGE, BLOCK), st.dtype), np.zeros((NSF + NWR * nw, BLOCK))


@njit(**COLD)
def feature_open(ft, fs, st, pb, t0, dt):
    """Start the block state ``fs`` with sample 0 (the initial state in ``st``; the samples
    ``dt`` ms apart from ``t0``)."""
    hist, S = fs
    for l in range(BLOCK):
        V = st[0, l]
        hist[0, l] = V
        S[S_C, l] = np.float64(V)  # sample 0 is the segment's first: d = 0
        S[S_AB, l] = 1.0 if V > pb[P_THR, l] else 0.0
        S[S_PKV, l] = -math.inf
        S[S_MNV, l] = np.float64(V)
        S[S_LB, l] = -1.0
        S[S_HP, l] = math.nan
    win = ft[FB_WIN]
    for w in range(win.shape[0]):
        k = NSF + NWR * w + M_K
        S[k, 3 + C_V], S[k, 3 + C_VB], S[k, 3 + C_SS] = inside(win, w, t0)
    S[S_K, K_N] = 1.0
    S[S_K, K_EDGE] = next_edge(win, t0)
    if t0 + dt >= S[S_K, K_EDGE]:
        at_edge(win, S, hist, 0, t0 + dt)


@njit(**INLINE)
def inside(win, w, t):
    """Whether ``t`` ms is in window ``w``'s three spans (1.0 or 0.0, in the order of
    ``C_*``): [t0, t1) for the moments, voltage_base's [vb0, vb1] (eFEL's end tolerance),
    the stimulus end's [ss0, t1)."""
    return (1.0 if win[w, W_T0] <= t < win[w, W_T1] else 0.0,
            1.0 if win[w, W_VB0] <= t and t - win[w, W_VB1] < PREC else 0.0,
            1.0 if win[w, W_SS0] <= t < win[w, W_T1] else 0.0)


@njit(**COLD)
def at_edge(win, S, hist, j, t):
    """Near a window edge, before the sample at ``t`` ms (after sample ``j``): if it enters
    or leaves a span, the segment ends (:func:`flush`) and the next one starts at the lanes'
    V of sample ``j`` (in the ring); then the next edge."""
    nw = win.shape[0]
    changed = False
    for w in range(nw):
        a, b, c = inside(win, w, t)
        k = NSF + NWR * w + M_K
        changed |= (a != S[k, 3 + C_V]) | (b != S[k, 3 + C_VB]) | (c != S[k, 3 + C_SS])
    if changed:
        flush(nw, S)
        for l in range(BLOCK):
            S[S_C, l] = np.float64(hist[j & MASK, l])
            S[S_S1, l] = 0.0
            S[S_S2, l] = 0.0
        S[S_K, K_N] = 0.0
        for w in range(nw):
            k = NSF + NWR * w + M_K
            S[k, 3 + C_V], S[k, 3 + C_VB], S[k, 3 + C_SS] = inside(win, w, t)
    S[S_K, K_EDGE] = next_edge(win, t)


@njit(**COLD)
def next_edge(win, t):
    """The time (ms) from which the next sample after ``t`` may enter or leave a span: the
    nearest edge not yet passed by ``EDGE``, less ``EDGE`` (so a sample within float rounding
    of an edge is tested on both sides of it)."""
    m = math.inf
    for w in range(win.shape[0]):
        for e in (win[w, W_T0], win[w, W_T1], win[w, W_VB0], win[w, W_VB1] + PREC,
                  win[w, W_SS0]):
            if e + EDGE > t:
                m = min(m, e - EDGE)
    return m


@njit(**COLD)
def flush(nw, S):
    """Add the segment's sums (``S[S_K, K_N]`` samples) into the spans it is inside."""
    nb = S[S_K, K_N]
    if nb == 0.0:
        return
    for w in range(nw):
        r = NSF + NWR * w
        k = r + M_K
        if S[k, 3 + C_V] != 0.0:  # Chan et al.'s merge of (n, mean, M2) pairs
            na = S[k, C_V]
            n = na + nb
            for l in range(BLOCK):
                s1 = S[S_S1, l]
                d = S[S_C, l] + s1 / nb - S[r + M_MEAN, l]
                S[r + M_MEAN, l] += d * (nb / n)
                S[r + M_M2, l] += (S[S_S2, l] - s1 * s1 / nb) + d * d * (na * nb / n)
            S[k, C_V] = n
        for span, row in ((C_VB, M_VB), (C_SS, M_SS)):
            if S[k, 3 + span] != 0.0:
                S[k, span] += nb
                for l in range(BLOCK):
                    S[r + row, l] += S[S_S1, l] + nb * S[S_C, l]


# -- per sample ---------------------------------------------------------------------------------
@njit(**INLINE)
def lane_sample(fs, l, j, V1, thr):
    """In the driver's lane loop (branch-free, vectorised with the step): store lane ``l``'s
    V of sample ``j`` in the ring, and say whether it crossed the threshold (eFEL's strict
    rules: above is ``V > thr``) or reached a pending half-width level."""
    hist, S = fs
    hist[HIST + (j & SMASK), l] = V1  # the stage (``STAGE``)
    V = np.float64(V1)
    d = V - S[S_C, l]  # the window sums (``S_C`` above)
    S[S_S1, l] += d
    S[S_S2, l] += d * d
    # the peak and AHP trackers: every load first, then selects of values only
    jf = np.float64(j)
    ab, pkv, pki = S[S_AB, l], S[S_PKV, l], S[S_PKI, l]
    mnv, mni, mnc, mnd = S[S_MNV, l], S[S_MNI, l], S[S_MNC, l], S[S_MND, l]
    was = ab != 0.0
    up = V1 > thr
    newmax = was & up & (V > pkv)
    upd = (mnd == 0.0) & (~newmax)
    low = V < mnv
    cnt = mnc + 1.0
    reset = newmax | (upd & low)
    done = (~newmax) & ((mnd != 0.0) | (upd & (~low) & (cnt >= 2.0)))
    S[S_PKV, l] = V if newmax else pkv
    S[S_PKI, l] = jf if newmax else pki
    S[S_MNV, l] = V if reset else mnv
    S[S_MNI, l] = jf if reset else mni
    S[S_MNC, l] = 0.0 if reset else (cnt if upd else mnc)
    S[S_MND, l] = 1.0 if done else 0.0
    # S is read after its stores, and must be: Numba's dead-code pass in a ``prange`` body
    # drops the stores into an array unpacked from a tuple when that variable is not used
    # again (seen: with this load moved above the stores, every tracker store vanished and
    # the eFEL tests failed; docs/architecture.md §3.2)
    return (up & (~was)) | ((~up) & was) | (V <= S[S_HP, l])


@njit(**INLINE)
def feature_sample(ft, fs, st, pb, i0, j, t0, dt, fev):
    """After sample ``j`` (the state ``st`` after step ``j - 1``; :func:`lane_sample` has
    put it in the ring, the sums and the trackers, and set ``fev`` where a lane crossed the
    threshold or reached a pending half-width level): count it into the segment, and call
    :func:`feature_rare` if ``fev`` or the next sample nears a window edge.

    One call site, rarely taken, with two arrays: the driver's time loop keeps the lane
    loop's constants in vector registers, which a call clobbers, and every array handed to a
    call in the loop cost speed, taken or not (euler, all features, 1 thread, measured: two
    call sites with six arrays 0.69x, one with six 0.71x, this one with two 0.78x, none at
    all 0.89x)."""
    hist, S = fs
    S[S_K, K_N] += 1.0
    tn = t0 + (j + 1) * dt
    if fev or (j & SMASK) == SMASK or tn >= S[S_K, K_EDGE]:
        feature_rare(ft, hist, S, pb, i0, j, t0, dt, fev, tn)


@njit(**COLD)
def feature_rare(ft, hist, S, pb, i0, j, t0, dt, fev, tn):
    """The scalar pass after sample ``j`` if ``fev`` (:func:`feature_events`), and the
    window edges' test if the next sample, at ``tn`` ms, nears one (:func:`at_edge`); first,
    the stage's samples into the ring."""
    for q in range(np.int64(S[S_K, K_RING]) + 1, j + 1):
        for l in range(BLOCK):
            hist[q & MASK, l] = hist[HIST + (q & SMASK), l]
    S[S_K, K_RING] = j
    if fev:
        feature_events(ft[FB_A], ft[FB_WIN], ft[FB_DTHR], ft[FB_DWIN], hist, S, pb, i0, j,
                       t0, dt)
    if tn >= S[S_K, K_EDGE]:
        at_edge(ft[FB_WIN], S, hist, j, tn)


@njit(**COLD)
def dvdt(hist, l, i, dt):
    """eFEL's central-difference dV/dt (mV/ms) at sample ``i`` from the ring."""
    return (np.float64(hist[(i + 1) & MASK, l]) - np.float64(hist[(i - 1) & MASK, l])) / (
        2.0 * dt)


@njit(**COLD)
def ap_begin(hist, l, p, lb, lo, j, dt, thr, width):
    """eFEL's AP begin of the peak at sample ``p``: searching back from ``p - 1`` to ``lb``
    for the last sample whose dV/dt is at most ``thr``, the sample after it, if the
    ``width`` samples from there all have dV/dt >= ``thr`` (else the search goes on below
    it).  -1 where there is none, or where the search needs a sample older than ``lo`` or
    newer than ``j - 1`` (outside the ring)."""
    newbegin = p
    while True:
        i = newbegin - 1
        found = -1
        while i >= lb and i >= 0:
            if i < lo:
                return -1
            if dvdt(hist, l, i, dt) <= thr:
                found = i
                break
            i -= 1
        if found < 0:
            return -1
        begin = found + 1
        ok = True
        for q in range(begin, begin + width):
            if q + 1 > j:
                return -1
            if dvdt(hist, l, q, dt) < thr:
                ok = False
                break
        if ok:
            return begin
        newbegin = begin - 1


@njit(**COLD)
def book(A, win, i, t, row_n, row_s, value):
    """Add ``value`` to the count and sum rows of every window holding the peak time ``t``."""
    for w in range(win.shape[0]):
        if win[w, W_T0] <= t <= win[w, W_T1]:
            A[row_n, w, i] += 1.0
            A[row_s, w, i] += value


@njit(**COLD)
def book_spike(A, win, i, t):
    """A peak at ``t`` ms: count, first and last, the ISIs after the first (Welford) and the
    adaptation ratios of every window holding ``t`` (eFEL: peak times in [t0, t1])."""
    for w in range(win.shape[0]):
        if not (win[w, W_T0] <= t <= win[w, W_T1]):
            continue
        n = A[A_N, w, i]
        if n == 0.0:
            A[A_FIRST, w, i] = t
        else:
            isi = t - A[A_LAST, w, i]
            if n >= 2.0:  # ISI number n >= 2: eFEL's ISI_values drop the first
                c = A[A_ISIN, w, i] + 1.0
                d = isi - A[A_ISIMEAN, w, i]
                A[A_ISIMEAN, w, i] += d / c
                A[A_ISIM2, w, i] += d * (isi - A[A_ISIMEAN, w, i])
                A[A_ISIN, w, i] = c
                prev = A[A_LASTISI, w, i]
                ratio = (isi - prev) / (isi + prev)
                A[A_ADI, w, i] += ratio
                if n == 2.0:
                    A[A_R2, w, i] = ratio
                elif n == 3.0:
                    A[A_R3, w, i] = ratio
            A[A_LASTISI, w, i] = isi
        A[A_LAST, w, i] = t
        A[A_N, w, i] = n + 1.0


@njit(**COLD)
def feature_events(A, win, dthr, dwin, hist, S, pb, i0, j, t0, dt):
    """The scalar pass after sample ``j``: a pending half-width's fall, upward crossings (the
    previous spike's AHP is final; a new spike starts), downward crossings (the spike is
    booked: peak, AP begin, amplitude, half-width)."""
    r = j & MASK
    lo = max(1, j - HIST + 2)  # oldest sample whose dV/dt the ring still holds
    for l in range(BLOCK):
        i = i0 + l
        v = hist[r, l]
        V = np.float64(v)
        if V <= S[S_HP, l]:  # the fall crossed the pending half level: nearest sample
            h = S[S_HP, l]
            Vp = np.float64(hist[(j - 1) & MASK, l])
            f = j - 1 if abs(Vp - h) <= abs(V - h) else j
            book(A, win, i, S[S_PT, l], A_HWN, A_HWS, t0 + f * dt - S[S_RT, l])
            S[S_HP, l] = math.nan
        ab = S[S_AB, l] != 0.0
        up = v > pb[P_THR, l]
        if up and not ab:
            if S[S_HAS, l] != 0.0:  # the previous spike's AHP is final
                book(A, win, i, S[S_PKT, l], A_AHPN, A_AHPS, S[S_MNV, l])
                S[S_LB, l] = S[S_MNI, l]
                S[S_HAS, l] = 0.0
            S[S_HP, l] = math.nan  # a fall never reached before the next spike: no width
            S[S_PKV, l] = V
            S[S_PKI, l] = j
            S[S_MNV, l] = V
            S[S_MNI, l] = j
            S[S_MNC, l] = 0.0
            S[S_MND, l] = 0.0
            S[S_IN, l] = 1.0
            S[S_AB, l] = 1.0
        elif ab and not up:
            S[S_AB, l] = 0.0
            if S[S_IN, l] != 0.0:
                S[S_IN, l] = 0.0
                spike_end(A, win, dthr, dwin, hist, S, l, i, j, lo, t0, dt)


@njit(**COLD)
def spike_end(A, win, dthr, dwin, hist, S, l, i, j, lo, t0, dt):
    """Lane ``l`` fell below the threshold at sample ``j``: book its spike (module
    docstring)."""
    p = np.int64(S[S_PKI, l])
    pk = S[S_PKV, l]
    tp = t0 + p * dt
    book_spike(A, win, i, tp)
    S[S_HAS, l] = 1.0
    S[S_PKT, l] = tp
    begin = ap_begin(hist, l, p, np.int64(S[S_LB, l]), lo, j, dt, dthr, dwin)
    if begin < 0 or begin >= p:
        return
    vb = np.float64(hist[begin & MASK, l])
    book(A, win, i, tp, A_AMPN, A_AMPS, pk - vb)
    h = 0.5 * (pk + vb)
    rise = begin  # eFEL: the first sample of [begin, p) nearest h
    best = abs(vb - h)
    for q in range(begin + 1, p):
        d = abs(np.float64(hist[q & MASK, l]) - h)
        if d < best:
            best = d
            rise = q
    t_rise = t0 + rise * dt
    for q in range(p + 1, j + 1):  # the fall: the first sample at or below h, or the one before
        Vq = np.float64(hist[q & MASK, l])
        if Vq <= h:
            Vp = np.float64(hist[(q - 1) & MASK, l])
            f = q - 1 if abs(Vp - h) <= abs(Vq - h) else q
            book(A, win, i, tp, A_HWN, A_HWS, t0 + f * dt - t_rise)
            return
    S[S_HP, l] = h  # not yet: the lane loop watches for it
    S[S_RT, l] = t_rise
    S[S_PT, l] = tp


@njit(**COLD)
def feature_close(ft, fs, i0, last):
    """The block's end (sample ``last``): the window sums go into ``A``, and the open AHP of
    each lane's last spike is booked, unless its minimum is the run's last sample (eFEL drops
    it: V was still falling)."""
    hist, S = fs
    A, win = ft[FB_A], ft[FB_WIN]
    flush(win.shape[0], S)
    for w in range(win.shape[0]):
        r = NSF + NWR * w
        k = r + M_K
        for l in range(BLOCK):
            i = i0 + l
            A[A_VN, w, i] = S[k, C_V]
            A[A_VMEAN, w, i] = S[r + M_MEAN, l]
            A[A_VM2, w, i] = S[r + M_M2, l]
            A[A_VBN, w, i] = S[k, C_VB]
            A[A_VBS, w, i] = S[r + M_VB, l]
            A[A_SSN, w, i] = S[k, C_SS]
            A[A_SSS, w, i] = S[r + M_SS, l]
    for l in range(BLOCK):
        if S[S_HAS, l] != 0.0 and np.int64(S[S_MNI, l]) != last:
            book(A, win, i0 + l, S[S_PKT, l], A_AHPN, A_AHPS, S[S_MNV, l])


# -- the hooks the driver calls (resolved on the term's type: () compiles to nothing) -----------
def feat_open(ft, st, pb, i0, t0, dt):
    """The features term's block state (``()`` without features)."""


def feat_lane(ft, fs, l, j, V1, thr):
    """In the lane loop: lane ``l``'s sample ``j`` into the ring; whether it is an event."""


def feat_sample(ft, fs, st, pb, i0, j, t0, dt, fev):
    """Book sample ``j`` of the block (``fev``: some lane's :func:`feat_lane` was an event)."""


def feat_close(ft, fs, i0, last):
    """Book what is open at the block's end."""


def _empty(ft) -> bool:
    return isinstance(ft, types.BaseTuple) and len(ft.types) == 0


@overload(feat_open, **_OPTS)
def _feat_open(ft, st, pb, i0, t0, dt):
    if _empty(ft):
        return lambda ft, st, pb, i0, t0, dt: ()

    def open_(ft, st, pb, i0, t0, dt):
        fs = feature_scratch(ft, st)
        feature_open(ft, fs, st, pb, t0, dt)
        return fs
    return open_


@overload(feat_lane, **_OPTS)
def _feat_lane(ft, fs, l, j, V1, thr):
    if _empty(ft):
        return lambda ft, fs, l, j, V1, thr: False
    return lambda ft, fs, l, j, V1, thr: lane_sample(fs, l, j, V1, thr)


@overload(feat_sample, **_OPTS)
def _feat_sample(ft, fs, st, pb, i0, j, t0, dt, fev):
    if _empty(ft):
        return lambda ft, fs, st, pb, i0, j, t0, dt, fev: None
    return lambda ft, fs, st, pb, i0, j, t0, dt, fev: feature_sample(ft, fs, st, pb, i0, j,
                                                                      t0, dt, fev)


@overload(feat_close, **_OPTS)
def _feat_close(ft, fs, i0, last):
    if _empty(ft):
        return lambda ft, fs, i0, last: None
    return lambda ft, fs, i0, last: feature_close(ft, fs, i0, last)
