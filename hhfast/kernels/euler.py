"""Forward Euler, order 1: y_{k+1} = y_k + dt · f(t_k, y_k).

Cheapest per step (one right-hand side), but explicit and first order: stable only for
dt below roughly 0.07–0.09 ms on HH, and its spike times converge linearly in dt.
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
                V, n, m, h = st[0, l], st[1, l], st[2, l], st[3, l]
                dV, dn, dm, dh = rhs(V, n, m, h, I[0, l], P, i0 + l)
                if alive[l]:
                    st[0, l] = V + dt * dV
                    st[1, l] = n + dt * dn
                    st[2, l] = m + dt * dm
                    st[3, l] = h + dt * dh
            if scan_block(P, ic, i0, st, alive):
                handle_events(P, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev, alive, I)
            if (k + 1) % record_every == 0:
                record_block(rec, rec_slot, rec_var, i0, (k + 1) // record_every, st)
        block_store(y, i0, st)
