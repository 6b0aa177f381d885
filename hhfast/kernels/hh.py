"""The Hodgkin–Huxley model as the kernels evaluate it: rate functions, right-hand side, the
gates advanced with V frozen.  Scalar functions of one lane's state and its parameter column
``pb[:, l]`` (rows ``layout.P_*``): no allocation, no Python objects, so the same source can be
compiled for another target (docs/architecture.md §3).

Each is a ``HOT`` helper (:mod:`.options`): typed once per float type, cached, and inlined by
LLVM into the lane loops.  Tested against :mod:`hhfast.model` in ``tests/test_kernel_rates.py``.
"""

from __future__ import annotations

import math

from numba import njit

from .fastexp import (
    always_inline,
    exp_arg_max,
    like,
    rate_arg_max,
    select,
    series_cutoff,
    vexp_below,
)
from .layout import P_EK, P_EL, P_ENA, P_GK, P_GL, P_GNA, P_ICM, P_PHI, P_VREST
from .options import HOT, INLINE

E1 = math.exp(1.0)
E25 = math.exp(2.5)
E3 = math.exp(3.0)


@njit(**INLINE)
def x_over_expm1_series(z):
    """z / (e^z - 1) near z = 0 by its series to the z^8 term (Bernoulli numbers; error
    < 2.1e-8 |z|^10, see ``config.KERNEL_SERIES_CUTOFF64``)."""
    z2 = z * z
    even = like(z, 1.0) + z2 * (like(z, 1.0 / 12.0) + z2 * (like(z, -1.0 / 720.0) + z2 * (
        like(z, 1.0 / 30240.0) + z2 * like(z, -1.0 / 1209600.0))))
    return even - like(z, 0.5) * z


@njit(**HOT)
def rates_unscaled(V, Vr):
    """(αn, βn, αm, βm, αh, βh) in 1/ms at V (mV) for rest Vr, before the temperature factor.

    Written to vectorise and to do little work: two exponentials instead of six.
    F = e^(-u/80) gives βn; its square e^(-u/40), its fourth power e^(-u/20) (αh) and its
    eighth power E = e^(-u/10); the exponentials e^((10-u)/10), e^((25-u)/10) and
    e^((30-u)/10) of αn, αm and βh are constants times E; βm needs its own e^(-u/18).  The
    three divisions share one reciprocal.  The removable 0/0 of αn at u = 10 mV and αm at
    u = 25 mV is taken by one series evaluation (the two are never both near zero; the zero
    denominator is replaced by 1 in the shared product, so the other rates stay exact
    there).  Three squarings multiply F's relative error by 8 (E is within ~8 ulp, 2e-15, of
    e^(-u/10); measured against :func:`hhfast.model.rates` in ``tests/test_kernel_rates.py``).
    The exponent of F is capped above (``rate_arg_max``: u below -2000 mV in float64, -250 mV
    in float32, far outside any trajectory that has not already diverged) so that the shared
    product cannot overflow; G's at the largest finite exponential (βm saturates instead of
    becoming inf below -12700 mV, -1580 mV in float32).
    """
    always_inline()
    u = V - Vr
    cap = rate_arg_max(u)
    a = u * like(u, -0.0125)                     # -u/80
    F = vexp_below(select(a > cap, cap, a))      # e^(-u/80)
    b = u * like(u, -1.0 / 18.0)
    G = vexp_below(select(b > exp_arg_max(u), exp_arg_max(u), b))  # e^(-u/18)
    F2 = F * F                                   # e^(-u/40)
    F4 = F2 * F2                                 # e^(-u/20)
    E = F4 * F4                                  # e^(-u/10)
    one = like(u, 1.0)
    zn = one + u * like(u, -0.1)                 # (10 - u)/10
    zm = like(u, 2.5) + u * like(u, -0.1)        # (25 - u)/10
    dn = like(u, E1) * E - one                   # e^zn - 1
    dm = like(u, E25) * E - one                  # e^zm - 1
    dh = like(u, E3) * E + one                   # e^((30 - u)/10) + 1
    small_n = abs(zn) < series_cutoff(u)
    small_m = abs(zm) < series_cutoff(u)
    ser = x_over_expm1_series(select(small_n, zn, zm))
    dn_s = select(small_n, one, dn)
    dm_s = select(small_m, one, dm)
    R = one / (dn_s * dm_s * dh)
    an = like(u, 0.1) * select(small_n, ser, zn * (dm_s * dh * R))
    am = select(small_m, ser, zm * (dn_s * dh * R))
    bh = dn_s * dm_s * R
    return an, like(u, 0.125) * F, am, like(u, 4.0) * G, like(u, 0.07) * F4, bh


