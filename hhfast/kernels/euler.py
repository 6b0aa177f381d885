"""Forward Euler, order 1: y_{k+1} = y_k + dt · f(t_k, y_k).

Cheapest per step (one right-hand side), but explicit and first order: stable only for
dt below roughly 0.07–0.09 ms on HH, and its spike times converge linearly in dt.
"""

from numba import njit, prange

from .. import config
from .common import (
    BLOCK,
    P_THR,
    block_current,
    block_load,
    block_scratch,
    block_store,
    end_of_step,
    lane_event,
    rhs,
)
from .fastexp import like

ORDER = 1


@njit(parallel=True, nogil=True, cache=True, fastmath=config.FASTMATH, error_model="numpy")
def run(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
        rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` (see ``common``).
    ``y`` and ``P`` are float64 or float32; the arithmetic follows their type."""
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
                dV, dn, dm, dh = rhs(V, n, m, g, I[0, l], pb, l)
                V1, n1, m1, g1 = V + h * dV, n + h * dn, m + h * dm, g + h * dh
                # every lane is advanced, diverged ones too (their frozen state is in fz);
                # a per-lane select here made LLVM branch around the update and give up
                st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
                ev |= lane_event(V1, n1, m1, g1, pb[P_THR, l], armed[l], alive[l])
            rec_left = end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev,
                                   fz, armed, alive, I, rec, rec_slot, rec_var, record_every,
                                   rec_left)
        block_store(y, ic, i0, st, fz, armed, alive)
