"""High-accuracy reference solutions with scipy's ``solve_ivp``.

The reference integrates each neuron separately, piecewise between the stimulus breakpoints
(restarting the integrator at every edge, so no step ever straddles a discontinuity), at tight
tolerances (default ``rtol = atol = 1e-10``) with dense output.  Spike times are located by
scipy's event detection (root finding on the dense output) on upward crossings of the threshold,
which is the kernels' re-arming rule: a second upward crossing needs V to fall below first.

It returns the same :class:`~hhfast.result.SimResult` as :func:`hhfast.simulate`, so results
compare like for like; the dense solutions are kept in ``result.info["dense"]`` (one list of
``(t0, t1, OdeSolution)`` pieces per neuron).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from . import config
from .engine import PER_NEURON
from .model import FIELDS, STATE, HHParams, derivatives, steady_state
from .result import SimResult, SpikeTimes
from .stimulus import Stimulus

__all__ = ["solve", "dense_state"]


def _one(stim, t_start, t_stop, p, amplitude, bias, y0, thr, rtol, atol, method):
    edges = [t for t in stim.edges if t_start < t < t_stop]
    bounds = [t_start, *edges, t_stop]
    y = np.asarray(y0, dtype=float)
    spikes: list[float] = []
    pieces = []

    def crossing(t, y):
        return y[0] - thr

    crossing.direction = 1.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        # on [a, b) the shape is linear: c0 + c1 t, taken from the piece in force after a
        s0 = float(stim(a))
        slope = float(stim.c1[np.searchsorted(stim.t, a, side="right") - 1]) if (
            len(stim.t) and a >= stim.t[0]) else 0.0
        base = s0 - slope * a

        def f(t, y, base=base, slope=slope):
            return derivatives(t, y, bias + amplitude * (base + slope * t), p)

        sol = solve_ivp(f, (a, b), y, method=method, rtol=rtol, atol=atol,
                        dense_output=True, events=crossing)
        if sol.status < 0:
            raise RuntimeError(f"reference solver failed on [{a}, {b}] ms: {sol.message}")
        # an event exactly at the piece start is the previous piece's crossing seen again
        spikes.extend(t for t in sol.t_events[0] if t > a or not spikes or t != spikes[-1])
        pieces.append((a, b, sol.sol))
        y = sol.y[:, -1]
    return np.array(spikes), y, pieces


def dense_state(pieces, t) -> np.ndarray:
    """Evaluate a neuron's piecewise dense reference solution at times ``t`` (ms) -> (4, len(t))."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    out = np.empty((4, t.size))
    for j, (a, b, sol) in enumerate(pieces):
        last = j == len(pieces) - 1
        sel = (t >= a) & ((t < b) | (last & (t <= b)))
        if sel.any():
            out[:, sel] = sol(t[sel])
    return out


def solve(
    stimulus: Stimulus,
    t_stop: float,
    params: HHParams | None = None,
    *,
    t_start: float = 0.0,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    method: str = "DOP853",
    threshold=None,
    record_dt: float = 0.01,
    max_spikes: int = config.MAX_SPIKES,
    **per_neuron,
) -> SimResult:
    """Reference solution with ``scipy.integrate.solve_ivp`` for one neuron or a small batch.

    Parameters
    ----------
    stimulus : Stimulus
        Current shape; the neuron receives ``bias + amplitude * shape(t)`` µA/cm².
    t_stop : float
        End time (ms).
    params : HHParams, optional
        Model parameters (default classic).
    rtol, atol : float
        solve_ivp tolerances (default 1e-10: spike times good to ~1e-9 ms, checked against
        Radau in the tests).
    method : str
        solve_ivp method (``"DOP853"``, ``"Radau"``, ``"LSODA"``, ...).
    threshold : float, optional
        Spike threshold (mV); default as in :func:`hhfast.simulate`.
    record_dt : float
        Spacing (ms) of the returned V, n, m, h samples (taken from the dense output).
    **per_neuron : float or array
        As in :func:`hhfast.simulate` (model fields, ``amplitude``, ``bias``, ``V0..h0``);
        arrays broadcast to a (small) batch solved one neuron after the other.

    Returns
    -------
    SimResult
        With ``method = "reference:<method>"``, all four variables recorded for every neuron.
    """
    params = HHParams.classic() if params is None else params
    unknown = sorted(set(per_neuron) - set(PER_NEURON))
    if unknown:
        raise TypeError(f"solve() got unexpected keyword argument(s) {unknown}")
    vals = {k: np.asarray(v, dtype=float) for k, v in per_neuron.items()}
    if threshold is not None:
        vals["threshold"] = np.asarray(threshold, dtype=float)
    shape = (np.broadcast_shapes(*(v.shape for v in vals.values())) if vals else ()) or (1,)
    N = int(np.prod(shape, dtype=int))
    flat = {k: np.broadcast_to(v, shape).reshape(-1) for k, v in vals.items()}
    n_samples = int(round((t_stop - t_start) / record_dt)) + 1
    t_rec = t_start + record_dt * np.arange(n_samples)
    rec = np.empty((4, N, n_samples))
    count = np.zeros(N, dtype=np.int64)
    times = np.full((N, max_spikes), np.nan)
    first = np.full(N, np.nan)
    final = np.empty((4, N))
    dense = []
    for i in range(N):
        p = params.replace(**{k: float(flat[k][i]) for k in FIELDS if k in flat})
        V0 = float(flat["V0"][i]) if "V0" in flat else p.V_rest
        ss = steady_state(p.V_rest, p)  # gates at rest whatever V0, as in simulate
        y0 = [V0] + [float(flat[f"{g}0"][i]) if f"{g}0" in flat else float(ss[j])
                     for j, g in enumerate("nmh")]
        thr = float(flat["threshold"][i]) if "threshold" in flat else p.default_threshold
        amp = float(flat["amplitude"][i]) if "amplitude" in flat else 1.0
        bias = float(flat["bias"][i]) if "bias" in flat else 0.0
        sp, yend, pieces = _one(stimulus, t_start, t_stop, p, amp, bias, y0, thr, rtol, atol,
                                method)
        count[i] = sp.size
        k = min(sp.size, max_spikes)
        times[i, :k] = sp[:k]
        first[i] = sp[0] if sp.size else np.nan
        final[:, i] = yend
        rec[:, i, :] = dense_state(pieces, t_rec)
        dense.append(pieces)
    nan = np.full(shape, np.nan)
    wcount = count.reshape(shape)
    return SimResult(
        t=t_rec,
        traces={s: rec[v] for v, s in enumerate(STATE)},
        recorded=np.arange(N),
        spike_count=count.reshape(shape),
        spike_times=SpikeTimes(times, count, shape),
        first_spike=first.reshape(shape),
        diverged=np.zeros(shape, dtype=bool),
        diverged_time=nan.copy(),
        final_state={s: final[v].reshape(shape) for v, s in enumerate(STATE)},
        window=(t_start, t_stop),
        window_count=wcount,
        window_first=first.reshape(shape),
        window_last=nan.copy(),
        window_isi_sumsq=nan.copy(),
        params={k: np.broadcast_to(v, shape) for k, v in vals.items()},
        method=f"reference:{method}",
        dt=float("nan"),
        t_start=t_start,
        t_stop=t_stop,
        n_steps=0,
        stimulus=stimulus,
        info={"dense": dense, "rtol": rtol, "atol": atol},
    )
