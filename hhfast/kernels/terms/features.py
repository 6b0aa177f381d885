"""The features term: electrophysiology features accumulated while the neurons run, with no
trace stored (docs/architecture.md §3.2).

A run that asks for features is driven with a third term ``ft`` (a
:class:`~hhfast.kernels.layout.FeatureBatch`); every other run passes ``()``, whose hooks
compile to nothing, so its kernel, machine code and speed are those it had before.

What the term does, per lane, after each step (the sample ``j = k + 1`` at ``t0 + j·dt``;
sample 0, the initial state, at the block's start):

* keeps the last ``config.FEATURE_HISTORY`` samples of V in a ring (block-local);
* follows eFEL's spike rule (``efel`` ``peak_indices``): a spike runs from an upward crossing
  of the threshold (``V[j-1] < thr < V[j]``) to the next downward one, its peak is the first
  largest sample in between; no hysteresis (that is the engine's own detector, not eFEL's);
* follows eFEL's ``first_min_element`` from each peak: the AHP is the first sample below every
  earlier one (since the peak) that the next two samples do not undercut, or the lowest sample
  before the next spike;
* adds V to Welford moments over each window, and to the sums of voltage_base's and the
  stimulus end's windows.

Rare work is found by a vectorised scan (a threshold crossing, the fall of a pending
half-width) and done in a called scalar pass (:func:`feature_events`): at a spike's end it
finds the AP begin by eFEL's rule (``AP_begin_indices``: the start of the last run of
``dvdt_window`` samples whose central-difference dV/dt is at least ``dvdt_thr`` before the
peak, searched back to the previous AHP) in the ring, the amplitude, the half-width's
crossings (``AP_duration_half_width``: the samples nearest half-way between begin and peak on
the rise and the fall), and books the spike into every window that holds its peak time.
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
from ..options import COLD

BLOCK = config.BLOCK
HIST = config.FEATURE_HISTORY
MASK = HIST - 1
PREC = config.FEATURE_TIME_PRECISION
_OPTS = dict(inline="always", jit_options=dict(fastmath=config.FASTMATH))

#: rows of the lane state ``S[NSF, BLOCK]`` (float64): above the threshold (0/1), inside a
#: spike (an upward crossing seen), the running peak (V, sample), the running AHP tracker
#: (V, sample, samples since its last new low, done 0/1), a finished spike whose AHP is
#: still open (0/1) and its peak time, the AP-begin search's lower bound (the last AHP's
#: sample, -1: none), a pending half-width fall (the half level h, NaN: none; rise time;
#: peak time)
(S_AB, S_IN, S_PKV, S_PKI, S_MNV, S_MNI, S_MNC, S_MND, S_HAS, S_PKT, S_LB, S_HP, S_RT,
 S_PT) = range(14)
NSF = 14


# -- block state --------------------------------------------------------------------------------
@njit(**COLD)
def feature_open(ft, st, pb, i0, t0):
    """The block state ``(hist, S)`` of the block at neuron ``i0``, with sample 0 (the
    initial state in ``st``) booked."""
    hist = np.empty((HIST, BLOCK), st.dtype)
    S = np.zeros((14, BLOCK))
    for l in range(BLOCK):
        V = st[0, l]
        hist[0, l] = V
        S[S_AB, l] = 1.0 if V > pb[P_THR, l] else 0.0
        S[S_PKV, l] = -math.inf
        S[S_MNV, l] = np.float64(V)
        S[S_LB, l] = -1.0
        S[S_HP, l] = math.nan
    window_sums(ft[FB_A], ft[FB_WIN], hist, 0, i0, t0)
    return hist, S


@njit(**COLD)
def window_sums(A, win, hist, j, i0, t):
    """Add sample ``j`` (at ``t`` ms) of every lane to the moments of the windows holding
    ``t``: Welford's mean and M2 over [t0, t1), the sums of voltage_base's window
    [vb0, vb1] (eFEL's end tolerance) and of the stimulus end's [ss0, t1)."""
    r = j & MASK
    for w in range(win.shape[0]):
        if win[w, W_T0] <= t < win[w, W_T1]:
            n = A[A_VN, w, i0] + 1.0
            inv = 1.0 / n
            for l in range(BLOCK):
                V = np.float64(hist[r, l])
                m = A[A_VMEAN, w, i0 + l]
                d = V - m
                m = m + d * inv
                A[A_VM2, w, i0 + l] += d * (V - m)
                A[A_VMEAN, w, i0 + l] = m
                A[A_VN, w, i0 + l] = n
        if win[w, W_VB0] <= t and t - win[w, W_VB1] < PREC:
            for l in range(BLOCK):
                A[A_VBS, w, i0 + l] += np.float64(hist[r, l])
                A[A_VBN, w, i0 + l] += 1.0
        if win[w, W_SS0] <= t < win[w, W_T1]:
            for l in range(BLOCK):
                A[A_SSS, w, i0 + l] += np.float64(hist[r, l])
                A[A_SSN, w, i0 + l] += 1.0


# -- per sample ---------------------------------------------------------------------------------
@njit(**COLD)
def feature_sample(ft, fs, st, pb, i0, j, t0, dt):
    """Sample ``j`` (the state ``st`` after step ``j - 1``): the ring, the peak and AHP
    trackers (a vectorised lane loop), the window sums, and the scalar pass when a lane
    crossed the threshold or reached a pending half-width level."""
    hist, S = fs
    r = j & MASK
    jf = np.float64(j)
    ev = False
    for l in range(BLOCK):  # branch-free: selects only
        v = st[0, l]
        hist[r, l] = v
        V = np.float64(v)
        ab = S[S_AB, l] != 0.0
        up = v > pb[P_THR, l]
        newmax = ab & up & (V > S[S_PKV, l])
        upd = (S[S_MND, l] == 0.0) & (~newmax)
        low = V < S[S_MNV, l]
        cnt = S[S_MNC, l] + 1.0
        reset = newmax | (upd & low)
        S[S_PKV, l] = V if newmax else S[S_PKV, l]
        S[S_PKI, l] = jf if newmax else S[S_PKI, l]
        S[S_MNV, l] = V if reset else S[S_MNV, l]
        S[S_MNI, l] = jf if reset else S[S_MNI, l]
        S[S_MNC, l] = 0.0 if reset else (cnt if upd else S[S_MNC, l])
        S[S_MND, l] = 0.0 if newmax else (1.0 if (upd & (~low) & (cnt >= 2.0))
                                          else S[S_MND, l])
        ev |= (up != ab) | (V <= S[S_HP, l])
    window_sums(ft[FB_A], ft[FB_WIN], hist, j, i0, t0 + j * dt)
    if ev:
        feature_events(ft[FB_A], ft[FB_WIN], ft[FB_DTHR], ft[FB_DWIN], hist, S, pb, i0, j,
                       t0, dt)


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
    """The block's end (sample ``last``): the open AHP of each lane's last spike is booked,
    unless its minimum is the run's last sample (eFEL drops it: V was still falling)."""
    hist, S = fs
    A, win = ft[FB_A], ft[FB_WIN]
    for l in range(BLOCK):
        if S[S_HAS, l] != 0.0 and np.int64(S[S_MNI, l]) != last:
            book(A, win, i0 + l, S[S_PKT, l], A_AHPN, A_AHPS, S[S_MNV, l])


# -- the hooks the driver calls (resolved on the term's type: () compiles to nothing) -----------
def feat_open(ft, st, pb, i0, t0):
    """The features term's block state (``()`` without features)."""


def feat_sample(ft, fs, st, pb, i0, j, t0, dt):
    """Book sample ``j`` of the block."""


def feat_close(ft, fs, i0, last):
    """Book what is open at the block's end."""


def _empty(ft) -> bool:
    return isinstance(ft, types.BaseTuple) and len(ft.types) == 0


@overload(feat_open, **_OPTS)
def _feat_open(ft, st, pb, i0, t0):
    if _empty(ft):
        return lambda ft, st, pb, i0, t0: ()
    return lambda ft, st, pb, i0, t0: feature_open(ft, st, pb, i0, t0)


@overload(feat_sample, **_OPTS)
def _feat_sample(ft, fs, st, pb, i0, j, t0, dt):
    if _empty(ft):
        return lambda ft, fs, st, pb, i0, j, t0, dt: None
    return lambda ft, fs, st, pb, i0, j, t0, dt: feature_sample(ft, fs, st, pb, i0, j, t0, dt)


@overload(feat_close, **_OPTS)
def _feat_close(ft, fs, i0, last):
    if _empty(ft):
        return lambda ft, fs, i0, last: None
    return lambda ft, fs, i0, last: feature_close(ft, fs, i0, last)
