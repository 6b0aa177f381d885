"""The current-noise term: white or Ornstein–Uhlenbeck current noise composed by the driver
(:func:`hhfast.kernels.cpu.drive`) with any fixed-step method's ``step``.

A run with some noisy neuron is driven with the terms ``(noise,)`` (a
:class:`~hhfast.kernels.layout.NoiseBatch`); a noiseless run with ``()``, so it keeps its own
kernel, machine code and speed.

Noise model (per lane, in the kernel's float type; coefficients from the engine, row ``Z_*``
of ``NZ``):

* white current noise (``noise_tau = 0``): after the method's deterministic step,
  ``V += (σ √dt / Cm) · z`` — Euler–Maruyama for ``euler``, and for the other methods the
  deterministic step followed by the exact increment of the noise alone (a Lie splitting);
* Ornstein–Uhlenbeck current (``noise_tau > 0``): integrated exactly over the step
  (docs/architecture.md §3e).  The current ``c`` at the step's start, its value at the end and
  its mean over the step are jointly Gaussian; from two standard normals ``z, z'`` of the step,
  every stage of the step sees the exact step mean
  ``c̄ = Z_MEAN·c + Z_CROSS·z + Z_OWN·z'`` added to the stimulus current (so V receives the
  exact charge of the step, whatever τ/dt), and then ``c ← Z_DECAY·c + Z_KICK·z`` (the exact
  update, ``e^(−dt/τ)`` and ``σ √(1 − e^(−2dt/τ))``).

Normals.  The normals ``z`` of step ``k`` (counted from t = 0) are normal ``k mod 4`` of the
Philox counter ``(trial, k // 4, stream 0)`` (:func:`hhfast.random.normals` gives them), the
OU step mean's own normals ``z'`` the same of stream ``STREAM_OU_MEAN``: every fourth step, a
vectorised lane loop fills a block buffer with the four normals of each lane's counter (one
Philox call and two Box–Muller pairs for four steps), the ``z'`` buffer only in blocks with
an OU lane (it stays 0 elsewhere).  White noise thus uses the same numbers as before the step
mean existed, and an OU current ``c`` the same path.  A lane with σ = 0 adds ``0·z`` and keeps
``c = 0``, so its result is bit for bit the deterministic one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ... import config
from ..fastexp import always_inline
from ..layout import (
    NB_K0,
    NB_K1,
    NB_KFIRST,
    NB_NZ,
    NB_OU,
    NB_TRIAL,
    NZ_ROWS,
    STEPS_PER_COUNTER,
    STREAM_NOISE,
    STREAM_OU_MEAN,
    Z_CROSS,
    Z_DECAY,
    Z_KICK,
    Z_MEAN,
    Z_OWN,
    Z_WHITE,
)
from ..options import COLD, HOT, INLINE
from ..philox import normals4

BLOCK = config.BLOCK

#: The block state of the noise term, a tuple indexed by these: coefficients ``nz`` (rows
#: ``Z_*``), OU current ``cur``, normals ``z`` (4 steps in rows 0..3, the OU step mean's z' in
#: rows 4..7, zeros unless ``ou_mean``), trial ids ``tr``, whether some lane draws z'
#: (``ou_mean``), and ``Iw`` the stage currents with the noise (what the event pass's Hermite
#: root reads).  A plain tuple: Numba 0.68 loses the writes into an array held by a NamedTuple
#: made inside a ``prange`` body (measured), a plain tuple keeps them.
NS_NZ, NS_CUR, NS_Z, NS_TR, NS_OU_MEAN, NS_IW = range(6)
NS_LEN = 6


@njit(**HOT)
def fill_normals(z, r0, tr, k0, k1, q, stream):
    """The four normals of counter ``(tr[l], q, stream)`` of each lane into rows
    ``r0 .. r0 + 3`` of ``z[:, l]`` (a vectorised lane loop, once per four steps).  HOT: as a
    called function it ran the noisy kernels ~25 % slower; inlined by Numba, it doubled their
    cold compile (measured)."""
    always_inline()
    for l in range(BLOCK):
        a, b, c, d = normals4(k0, k1, tr[l], q, stream)
        z[r0, l] = a
        z[r0 + 1, l] = b
        z[r0 + 2, l] = c
        z[r0 + 3, l] = d


@njit(**INLINE)
def noise_scratch(y, nb, i0):
    """The noise term's block state (``NS_*``) of the block starting at ``i0`` (inlined: the
    lane loop vectorises only when LLVM sees these arrays allocated in the kernel, measured
    3x slower when they came from a called function)."""
    NZ, ou, trial = nb[NB_NZ], nb[NB_OU], nb[NB_TRIAL]
    nz = np.empty((NZ_ROWS, BLOCK), y.dtype)
    cur = np.empty(BLOCK, y.dtype)
    z = np.zeros((2 * STEPS_PER_COUNTER, BLOCK), y.dtype)
    tr = np.empty(BLOCK, np.uint64)
    ou_mean = False
    for l in range(BLOCK):
        for r in range(NZ_ROWS):
            nz[r, l] = NZ[r, i0 + l]
        cur[l] = ou[i0 + l]
        tr[l] = trial[i0 + l]
        ou_mean |= NZ[Z_OWN, i0 + l] != 0
    return nz, cur, z, tr, ou_mean, np.empty((3, BLOCK), y.dtype)


@njit(**INLINE)
def refill_scratch(ns, nb, q):
    """The normals of counter ``q``: z, and z' when ``ou_mean``.  (Constants are passed as
    ``np.int64``: Numba compiles a called function once per distinct *literal* argument.)"""
    z, tr, k0, k1 = ns[NS_Z], ns[NS_TR], nb[NB_K0], nb[NB_K1]
    fill_normals(z, np.int64(0), tr, k0, k1, q, np.int64(STREAM_NOISE))
    if ns[NS_OU_MEAN]:
        fill_normals(z, np.int64(STEPS_PER_COUNTER), tr, k0, k1, q, np.int64(STREAM_OU_MEAN))


@njit(**INLINE)
def step_normals(ns, nb, k):
    """Refill the normals when step ``k`` of the run (index ``kfirst + k`` from t = 0) opens a
    new counter (or is the run's first), z' too when ``ou_mean``; returns ``(kk, j)``: the
    step's index from t = 0 and the row of ``z`` that holds its normal (``j + 4``: its z')."""
    kk = nb[NB_KFIRST] + k
    j = kk & 3
    if j == 0 or k == 0:
        refill_scratch(ns, nb, kk >> 2)
    return kk, j


@njit(**HOT)
def lane_noise(ns, j, l):
    """The noise of lane ``l`` over one step (normals in row ``j`` of ``z``, z' in row
    ``j + 4``): returns ``(c̄, kick)``, the OU step-mean current (µA/cm², added to every stage's
    current) and the white kick on V (mV); advances the lane's OU current to the step's end.
    Zero coefficients (white or noiseless lanes) give ``c̄ = 0`` exactly."""
    always_inline()
    nz, cur, z = ns[NS_NZ], ns[NS_CUR], ns[NS_Z]
    c = cur[l]
    zl = z[j, l]
    mean = nz[Z_MEAN, l] * c + nz[Z_CROSS, l] * zl + nz[Z_OWN, l] * z[j + STEPS_PER_COUNTER, l]
    cur[l] = nz[Z_DECAY, l] * c + nz[Z_KICK, l] * zl
    return mean, nz[Z_WHITE, l] * zl


@njit(**HOT)
def noise_lane(ns, j, l, I0, I1, I2):
    """Lane ``l`` before its step: the stage currents with the OU step mean (kept in ``Iw`` for
    the event pass) and the white kick (the term's ``term_lane``)."""
    always_inline()
    c, kick = lane_noise(ns, j, l)
    Ia = I0 + c
    Ib = I1 + c
    Ic = I2 + c
    Iw = ns[NS_IW]
    Iw[0, l], Iw[1, l], Iw[2, l] = Ia, Ib, Ic
    return Ia, Ib, Ic, kick


@njit(**INLINE)
def close_scratch(ns, nb, i0):
    """Write the block's OU currents back."""
    cur, ou = ns[NS_CUR], nb[NB_OU]
    for l in range(BLOCK):
        ou[i0 + l] = cur[l]


@njit(**COLD)
def noise_close(ns, nb, i0):
    """:func:`close_scratch`, called (the noise term's ``term_close``)."""
    close_scratch(ns, nb, i0)
