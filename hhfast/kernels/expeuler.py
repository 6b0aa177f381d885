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

import numpy as np
from numba import njit

from ..errors import InputValueError
from .fastexp import always_inline, like, select, vexp_below
from .hh import rates_unscaled
from .layout import (
    P_EK,
    P_EL,
    P_ENA,
    P_GK,
    P_GL,
    P_GNA,
    P_ICM,
    P_PHI,
    P_VREST,
)
from .options import HOT
from .spec import MethodSpec


@njit(**HOT)
def step(V, n, m, g, I0, I1, I2, pb, l, dt, ts):
    """One step of lane ``l`` (:func:`hhfast.kernels.cpu.drive`)."""
    always_inline()
    h = like(V, dt)
    one = like(V, 1.0)
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
    vinf = (I0 + gna * pb[P_ENA, l] + gk * pb[P_EK, l] + gl * pb[P_EL, l]) * (sh * q2)
    V1 = vinf + (V - vinf) * vexp_below(-h * gtot * pb[P_ICM, l])
    n1 = ninf + (n - ninf) * vexp_below(-hp * sn)
    m1 = minf + (m - minf) * vexp_below(-hp * sm)
    g1 = hinf + (g - hinf) * vexp_below(-hp * sh)
    return V1, n1, m1, g1


def check(values: dict[str, np.ndarray]) -> None:
    """V is advanced towards V_inf = (I + sum g E) / g_tot: with gL = 0 the total conductance
    can vanish (a pure capacitor) and V_inf is undefined, so gL must be > 0."""
    gL = values["gL"]
    if (gL <= 0).any():
        raise InputValueError(
            f"gL must be > 0 for method='expeuler' (its V update divides by the total "
            f"conductance), got {gL.reshape(-1)[np.argmin(gL)]!r}; use method='rk4' or "
            f"'euler' for a membrane without leak"
        )


SPEC = MethodSpec(
    name="expeuler", step=step, order=1, kind="fixed", check=check,
    wp_range=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
    description="exponential Euler on V and the gates (Brian2, GENESIS): finite at any dt",
    reference="MacGregor, Neural and Brain Modeling (1987); Brian2 'exponential_euler'",
)
