"""Rush–Larsen, order 1: the standard of cardiac and large-network codes.

Each gate is advanced exactly over the step with V frozen at the step's start,
x∞ + (x − x∞)·e^(−dt·φ·(αx + βx)) (:func:`common.gates_frozen_v`), and V by forward Euler with
the gates and current at the step's start.  The gates stay in [0, 1] at any dt, but V's
explicit update limits the stable dt to about Euler's.
"""

from numba import njit

from .fastexp import always_inline, like
from .hh import dvdt, gates_frozen_v
from .options import HOT
from .spec import MethodSpec, no_check


@njit(**HOT)
def step(V, n, m, g, I0, I1, I2, pb, l, dt, ts):
    """One step of lane ``l`` (:func:`hhfast.kernels.cpu.drive`)."""
    always_inline()
    V1 = V + like(V, dt) * dvdt(V, n, m, g, I0, pb, l)
    n1, m1, g1 = gates_frozen_v(V, n, m, g, pb, l, dt)
    return V1, n1, m1, g1


SPEC = MethodSpec(
    name="rush_larsen", step=step, order=1, kind="fixed", check=no_check,
    wp_range=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    description="Rush–Larsen: gates exact with V frozen, V by forward Euler",
    reference="Rush & Larsen, IEEE Trans. Biomed. Eng. 25:389–392 (1978)",
)
