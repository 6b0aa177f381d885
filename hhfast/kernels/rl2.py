"""Second-order Rush–Larsen (the midpoint scheme of Sundnes et al. 2009), order 2.

A half step to the midpoint by Rush–Larsen, then the full step from the start with every
coefficient frozen at the midpoint state:

- midpoint:  V* = V + dt/2 · f_V(V, x, I(t));   x* = RL_{dt/2}(x; V)
- full step: V₁ = V + dt · f_V(V*, x*, I(t + dt/2));   x₁ = RL_dt(x; V*)

where RL_τ(x; U) = x∞(U) + (x − x∞(U))·e^(−τ·φ·(αx + βx)(U)) is the exact gate update over τ
with V frozen at U (:func:`common.gates_frozen_v`).  V follows the explicit midpoint rule;
each gate follows the exponential midpoint rule (x' = λ(t)(x∞(t) − x) with λ and x∞ frozen at
an O(dt²)-accurate midpoint), so both have local error O(dt³).  Two rate evaluations (four
exponentials) and two divisions per step; gates stay in [0, 1] at any dt.
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
    Vh = V + like(V, 0.5 * dt) * dvdt(V, n, m, g, I0, pb, l)
    nh, mh, gh = gates_frozen_v(V, n, m, g, pb, l, 0.5 * dt)
    V1 = V + like(V, dt) * dvdt(Vh, nh, mh, gh, I1, pb, l)
    n1, m1, g1 = gates_frozen_v(Vh, n, m, g, pb, l, dt)
    return V1, n1, m1, g1


SPEC = MethodSpec(
    name="rl2", step=step, order=2, kind="fixed", check=no_check,
    wp_range=(0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05),
    description="second-order Rush–Larsen: midpoint V, exponential-midpoint gates",
    reference="Sundnes, Artebrant, Skavhaug & Tveito, IEEE Trans. Biomed. Eng. 56:2546–2548 "
              "(2009); Perego & Veneziani, ETNA 35:234–256 (2009)",
)
