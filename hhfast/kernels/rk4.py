"""Classic Runge–Kutta, order 4.

Tableau (c | A, b)::

    0   |
    1/2 | 1/2
    1/2 | 0    1/2
    1   | 0    0    1
    ----+-------------------
        | 1/6  1/3  1/3  1/6

Four right-hand sides per step; stage currents are taken at t, t + dt/2 and t + dt following
the stimulus edge rule, so the order survives edges on the grid.  Unstable above dt ≈ 0.1 ms.
"""

import numpy as np
from numba import njit, prange

from .. import config
from .common import (
    BLOCK,
    block_current,
    block_load,
    block_store,
    handle_events,
    record_block,
    rhs,
    scan_block,
)

ORDER = 4


@njit(parallel=True, cache=True, fastmath=config.FASTMATH)
def run(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
        rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` (see ``common``)."""
    h2 = 0.5 * dt
    h6 = dt / 6.0
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
                a1, b1, c1_, d1 = rhs(V, n, m, h, I[0, l], P, i)
                a2, b2, c2, d2 = rhs(V + h2 * a1, n + h2 * b1, m + h2 * c1_, h + h2 * d1,
                                     I[1, l], P, i)
                a3, b3, c3, d3 = rhs(V + h2 * a2, n + h2 * b2, m + h2 * c2, h + h2 * d2,
                                     I[1, l], P, i)
                a4, b4, c4, d4 = rhs(V + dt * a3, n + dt * b3, m + dt * c3, h + dt * d3,
                                     I[2, l], P, i)
                if alive[l]:
                    st[0, l] = V + h6 * (a1 + 2.0 * (a2 + a3) + a4)
                    st[1, l] = n + h6 * (b1 + 2.0 * (b2 + b3) + b4)
                    st[2, l] = m + h6 * (c1_ + 2.0 * (c2 + c3) + c4)
                    st[3, l] = h + h6 * (d1 + 2.0 * (d2 + d3) + d4)
            if scan_block(P, ic, i0, st, alive):
                handle_events(P, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, alive, I)
            if (k + 1) % record_every == 0:
                record_block(rec, rec_slot, rec_var, i0, (k + 1) // record_every, st)
        block_store(y, i0, st)
