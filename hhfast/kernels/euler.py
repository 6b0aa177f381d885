"""Forward Euler, order 1: y_{k+1} = y_k + dt · f(t_k, y_k).

Cheapest per step (one right-hand side), but explicit and first order: stable only for
dt below roughly 0.07–0.09 ms on HH, and its spike times converge linearly in dt.
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
    dV, dn, dm, dh = rhs(V, n, m, g, I0, pb, l)
    return V + h * dV, n + h * dn, m + h * dm, g + h * dh


SPEC = MethodSpec(
    name="euler", step=step, order=1, kind="fixed", check=no_check,
    wp_range=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    description="forward Euler: one right-hand side per step",
    reference="Euler (1768); Hairer, Nørsett & Wanner, Solving ODEs I, §I.7",
)
