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

from numba import njit

from .fastexp import always_inline, like
from .hh import rhs
from .options import HOT
from .spec import MethodSpec, no_check


@njit(**HOT)
def step(V, n, m, g, I0, I1, I2, pb, l, dt, ts):
    """One step of lane ``l`` (:func:`hhfast.kernels.cpu.drive`)."""
    always_inline()
    h = like(V, dt)
    h2 = like(V, 0.5 * dt)
    h6 = like(V, dt / 6.0)
    two = like(V, 2.0)
    a1, b1, c1, d1 = rhs(V, n, m, g, I0, pb, l)
    a2, b2, c2, d2 = rhs(V + h2 * a1, n + h2 * b1, m + h2 * c1, g + h2 * d1, I1, pb, l)
    a3, b3, c3, d3 = rhs(V + h2 * a2, n + h2 * b2, m + h2 * c2, g + h2 * d2, I1, pb, l)
    a4, b4, c4, d4 = rhs(V + h * a3, n + h * b3, m + h * c3, g + h * d3, I2, pb, l)
    return (V + h6 * (a1 + two * (a2 + a3) + a4),
            n + h6 * (b1 + two * (b2 + b3) + b4),
            m + h6 * (c1 + two * (c2 + c3) + c4),
            g + h6 * (d1 + two * (d2 + d3) + d4))


SPEC = MethodSpec(
    name="rk4", step=step, order=4, kind="fixed", check=no_check,
    wp_range=(0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.07, 0.08),
    description="classic Runge–Kutta: four right-hand sides per step",
    reference="Kutta (1901); Hairer, Nørsett & Wanner, Solving ODEs I, §II.1",
)
