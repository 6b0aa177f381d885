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

from numba import njit, prange

from .. import config
from .common import (
    BLOCK,
    P_EK,
    P_EL,
    P_ENA,
    P_GK,
    P_GL,
    P_GNA,
    P_ICM,
    P_PHI,
    P_THR,
    P_VREST,
    block_current,
    block_load,
    block_scratch,
    block_store,
    end_of_step,
    lane_event,
    rates_unscaled,
)
from .fastexp import like, select, vexp_below

ORDER = 1


@njit(parallel=True, nogil=True, cache=True, fastmath=config.FASTMATH, error_model="numpy")
def run(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
        rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` (see ``common``).
    ``y`` and ``P`` are float64 or float32; the arithmetic follows their type."""
    h = like(y[0, 0], dt)
    one = like(y[0, 0], 1.0)
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
                # x_inf = αx/(αx+βx) does not depend on the temperature factor φ; the decay
                # rates do: e^(-dt·φ·(αx+βx))
                an, bn, am, bm, ah, bh = rates_unscaled(V, pb[P_VREST, l])
                hp = h * pb[P_PHI, l]
                gna = pb[P_GNA, l] * (m * m * m * g)
                gk = pb[P_GK, l] * ((n * n) * (n * n))
                gl = pb[P_GL, l]
                gtot = gna + gk + gl
                sn, sm, sh = an + bn, am + bm, ah + bh
                # one division for the four reciprocals 1/sn, 1/sm, 1/sh, 1/gtot
                p1 = sn * sm
                p2 = sh * gtot
                R = one / (p1 * p2)
                q1 = p2 * R                              # 1/(sn·sm)
                q2 = p1 * R                              # 1/(sh·gtot)
                # αx/(αx+βx) can round one ulp above 1 through the shared reciprocal: cap it,
                # so each gate update stays a convex combination inside [0, 1]
                ninf = an * (sm * q1)
                minf = am * (sn * q1)
                hinf = ah * (gtot * q2)
                ninf = select(ninf > one, one, ninf)
                minf = select(minf > one, one, minf)
                hinf = select(hinf > one, one, hinf)
                vinf = (I[0, l] + gna * pb[P_ENA, l] + gk * pb[P_EK, l] + gl * pb[P_EL, l]) * (
                    sh * q2)
                V1 = vinf + (V - vinf) * vexp_below(-h * gtot * pb[P_ICM, l])
                n1 = ninf + (n - ninf) * vexp_below(-hp * sn)
                m1 = minf + (m - minf) * vexp_below(-hp * sm)
                g1 = hinf + (g - hinf) * vexp_below(-hp * sh)
                # every lane is advanced, diverged ones too (their frozen state is in fz);
                # a per-lane select here made LLVM branch around the update and give up
                st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
                ev |= lane_event(V1, n1, m1, g1, pb[P_THR, l], armed[l], alive[l])
            rec_left = end_of_step(ev, pb, ic, fo, spikes, i0, k, t0, dt, win0, win1, st, prev,
                                   fz, armed, alive, I, rec, rec_slot, rec_var, record_every,
                                   rec_left)
        block_store(y, ic, i0, st, fz, armed, alive)
