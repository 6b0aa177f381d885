"""The block driver of noisy runs: :func:`drive_noisy`, the noisy twin of
:func:`.common.drive_fixed`.

Each fixed-step method has a second kernel, ``run_noisy``, that hands its lane ``step`` to this
driver; ``simulate`` calls it only when some neuron of the call is noisy, so noiseless runs
keep their own kernel, machine code and speed unchanged.

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
from numba import njit, prange

from .common import (
    BLOCK,
    INLINE,
    P_REARM,
    P_THR,
    block_current,
    block_load,
    block_scratch,
    block_store,
    end_of_step,
    lane_event,
)
from .fastexp import like
from .philox import normals4

# rows of NZ (hhfast.noise.coefficients): white-noise kick σ√dt/Cm (mV); OU decay e^(-dt/τ),
# OU kick σ√(1 - e^(-2dt/τ)) (µA/cm²); OU step mean: the factor of the start current and of
# the normals z and z' (µA/cm²)
Z_WHITE, Z_DECAY, Z_KICK, Z_MEAN, Z_CROSS, Z_OWN = range(6)
NZ_ROWS = 6
#: the stream of the membrane noise and of the OU initial draw
STREAM_NOISE = 0
STREAM_OU_START = 1
#: the stream of the OU step mean's own normals z' (far above the channel streams 2, 3, ...,
#: so a channel model with more Philox calls per step can never reach it)
STREAM_OU_MEAN = 2**31
#: the first of the streams of the channel noise (:mod:`.channel`: streams 2, 3, ...)
STREAM_CHANNEL = 2
#: steps served by one Philox counter (its four normals)
STEPS_PER_COUNTER = 4


@njit(**INLINE)
def fill_normals(z, tr, k0, k1, q, stream):
    """The four normals of counter ``(tr[l], q, stream)`` of each lane into ``z[:, l]``."""
    for l in range(BLOCK):
        a, b, c, d = normals4(k0, k1, tr[l], q, stream)
        z[0, l] = a
        z[1, l] = b
        z[2, l] = c
        z[3, l] = d


@njit(**INLINE)
def noise_scratch(y, NZ, ou, trial, i0):
    """Block-local noise arrays of the block starting at neuron ``i0``: coefficients ``nz``
    (rows ``Z_*``), OU current ``cur``, normals buffer ``z`` (4 steps, rows ``0..3``) followed
    by the OU step mean's ``z'`` (rows ``4..7``, zeros unless ``ou_mean``), trial ids ``tr``,
    and ``ou_mean``: whether some lane draws ``z'`` (a non-zero ``Z_OWN``)."""
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
    return nz, cur, z, tr, ou_mean


@njit(**INLINE)
def step_normals(z, tr, k0, k1, kfirst, k, ou_mean):
    """Refill ``z`` when step ``k`` of the run (index ``kfirst + k`` from t = 0) opens a new
    counter (or is the run's first), rows ``4..7`` too when ``ou_mean``; returns ``(kk, j)``:
    the step's index from t = 0 and the row of ``z`` that holds its normal (``j + 4``: its
    ``z'``)."""
    kk = kfirst + k
    j = kk & 3
    if j == 0 or k == 0:
        fill_normals(z[:STEPS_PER_COUNTER], tr, k0, k1, kk >> 2, STREAM_NOISE)
        if ou_mean:
            fill_normals(z[STEPS_PER_COUNTER:], tr, k0, k1, kk >> 2, STREAM_OU_MEAN)
    return kk, j


@njit(**INLINE)
def lane_noise(nz, cur, z, j, l):
    """The noise of lane ``l`` over one step (normals in row ``j`` of ``z``, ``z'`` in row
    ``j + 4``): returns ``(c̄, kick)``, the OU step-mean current (µA/cm², added to every stage's
    stimulus current) and the white kick on V (mV); advances the lane's OU current ``cur[l]``
    to the step's end.  Zero coefficients (white or noiseless lanes) give ``c̄ = 0`` exactly."""
    c = cur[l]
    zl = z[j, l]
    mean = nz[Z_MEAN, l] * c + nz[Z_CROSS, l] * zl + nz[Z_OWN, l] * z[j + STEPS_PER_COUNTER, l]
    cur[l] = nz[Z_DECAY, l] * c + nz[Z_KICK, l] * zl
    return mean, nz[Z_WHITE, l] * zl


@njit(**INLINE)
def drive_noisy(step, y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec,
                rec_slot, rec_var, record_every, NZ, trial, ou, k0, k1, kfirst):
    """:func:`.common.drive_fixed` with current noise (module docstring).

    Extra arguments: ``NZ[3, N]`` the noise coefficients (rows ``Z_*``, kernel float type),
    ``trial[N]`` (uint64) each neuron's noise identity, ``ou[N]`` the OU current (µA/cm²,
    float64; initial on entry, final on exit), ``k0, k1`` (uint64) the key words of the seed,
    ``kfirst`` (int64) the index, counted from t = 0, of the first step.
    """
    h = like(y[0, 0], dt)
    for b in prange(y.shape[1] // BLOCK):
        i0 = b * BLOCK
        pb, st, prev, fz, I, armed, alive, seg, last = block_scratch(y)
        nz, cur, z, tr, ou_mean = noise_scratch(y, NZ, ou, trial, i0)
        Iw = np.empty((3, BLOCK), y.dtype)
        uniform = block_load(y, P, ic, tidx, i0, pb, st, armed, alive, seg)
        rec_left = record_every
        for k in range(n_steps):
            block_current(pb, tidx, i0, tb, c0, c1, seg, uniform, t0 + k * dt, dt, I, last)
            j = step_normals(z, tr, k0, k1, kfirst, k, ou_mean)[1]
            ev = False
            for l in range(BLOCK):  # vectorised lane loop, as in drive_fixed
                V, n, m, g = st[0, l], st[1, l], st[2, l], st[3, l]
                prev[0, l], prev[1, l], prev[2, l], prev[3, l] = V, n, m, g
                c, kick = lane_noise(nz, cur, z, j, l)
                Ia = I[0, l] + c
                Ib = I[1, l] + c
                Ic = I[2, l] + c
                Iw[0, l], Iw[1, l], Iw[2, l] = Ia, Ib, Ic
                V1, n1, m1, g1 = step(V, n, m, g, Ia, Ib, Ic, pb, l, h)
                V1 = V1 + kick
                st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
                ev |= lane_event(V1, n1, m1, g1, pb[P_THR, l], pb[P_REARM, l], armed[l],
                                 alive[l])
            rec_left = end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev,
                                   fz, armed, alive, Iw, rec, rec_slot, rec_var, record_every,
                                   rec_left)
        block_store(y, ic, i0, st, fz, armed, alive)
        for l in range(BLOCK):
            ou[i0 + l] = cur[l]
