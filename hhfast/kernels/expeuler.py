"""Exponential Euler on all four variables (as Brian2 and GENESIS use it for HH), order 1.

Each variable is linear in itself when the others are frozen at the step's start, so each is
advanced exactly over the step:

- gate x:  x∞ + (x − x∞)·exp(−dt·(αx + βx)),  x∞ = αx/(αx + βx)
- V:       V∞ + (V − V∞)·exp(−dt·g_tot/Cm),   g_tot = gNa·m³h + gK·n⁴ + gL,
           V∞ = (I + gNa·m³h·ENa + gK·n⁴·EK + gL·EL) / g_tot

Gates stay in [0, 1] for any dt (a convex combination of x and x∞), and the method stays
finite far beyond the dt where Euler and RK4 blow up.  The gates-only variant (V by Euler)
would blow up almost as early as Euler, so V is advanced exponentially too.
"""

import math

import numpy as np
from numba import njit, prange

from .. import config
from .common import (
    BLOCK,
    P_CM,
    P_EK,
    P_EL,
    P_ENA,
    P_GK,
    P_GL,
    P_GNA,
    P_PHI,
    P_VREST,
    block_current,
    block_load,
    block_store,
    handle_events,
    rates,
    record_block,
    scan_block,
)

ORDER = 1


@njit(parallel=True, cache=True, fastmath=config.FASTMATH)
def run(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
        rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` (see ``common``)."""
    for b in prange(y.shape[1] // BLOCK):
        i0 = b * BLOCK
        st = np.empty((4, BLOCK))
        prev = np.empty((4, BLOCK))
        I = np.empty((3, BLOCK))
        alive = np.empty(BLOCK, np.bool_)
        seg = np.empty(BLOCK, np.int64)
        uniform = block_load(y, ic, tidx, i0, st, alive, seg)
        for k in range(n_steps):
            block_current(P, i0, tidx, tb, c0, c1, seg, uniform, t0 + k * dt, dt, I)
            prev[:, :] = st
            for l in range(BLOCK):
                i = i0 + l
                V, n, m, h = st[0, l], st[1, l], st[2, l], st[3, l]
                an, bn, am, bm, ah, bh = rates(V, P[P_VREST, i], P[P_PHI, i])
                gna = P[P_GNA, i] * (m * m * m * h)
                gk = P[P_GK, i] * ((n * n) * (n * n))
                gl = P[P_GL, i]
                gtot = gna + gk + gl
                vinf = (I[0, l] + gna * P[P_ENA, i] + gk * P[P_EK, i] + gl * P[P_EL, i]) / gtot
                sn, sm, sh = an + bn, am + bm, ah + bh
                if alive[l]:
                    st[0, l] = vinf + (V - vinf) * math.exp(-dt * gtot / P[P_CM, i])
                    st[1, l] = an / sn + (n - an / sn) * math.exp(-dt * sn)
                    st[2, l] = am / sm + (m - am / sm) * math.exp(-dt * sm)
                    st[3, l] = ah / sh + (h - ah / sh) * math.exp(-dt * sh)
            if scan_block(P, ic, i0, st, alive):
                handle_events(P, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, alive, I)
            if (k + 1) % record_every == 0:
                record_block(rec, rec_slot, rec_var, i0, (k + 1) // record_every, st)
        block_store(y, i0, st)
