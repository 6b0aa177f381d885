"""Heun's method (explicit trapezoid, RK2), order 2.

Tableau (c | A, b)::

    0 |
    1 | 1
    --+---------
      | 1/2  1/2

Two right-hand sides per step, at the step's start and end (stimulus currents at t and
t + dt by the edge rule, so the order survives edges on the grid).  Its real-axis stability
interval is that of Euler ([-2, 0]), so it blows up near the same dt.
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
    a1, b1, c1, d1 = rhs(V, n, m, g, I0, pb, l)
    a2, b2, c2, d2 = rhs(V + h * a1, n + h * b1, m + h * c1, g + h * d1, I2, pb, l)
    return V + h2 * (a1 + a2), n + h2 * (b1 + b2), m + h2 * (c1 + c2), g + h2 * (d1 + d2)


SPEC = MethodSpec(
    name="heun", step=step, order=2, kind="fixed", check=no_check,
    wp_range=(0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05),
    description="Heun / explicit trapezoid (RK2): two right-hand sides per step",
    reference="Heun (1900); Hairer, Nørsett & Wanner, Solving ODEs I, §II.1",
)
