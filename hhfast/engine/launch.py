"""``launch``: run a :class:`~.plan.RunPlan` on its backend, chunk by chunk
(docs/architecture.md §4).

It owns :data:`KERNEL_LOCK`, the chunking (``backend.chunk_neurons`` neurons at a time, so
temporaries stay bounded whatever the batch), the packing of each chunk into the structures of
:mod:`hhfast.kernels.layout`, and the copy of each chunk's outputs into the batch's
:class:`Outputs`.  What depends on the target (threads, padding) is the backend's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import config
from ..features import accumulators, window_table
from ..kernels import layout as L
from ..noise import coefficients as noise_coefficients
from ..noise import initial_current as noise_initial_current

if TYPE_CHECKING:  # (annotations only: plan runs launch, launch does not import plan)
    from .plan import RunPlan

#: Held around every kernel launch and the backend's session that frames it (the CPU's
#: ``numba.set_num_threads`` calls), so ``simulate`` is safe from several Python threads
#: whatever Numba's threading layer (the default workqueue layer aborts the process when two
#: threads launch parallel kernels at once; ``set_num_threads`` is per thread).  Re-entrant,
#: so a caller may hold it around ``simulate``.  Calls from several threads run their kernels
#: one after another; the checks, allocation and result building still overlap.
KERNEL_LOCK = threading.RLock()


@dataclass(eq=False)
class Outputs:
    """What the kernels leave for the whole batch (neuron index last, as the layout): final
    state ``y[4, N]``, counters ``ic[NI, N]``, outputs ``fo[NF, N]``, ``spikes[N, max_spikes]``,
    the traces ``rec[R, S, M]``; per term: the final OU current ``ou[N]``, the channel state
    ``X[NX, N]``, the adaptive step statistics ``stats[NS, N]`` (None without the term)."""

    y: np.ndarray
    ic: np.ndarray
    fo: np.ndarray
    spikes: np.ndarray
    rec: np.ndarray
    ou: np.ndarray | None = None
    X: np.ndarray | None = None
    stats: np.ndarray | None = None
    A: np.ndarray | None = None

    @classmethod
    def allocate(cls, p: RunPlan) -> Outputs:
        r, n = p.recording, p.n
        return cls(
            y=np.empty((4, n)), ic=np.empty((L.NI, n), dtype=np.int64), fo=np.empty((L.NF, n)),
            spikes=np.empty((n, p.max_spikes)),
            rec=np.full((len(r.names), r.n_samples, r.neurons.size), np.nan),
            ou=np.empty(n) if p.noise is not None else None,
            X=np.empty((L.NX, n)) if p.channel is not None else None,
            stats=np.empty((L.NS, n), dtype=np.int64) if p.adaptive is not None else None,
            A=(np.empty((L.NA, p.feature_windows.shape[0], n)) if p.features else None))


def launch(p: RunPlan) -> Outputs:
    """Run the plan's kernel on every chunk of its batch; the outputs of the whole batch."""
    backend = p.backend
    kernel = backend.kernel(p.method, noisy=p.noise is not None, channel=p.channel,
                            features=bool(p.features))
    out = Outputs.allocate(p)
    step = backend.chunk_for(p)
    with KERNEL_LOCK, backend.session(p.num_threads, min(p.n, step)):
        for lo in range(0, p.n, step):
            run_chunk(p, kernel, lo, min(p.n, lo + step), out)
    return out


def run_chunk(p: RunPlan, kernel, lo: int, hi: int, out: Outputs) -> None:
    """Pack neurons ``[lo, hi)`` (padded to the backend's lanes with copies of the last),
    launch ``kernel`` on them, copy their outputs into ``out``."""
    backend, n = p.backend, hi - lo
    npad = -(-n // backend.lanes) * backend.lanes
    take = np.minimum(np.arange(lo, lo + npad), hi - 1)
    col = L.columns(p.values, take)
    P = L.params(col)
    y = L.initial_state(col, P)
    ic, fo, spikes = L.counters(y, P, None if p.armed is None else p.armed.flat[take],
                                p.max_spikes)
    r = p.recording
    slots = r.slot[take].copy()
    slots[n:] = -1
    if r.names:  # sample 0, the initial state (a channel run: V and the open fractions)
        own = slots[:n] >= 0
        y0 = y if p.channel is None else np.stack([y[0], y[1] ** 4, y[2] ** 3 * y[3]])
        for k, v in enumerate(r.rows):
            out.rec[k, 0, slots[:n][own]] = y0[v, :n][own]
    inv_cm = P[L.P_ICM]
    if p.dtype != np.float64:
        # the initial state and parameters are rounded once; steady states were computed in
        # float64 above, so float32 runs start from the same (rounded) state
        y, P = y.astype(p.dtype), P.astype(p.dtype)
    t = p.tables
    batch = L.Batch(y, P, t.index[take], t.tb, t.c0, t.c1, ic, fo, spikes, out.rec, slots,
                    r.rows, p.t_start, p.dt, p.n_steps, p.window[0], p.window[1],
                    r.every if r.names else p.n_steps + 1)
    noise = channel = adaptive = None  # the run's terms, in the order the kernel takes them
    if p.noise is not None:
        z = p.noise
        sigma = _or_zeros(col("noise_sigma"), npad)
        tau = _or_zeros(col("noise_tau"), npad)
        trial = np.ascontiguousarray(z.trial[take])
        ou = noise_initial_current(sigma, tau, col("noise_I0"), z.seed, trial, z.k_first)
        noise = L.NoiseBatch(noise_coefficients(sigma, tau, inv_cm, p.dt).astype(p.dtype),
                             trial, ou, z.k0, z.k1, np.int64(z.k_first))
    if p.channel is not None:  # occupancies (or gates) from the initial gates, 1/N per kind
        gates = p.channel.state == "gates"
        X, NC = L.channel(gates, y, col)
        channel = L.ChannelBatch(X.astype(p.dtype), NC.astype(p.dtype),
                                 L.philox_calls(p.channel.sources), gates)
    if p.adaptive is not None:
        a = p.adaptive
        rec_dt = p.dt * r.every if r.names else p.t_end - p.t_start
        adaptive = L.AdaptiveBatch(p.t_end, a.rtol, a.atol, a.max_steps, rec_dt,
                                   np.zeros((L.NS, npad), dtype=np.int64))
    ft = None
    if p.features:  # the features term, last (docs/architecture.md §3.2)
        ft = L.FeatureBatch(accumulators(npad, p.feature_windows.shape[0]),
                            window_table(p.feature_windows),
                            float(config.FEATURE_DERIVATIVE_THRESHOLD),
                            int(config.FEATURE_DERIVATIVE_WINDOW))
    backend.launch(kernel, batch,
                   *(t for t in (noise, channel, adaptive, ft) if t is not None))
    out.y[:, lo:hi] = y[:, :n]
    out.ic[:, lo:hi] = ic[:, :n]
    out.fo[:, lo:hi] = fo[:, :n]
    out.spikes[lo:hi] = spikes[:n]
    if noise is not None:
        out.ou[lo:hi] = noise.ou[:n]
    if channel is not None:
        out.X[:, lo:hi] = channel.X[:, :n]
    if adaptive is not None:
        out.stats[:, lo:hi] = adaptive.stats[:, :n]
    if ft is not None:
        out.A[:, :, lo:hi] = ft.A[:, :, :n]


def _or_zeros(a: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n) if a is None else a
