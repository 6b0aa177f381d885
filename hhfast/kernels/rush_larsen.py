"""Rush–Larsen, order 1: the standard of cardiac and large-network codes.

Each gate is advanced exactly over the step with V frozen at the step's start,
x∞ + (x − x∞)·e^(−dt·φ·(αx + βx)) (:func:`common.gates_frozen_v`), and V by forward Euler with
the gates and current at the step's start.  The gates stay in [0, 1] at any dt, but V's
explicit update limits the stable dt to about Euler's.
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
    V1 = V + like(V, dt) * dvdt(V, n, m, g, I0, pb, l)
    n1, m1, g1 = gates_frozen_v(V, n, m, g, pb, l, dt)
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
    name="rush_larsen", run=run, order=1, kind="fixed", stage_times=(0.0,), check=no_check,
    wp_range=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    description="Rush–Larsen: gates exact with V frozen, V by forward Euler",
    reference="Rush & Larsen, IEEE Trans. Biomed. Eng. 25:389–392 (1978)",
    run_noisy=run_noisy,
)
