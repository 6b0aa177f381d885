"""Accuracy against cost: the work-precision measurement behind ``hhfast bench
--work-precision`` and the cheapest run per accuracy target."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from .. import _checks as C
from ..engine import simulate
from ..errors import InputTypeError, InputValueError
from ..kernels import METHODS
from ..reference import solve
from ..stimulus import step
from . import _args
from .comparison import compare
from .defaults import WP_TARGETS

__all__ = ["work_precision", "cheapest"]


def work_precision(
    methods: Sequence[str] | None = None,
    dts: dict | None = None,
    *,
    n_neurons: int = 1000,
    t_stop: float = 200.0,
    current_max: float = 20.0,
    n_ref: int = 20,
    ref_rtol: float = 1e-11,
    scipy_rtols: Sequence[float] = (1e-3, 1e-5, 1e-7),
    repeats: int = 3,
    max_spikes: int = 128,
    progress: Callable[[str], None] | None = None,
    dtypes: Sequence = (np.float64,),
) -> list[dict]:
    """Spike-time error against cost for each method and dt, on a batch of step currents.

    Neuron ``i`` of ``n_neurons`` receives a constant current ``linspace(0, current_max)[i]``
    µA/cm² from rest for ``t_stop`` ms.  Each (method, dt) runs the whole batch (wall time:
    median of ``repeats`` runs after a warm-up that compiles, a single run when one takes over
    5 s); its spike times are compared with the scipy reference on ``n_ref`` neurons spread
    evenly over the batch (solving all of them with scipy would take hours).  Scipy
    ``solve_ivp`` itself (DOP853, one neuron after another, the gist's way) is measured as a
    yardstick at ``scipy_rtols`` on the same ``n_ref`` neurons.  ``methods`` defaults to the
    keys of ``dts``, else every method of the registry (:func:`hhfast.methods`), and ``dts``
    to each method's ``wp_range``.  For an adaptive method (``"dopri5"``) the values of
    ``dts`` are its rtols (atol = rtol; 0.01 ms first step).  ``dtypes`` lists the kernel
    floating types to run; float32 rows are labelled ``"<method>-float32"`` (adaptive
    methods run in float64 only).

    Returns
    -------
    list of dict
        One row per run: ``method, dt`` (ms; NaN for scipy), ``rtol`` (scipy rows),
        ``n_neurons, wall_s, cost`` (wall seconds per neuron-second simulated),
        ``neuron_steps_per_s`` (NaN for scipy), ``spike_error`` (worst over the compared
        neurons and all their spikes, ms; inf when a spike count differs),
        ``median_error`` (median over the compared neurons that fired, ms),
        ``count_mismatch, diverged`` (numbers of compared / all neurons).
    """
    if progress is not None and not callable(progress):
        raise InputTypeError(f"progress must be a callable taking a message, or None, got "
                             f"{progress!r}")
    say = progress or (lambda msg: None)
    if methods is None:  # the keys of dts, else every registered method
        methods = tuple(dts) if isinstance(dts, dict) else tuple(METHODS)
    methods = _args.methods(methods)
    if dts is None:
        dts = {m: METHODS[m].wp_range for m in methods}
    if not isinstance(dts, dict) or set(methods) - set(dts):
        raise InputTypeError(f"dts must be a dict with time steps (ms) for every method of "
                        f"{list(methods)}, got {dts!r}")
    dts = {m: _args.time_steps(dts[m], f"dts[{m!r}]") for m in methods}
    n_neurons = C.integer("n_neurons", n_neurons, 1)
    n_ref = C.integer("n_ref", n_ref, 1)
    if n_ref > n_neurons:
        raise InputValueError(f"need 1 <= n_ref <= n_neurons, got n_ref={n_ref}, n_neurons={n_neurons}")
    t_stop = C.real("t_stop", t_stop, positive=True)
    current_max = C.real("current_max", current_max)
    ref_rtol = C.real("ref_rtol", ref_rtol, positive=True)
    scipy_rtols = [C.real(f"scipy_rtols[{i}]", r, positive=True)
                   for i, r in enumerate(C.sequence("scipy_rtols", scipy_rtols))]
    repeats = C.integer("repeats", repeats, 1)
    max_spikes = C.integer("max_spikes", max_spikes, 0)
    dtypes = C.float_dtypes("dtypes", dtypes)
    stim = step()
    amps = np.linspace(0.0, current_max, n_neurons)
    idx = np.unique(np.round(np.linspace(0, n_neurons - 1, n_ref)).astype(np.int64))
    neuron_s = n_neurons * t_stop * 1e-3

    for m in methods:  # simulate's checks of every run, before the reference runs
        knob = dict(dt=0.01, rtol=float(dts[m].min())) if _args.adaptive(m) else dict(
            dt=float(dts[m].min()))
        C.simulate_call(stim, t_stop, method=m, amplitude=amps, max_spikes=max_spikes,
                        face="work_precision", **knob)
    say(f"reference: scipy DOP853 rtol=atol={ref_rtol:g} on {idx.size} neurons")
    ref = solve(stim, t_stop, rtol=ref_rtol, atol=ref_rtol, record_dt=t_stop,
                max_spikes=max_spikes, amplitude=amps[idx])

    def errors(res, neurons):
        c = compare(res, ref, neurons=neurons)
        fired = c.count_ref > 0
        med = float(np.median(c.spike_error[fired])) if fired.any() else 0.0
        return c.worst_spike_error, med, int((~c.count_match).sum())

    rows = []
    for m, dtype in ((m, d) for d in dtypes for m in methods):
        label = m if np.dtype(dtype) == np.float64 else f"{m}-{np.dtype(dtype).name}"
        # compile outside timing
        adaptive = _args.adaptive(m)
        if adaptive and np.dtype(dtype) != np.float64:
            continue  # adaptive methods are float64 only
        simulate(stim, 2.0, dt=0.01, method=m, amplitude=amps[:16], dtype=dtype)
        for dt in dts[m]:
            # adaptive methods: the value is the rtol; 0.01 ms is only the first trial step
            knob = dict(dt=0.01, rtol=float(dt)) if adaptive else dict(dt=float(dt))
            walls = []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                res = simulate(stim, t_stop, method=m, amplitude=amps, **knob,
                               max_spikes=max_spikes, dtype=dtype)
                walls.append(time.perf_counter() - t0)
                if walls[0] > 5.0:
                    break
            wall = float(np.median(walls))
            worst, med, mism = errors(res, idx)
            rows.append({
                "method": label, "dt": math.nan if adaptive else float(dt),
                "rtol": float(dt) if adaptive else math.nan, "n_neurons": n_neurons,
                "wall_s": wall, "cost": wall / neuron_s,
                "neuron_steps_per_s": n_neurons * res.n_steps / wall,
                "spike_error": worst, "median_error": med, "count_mismatch": mism,
                "diverged": int(res.diverged.sum()),
            })
            say(f"{label:13s} {'rtol' if adaptive else 'dt'}={dt:<7g} {wall:7.3f} s  "
                f"worst spike error {worst:.3g} ms")
    for rtol in scipy_rtols:
        t0 = time.perf_counter()
        # at loose tolerances DOP853 tries (and rejects) steps that overflow the rate functions
        with np.errstate(over="ignore", invalid="ignore"):
            res = solve(stim, t_stop, rtol=rtol, atol=rtol, record_dt=t_stop,
                        max_spikes=max_spikes, amplitude=amps[idx])
        wall = time.perf_counter() - t0
        worst, med, mism = errors(res, None)
        rows.append({
            "method": "scipy-DOP853", "dt": math.nan, "rtol": float(rtol), "n_neurons": idx.size,
            "wall_s": wall, "cost": wall / (idx.size * t_stop * 1e-3),
            "neuron_steps_per_s": math.nan, "spike_error": worst, "median_error": med,
            "count_mismatch": mism, "diverged": 0,
        })
        say(f"scipy     rtol={rtol:<6g} {wall:7.3f} s  worst spike error {worst:.3g} ms")
    return rows


def cheapest(rows: Sequence[dict], targets: Sequence[float] = WP_TARGETS) -> list[dict]:
    """For each spike-time accuracy target (ms), the cheapest hhfast run whose worst error
    (every compared spike, no count mismatch) meets it, and the cheapest scipy run that does.

    Returns one dict per target: ``target, method, dt, cost, spike_error`` (``method`` None when
    no run met it) and ``scipy_cost`` / ``speedup`` (NaN when no scipy run met it).
    """
    targets = [C.real(f"targets[{k}]", t, positive=True)
               for k, t in enumerate(C.sequence("targets", targets))]
    for k, r in enumerate(C.sequence("rows", rows)):
        if not isinstance(r, dict):
            raise InputTypeError(f"rows[{k}] must be a dict (a row of work_precision()), got "
                                 f"{r!r}")
        missing = {"method", "dt", "cost", "spike_error"} - set(r)
        if missing:
            raise InputValueError(f"rows[{k}] lacks {sorted(missing)}: pass the rows of "
                             f"work_precision()")
    out = []
    for target in targets:
        ok = [r for r in rows if r["spike_error"] <= target]
        ours = [r for r in ok if not r["method"].startswith("scipy")]
        theirs = [r for r in ok if r["method"].startswith("scipy")]
        best = min(ours, key=lambda r: r["cost"]) if ours else None
        sc = min((r["cost"] for r in theirs), default=math.nan)
        out.append({
            "target": float(target),
            "method": best["method"] if best else None,
            "dt": best["dt"] if best else math.nan,
            "rtol": best.get("rtol", math.nan) if best else math.nan,
            "cost": best["cost"] if best else math.nan,
            "spike_error": best["spike_error"] if best else math.nan,
            "scipy_cost": sc,
            "speedup": sc / best["cost"] if best else math.nan,
        })
    return out
