"""Forward Euler, order 1: y_{k+1} = y_k + dt · f(t_k, y_k).

Cheapest per step (one right-hand side), but explicit and first order: stable only for
dt below roughly 0.07–0.09 ms on HH, and its spike times converge linearly in dt.
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
    dV, dn, dm, dh = rhs(V, n, m, g, I0, pb, l)
    return V + h * dV, n + h * dn, m + h * dm, g + h * dh


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
    name="euler", run=run, order=1, kind="fixed", stage_times=(0.0,), check=no_check,
    wp_range=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    description="forward Euler: one right-hand side per step",
    reference="Euler (1768); Hairer, Nørsett & Wanner, Solving ODEs I, §I.7",
    run_noisy=run_noisy,
)
