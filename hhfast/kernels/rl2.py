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

from .. import config
from .common import INLINE, drive_fixed, dvdt, gates_frozen_v
from .fastexp import like
from .noise import drive_noisy
from .spec import MethodSpec, no_check


@njit(**INLINE)
def step(V, n, m, g, I0, I1, I2, pb, l, dt):
    """One step of lane ``l`` (see :func:`common.drive_fixed`)."""
    Vh = V + like(V, 0.5 * dt) * dvdt(V, n, m, g, I0, pb, l)
    nh, mh, gh = gates_frozen_v(V, n, m, g, pb, l, 0.5 * dt)
    V1 = V + like(V, dt) * dvdt(Vh, nh, mh, gh, I1, pb, l)
    n1, m1, g1 = gates_frozen_v(Vh, n, m, g, pb, l, dt)
    return V1, n1, m1, g1


@njit(parallel=True, nogil=True, cache=True, fastmath=config.FASTMATH, error_model="numpy")
def run(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
        rec_var, record_every):
    """Advance every neuron ``n_steps`` steps of ``dt`` ms from ``t0`` (see ``common``)."""
    drive_fixed(step, y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec,
                rec_slot, rec_var, record_every)


@njit(parallel=True, nogil=True, cache=True, fastmath=config.FASTMATH, error_model="numpy")
def run_noisy(y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec, rec_slot,
              rec_var, record_every, NZ, trial, ou, k0, k1, kfirst):
    """``run`` with current noise (see ``noise``)."""
    drive_noisy(step, y, P, tidx, tb, c0, c1, t0, dt, n_steps, win0, win1, ic, fo, spikes, rec,
                rec_slot, rec_var, record_every, NZ, trial, ou, k0, k1, kfirst)


SPEC = MethodSpec(
    name="rl2", run=run, order=2, kind="fixed", stage_times=(0.0, 0.5), check=no_check,
    wp_range=(0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05),
    description="second-order Rush–Larsen: midpoint V, exponential-midpoint gates",
    reference="Sundnes, Artebrant, Skavhaug & Tveito, IEEE Trans. Biomed. Eng. 56:2546–2548 "
              "(2009); Perego & Veneziani, ETNA 35:234–256 (2009)",
    run_noisy=run_noisy,
)
