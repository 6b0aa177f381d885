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

from .. import config
from .common import INLINE, drive_fixed, rhs
from .fastexp import like
from .noise import drive_noisy
from .spec import MethodSpec, no_check


@njit(**INLINE)
def step(V, n, m, g, I0, I1, I2, pb, l, dt):
    """One step of lane ``l`` (see :func:`common.drive_fixed`)."""
    h = like(V, dt)
    h2 = like(V, 0.5 * dt)
    a1, b1, c1, d1 = rhs(V, n, m, g, I0, pb, l)
    a2, b2, c2, d2 = rhs(V + h * a1, n + h * b1, m + h * c1, g + h * d1, I2, pb, l)
    return V + h2 * (a1 + a2), n + h2 * (b1 + b2), m + h2 * (c1 + c2), g + h2 * (d1 + d2)


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
    name="heun", run=run, order=2, kind="fixed", stage_times=(0.0, 1.0), check=no_check,
    wp_range=(0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05),
    description="Heun / explicit trapezoid (RK2): two right-hand sides per step",
    reference="Heun (1900); Hairer, Nørsett & Wanner, Solving ODEs I, §II.1",
    run_noisy=run_noisy,
)
