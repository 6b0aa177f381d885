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

ORDER = 4


@njit(parallel=True, nogil=True, cache=True, fastmath=config.FASTMATH, error_model="numpy")
def run(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
        rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` (see ``common``).
    ``y`` and ``P`` are float64 or float32; the arithmetic follows their type."""
    h = like(y[0, 0], dt)
    h2 = like(y[0, 0], 0.5 * dt)
    h6 = like(y[0, 0], dt / 6.0)
    two = like(y[0, 0], 2.0)
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
                a1, b1, c1_, d1 = rhs(V, n, m, g, I[0, l], pb, l)
                a2, b2, c2, d2 = rhs(V + h2 * a1, n + h2 * b1, m + h2 * c1_, g + h2 * d1,
                                     I[1, l], pb, l)
                a3, b3, c3, d3 = rhs(V + h2 * a2, n + h2 * b2, m + h2 * c2, g + h2 * d2,
                                     I[1, l], pb, l)
                a4, b4, c4, d4 = rhs(V + h * a3, n + h * b3, m + h * c3, g + h * d3,
                                     I[2, l], pb, l)
                V1 = V + h6 * (a1 + two * (a2 + a3) + a4)
                n1 = n + h6 * (b1 + two * (b2 + b3) + b4)
                m1 = m + h6 * (c1_ + two * (c2 + c3) + c4)
                g1 = g + h6 * (d1 + two * (d2 + d3) + d4)
                # every lane is advanced, diverged ones too (their frozen state is in fz);
                # a per-lane select here made LLVM branch around the update and give up
                st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
                ev |= lane_event(V1, n1, m1, g1, pb[P_THR, l], armed[l], alive[l])
            rec_left = end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev,
                                   fz, armed, alive, I, rec, rec_slot, rec_var, record_every,
                                   rec_left)
        block_store(y, ic, i0, st, fz, armed, alive)
