"""Accuracy against cost: the validation cases behind ``hhfast validate`` and the
work-precision measurement behind ``hhfast bench --work-precision``.

Both compare :func:`hhfast.simulate` with the scipy reference of :mod:`hhfast.reference`
through :func:`hhfast.reference.compare`; this module only chooses the cases, times the runs
and collects the rows (the CLI prints and writes them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from .engine import simulate
from .kernels import METHODS
from .reference import compare, solve
from .stimulus import Stimulus, gist, step

__all__ = [
    "validation_cases",
    "validate",
    "work_precision",
    "cheapest",
    "DEFAULT_WP_DTS",
    "WP_TARGETS",
]

#: Spike-time accuracy targets (ms) of the work-precision table.
WP_TARGETS = (1.0, 0.1, 0.01, 0.001)

#: dts (ms) tried per fixed-step method by default: each method's ``wp_range`` in the
#: registry (from the finest it needs to approach the finest target to just below its
#: stability limit).  A snapshot taken at import; the functions read the registry itself.
DEFAULT_WP_DTS = {m: s.wp_range for m, s in METHODS.items() if s.kind == "fixed"}


def _fixed_methods() -> tuple[str, ...]:
    return tuple(m for m, s in METHODS.items() if s.kind == "fixed")


def validation_cases(t_stop: float = 100.0) -> list[tuple[str, Stimulus, float, dict]]:
    """The cases of ``hhfast validate``: ``(name, stimulus, t_stop ms, per-neuron values)``.

    The gist's two-pulse protocol (50 ms) and constant currents from rest for ``t_stop`` ms:
    2.5 µA/cm² (a single spike, then rest), 6.5 (inside classic HH's bistable band, just above
    the onset of repetitive firing from rest), 10 and 20 (sustained firing).
    """
    cases = [("gist two-pulse", gist(), 50.0, {})]
    for amp in (2.5, 6.5, 10.0, 20.0):
        cases.append((f"step {amp:g} uA/cm2", step(), float(t_stop), {"amplitude": amp}))
    return cases


def validate(
    methods: Sequence[str] = ("rk4",),
    dts: Sequence[float] = (0.01,),
    *,
    spike_tol: float = 0.01,
    v_tol: float = 1.0,
    t_stop: float = 100.0,
    rtol: float = 1e-10,
) -> list[dict]:
    """Run every validation case with every method and dt and compare with the reference.

    Parameters
    ----------
    methods : sequence of str
    dts : sequence of float
        Time steps (ms).
    spike_tol : float
        Largest acceptable spike-time error (ms).
    v_tol : float
        Largest acceptable max |ΔV| (mV) on the run's time grid.
    t_stop : float
        Duration (ms) of the constant-current cases.
    rtol : float
        Tolerance (relative and absolute) of the scipy reference.

    Returns
    -------
    list of dict
        One row per (case, method, dt): ``case, method, dt, max_dV`` (mV), ``spike_error``
        (ms; inf on a count mismatch), ``count, count_ref, count_match, passed``.
    """
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {m!r}")
    for dt in dts:
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number of ms, got {dt!r}")
    for name, tol in (("spike_tol", spike_tol), ("v_tol", v_tol)):
        if not tol > 0:
            raise ValueError(f"{name} must be > 0, got {tol!r}")
    rows = []
    for name, stim, T, kw in validation_cases(t_stop):
        ref = solve(stim, T, rtol=rtol, atol=rtol, **kw)
        for method in methods:
            for dt in dts:
                res = simulate(stim, T, dt=dt, method=method, record="V", **kw)
                c = compare(res, ref)
                s = c.summary()
                rows.append({
                    "case": name,
                    "method": method,
                    "dt": float(dt),
                    "max_dV": s["max_dV"],
                    "spike_error": s["spike_error"],
                    "count": int(c.count[0]),
                    "count_ref": int(c.count_ref[0]),
                    "count_match": bool(c.count_match[0]),
                    "passed": bool(c.count_match[0] and s["spike_error"] <= spike_tol
                                   and s["max_dV"] <= v_tol),
                })
    return rows


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
    keys of ``dts`` when it is given, else to every fixed-step method of the registry (each
    with its ``wp_range`` of dts).  ``dtypes`` lists the kernel
    floating types to run; float32 rows are labelled ``"<method>-float32"``.

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
    say = progress or (lambda msg: None)
    if methods is None:  # the methods of ``dts`` if given, else every fixed-step method
        methods = tuple(dts) if dts is not None else _fixed_methods()
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {m!r}")
    dts = {m: METHODS[m].wp_range for m in methods} if dts is None else dts
    if n_neurons < n_ref or n_ref < 1:
        raise ValueError(f"need 1 <= n_ref <= n_neurons, got n_ref={n_ref}, n_neurons={n_neurons}")
    stim = step()
    amps = np.linspace(0.0, current_max, n_neurons)
    idx = np.unique(np.round(np.linspace(0, n_neurons - 1, n_ref)).astype(np.int64))
    neuron_s = n_neurons * t_stop * 1e-3

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
        simulate(stim, 2.0, dt=0.01, method=m, amplitude=amps[:16], dtype=dtype)
        for dt in dts[m]:
            walls = []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                res = simulate(stim, t_stop, dt=float(dt), method=m, amplitude=amps,
                               max_spikes=max_spikes, dtype=dtype)
                walls.append(time.perf_counter() - t0)
                if walls[0] > 5.0:
                    break
            wall = float(np.median(walls))
            worst, med, mism = errors(res, idx)
            rows.append({
                "method": label, "dt": float(dt), "rtol": math.nan, "n_neurons": n_neurons,
                "wall_s": wall, "cost": wall / neuron_s,
                "neuron_steps_per_s": n_neurons * res.n_steps / wall,
                "spike_error": worst, "median_error": med, "count_mismatch": mism,
                "diverged": int(res.diverged.sum()),
            })
            say(f"{label:13s} dt={dt:<7g} {wall:7.3f} s  worst spike error {worst:.3g} ms")
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
            "cost": best["cost"] if best else math.nan,
            "spike_error": best["spike_error"] if best else math.nan,
            "scipy_cost": sc,
            "speedup": sc / best["cost"] if best else math.nan,
        })
    return out