@njit(**HOT)
def rates(V, Vr, phi):
    """(αn, βn, αm, βm, αh, βh) in 1/ms at V (mV) for rest Vr and temperature factor phi
    (see :func:`rates_unscaled`)."""
    always_inline()
    an, bn, am, bm, ah, bh = rates_unscaled(V, Vr)
    return phi * an, phi * bn, phi * am, phi * bm, phi * ah, phi * bh


@njit(**HOT)
def dvdt(V, n, m, h, I, pb, l):
    """dV/dt (mV/ms) of lane ``l`` at current I (µA/cm²): the V row of :func:`rhs` alone."""
    always_inline()
    m3h = m * m * m * h
    n4 = (n * n) * (n * n)
    i_ion = (
        pb[P_GNA, l] * m3h * (V - pb[P_ENA, l])
        + pb[P_GK, l] * n4 * (V - pb[P_EK, l])
        + pb[P_GL, l] * (V - pb[P_EL, l])
    )
    return (I - i_ion) * pb[P_ICM, l]


@njit(**HOT)
def rhs(V, n, m, h, I, pb, l):
    """HH right-hand side for lane ``l`` of a block (parameters ``pb``) at current I
    (µA/cm²): (dV, dn, dm, dh) per ms.  The temperature factor multiplies each gate's
    derivative once instead of each rate."""
    always_inline()
    an, bn, am, bm, ah, bh = rates_unscaled(V, pb[P_VREST, l])
    phi = pb[P_PHI, l]
    one = like(V, 1.0)
    return (
        dvdt(V, n, m, h, I, pb, l),
        phi * (an * (one - n) - bn * n),
        phi * (am * (one - m) - bm * m),
        phi * (ah * (one - h) - bh * h),
    )


@njit(**HOT)
def gates_frozen_v(Vf, n, m, h, pb, l, dt):
    """The gates advanced exactly over ``dt`` ms with V frozen at ``Vf`` (mV):
    x∞ + (x − x∞)·e^(−dt·φ·(αx + βx)), x∞ = αx/(αx + βx) at Vf (the Rush–Larsen update).

    One division for the three reciprocals; x∞ is capped at 1 (the shared reciprocal can
    round it one ulp above), so each update is a convex combination and stays in [0, 1]."""
    always_inline()
    an, bn, am, bm, ah, bh = rates_unscaled(Vf, pb[P_VREST, l])
    one = like(Vf, 1.0)
    hp = like(Vf, dt) * pb[P_PHI, l]
    sn, sm, sh = an + bn, am + bm, ah + bh
    snm = sn * sm
    R = one / (snm * sh)
    shR = sh * R
    ninf = an * (sm * shR)
    minf = am * (sn * shR)
    hinf = ah * (snm * R)
    ninf = select(ninf > one, one, ninf)
    minf = select(minf > one, one, minf)
    hinf = select(hinf > one, one, hinf)
    return (ninf + (n - ninf) * vexp_below(-hp * sn),
            minf + (m - minf) * vexp_below(-hp * sm),
            hinf + (h - hinf) * vexp_below(-hp * sh))
