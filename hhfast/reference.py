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

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from . import config
from ._checks import PER_NEURON
from .model import FIELDS, STATE, HHParams, derivatives, steady_state
from .result import SimResult, SpikeTimes
from .stimulus import Stimulus

__all__ = [
    "solve",
    "dense_state",
    "compare",
    "Comparison",
    "convergence",
    "Convergence",
    "stability_limit",
    "StabilityLimit",
]


def _one(stim, t_start, t_stop, p, amplitude, bias, y0, thr, rtol, atol, method):
    edges = [t for t in stim.edges if t_start < t < t_stop]
    bounds = [t_start, *edges, t_stop]
    y = np.asarray(y0, dtype=float)
    spikes: list[float] = []
    pieces = []

    def crossing(t, y):
        return y[0] - thr

    crossing.direction = 1.0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
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
    window: tuple[float, float] | None = None,
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
    max_spikes : int
        Spike times stored per neuron (all are counted), as in :func:`hhfast.simulate`.
    window : (float, float), optional
        Analysis window ``[t0, t1)`` (ms) of the ``window_*`` statistics, as in
        :func:`hhfast.simulate` (default the whole run).  They are computed from the complete
        list of reference spikes, so they compare like for like with a kernel's O(1) ones.
    **per_neuron : float or array
        As in :func:`hhfast.simulate` (model fields, ``amplitude``, ``bias``, ``V0..h0``);
        arrays broadcast to a (small) batch solved one neuron after the other.

    Returns
    -------
    SimResult
        With ``method = "reference:<method>"``, all four variables recorded for every neuron.
    """
    params = HHParams.classic() if params is None else params
    w0, w1 = (t_start, math.inf) if window is None else (float(window[0]), float(window[1]))
    if not w1 > w0:
        raise ValueError(f"window must have t1 > t0, got {window!r}")
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
    wstats = np.full((4, N), np.nan)  # window count, first, last, sum of squared ISIs
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
        wsp = sp[(sp >= w0) & (sp < w1)]
        wstats[:, i] = (wsp.size, wsp[0] if wsp.size else np.nan,
                        wsp[-1] if wsp.size else np.nan, float(np.sum(np.diff(wsp) ** 2)))
        final[:, i] = yend
        rec[:, i, :] = dense_state(pieces, t_rec)
        dense.append(pieces)
    nan = np.full(shape, np.nan)
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
        window=(w0, min(w1, t_stop)),
        window_count=wstats[0].astype(np.int64).reshape(shape),
        window_first=wstats[1].reshape(shape),
        window_last=wstats[2].reshape(shape),
        window_isi_sumsq=wstats[3].reshape(shape),
        params={k: np.broadcast_to(v, shape) for k, v in vals.items()},
        method=f"reference:{method}",
        dt=float("nan"),
        t_start=t_start,
        t_stop=t_stop,
        n_steps=0,
        stimulus=stimulus,
        info={"dense": dense, "rtol": rtol, "atol": atol},
    )


# -- error metrics ------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Errors of a fixed-step result against a reference, per compared neuron.

    Attributes
    ----------
    neurons : ndarray of int
        Flat indices (into the result's batch) of the compared neurons; entry ``j`` of every
        array below is neuron ``neurons[j]``, compared with reference neuron ``j``.
    max_dV : ndarray
        max |V - V_ref| (mV) over the result's recorded samples (inside ``t_range`` if given);
        NaN for a neuron whose V was not recorded.
    spike_error : ndarray
        max |t - t_ref| (ms) over the spikes paired in order; 0 when neither fired, and
        ``inf`` when the spike counts differ — a count mismatch is never averaged into a time
        error (see ``missing`` / ``extra``).
    spike_errors : list of ndarray
        Signed errors ``t - t_ref`` (ms) of the stored spikes paired in order (the first
        ``min(count, count_ref, max_spikes)``), for every neuron, even where counts differ.
    count, count_ref : ndarray of int
        Spike counts of the result and of the reference.
    missing, extra : ndarray of int
        Reference spikes the result lacks / result spikes the reference lacks (by count).
    diverged : ndarray of bool
        Neurons whose fixed-step state stopped being finite.
    """

    neurons: np.ndarray
    max_dV: np.ndarray
    spike_error: np.ndarray
    spike_errors: list
    count: np.ndarray
    count_ref: np.ndarray
    diverged: np.ndarray
    missing: np.ndarray = field(init=False)
    extra: np.ndarray = field(init=False)

    def __post_init__(self):
        self.missing = np.maximum(self.count_ref - self.count, 0)
        self.extra = np.maximum(self.count - self.count_ref, 0)

    @property
    def count_match(self) -> np.ndarray:
        """Per neuron: same spike count as the reference and no divergence."""
        return (self.count == self.count_ref) & ~self.diverged

    @property
    def worst_dV(self) -> float:
        """Largest max |ΔV| (mV) over the compared neurons (NaN if V was not recorded)."""
        return float(np.max(self.max_dV)) if self.max_dV.size else math.nan

    @property
    def worst_spike_error(self) -> float:
        """Largest spike-time error (ms) over the compared neurons; ``inf`` if any neuron's
        spike count differs from the reference's or it diverged."""
        if not self.count_match.all():
            return math.inf
        return float(np.max(self.spike_error)) if self.spike_error.size else 0.0

    def summary(self) -> dict:
        """The batch in four numbers: worst |ΔV| (mV), worst spike-time error (ms), neurons
        with a spike-count mismatch, diverged neurons."""
        return {
            "max_dV": self.worst_dV,
            "spike_error": self.worst_spike_error,
            "count_mismatch": int((~self.count_match).sum()),
            "diverged": int(self.diverged.sum()),
        }


def compare(
    result: SimResult,
    reference: SimResult,
    neurons=None,
    t_range: tuple[float, float] | None = None,
) -> Comparison:
    """Compare a fixed-step result with a reference from :func:`solve`.

    Parameters
    ----------
    result : SimResult
        From :func:`hhfast.simulate`.  For ``max_dV`` its V must be recorded for the compared
        neurons; the common time grid is the result's own sample times.
    reference : SimResult
        From :func:`solve` (its dense solution is evaluated at the result's sample times), for
        the same neurons, stimulus, parameters and start time.
    neurons : array of int, optional
        Flat indices into ``result`` of the neurons the reference solved, in the reference's
        order (default: all, and the two batches must have the same size).  This is how a large
        batch is checked on a subset.
    t_range : (float, float), optional
        Only samples with ``t0 <= t <= t1`` (ms) count towards ``max_dV`` (e.g. a smooth stretch).

    Returns
    -------
    Comparison
    """
    dense = reference.info.get("dense") if isinstance(reference, SimResult) else None
    if dense is None:
        raise TypeError("reference must be a SimResult from hhfast.reference.solve (dense output)")
    if not isinstance(result, SimResult):
        raise TypeError(f"result must be a SimResult, got {type(result).__name__}")
    idx = np.arange(result.size) if neurons is None else np.asarray(neurons, dtype=np.int64)
    idx = idx.reshape(-1)
    if idx.size != reference.size:
        raise ValueError(
            f"the reference has {reference.size} neurons but {idx.size} result neurons are "
            "compared; pass neurons=[flat indices of the reference's neurons]"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= result.size):
        raise ValueError(f"neurons: index out of range for {result.size} neurons")
    if abs(result.t_start - reference.t_start) > 1e-12:
        raise ValueError(
            f"result starts at {result.t_start} ms but the reference at {reference.t_start} ms"
        )
    count = result.spike_count.reshape(-1)[idx]
    count_ref = reference.spike_count.reshape(-1)
    # samples the reference covers (a run may end a rounding error after t_stop)
    t = result.t
    keep = t <= reference.t_stop + 1e-9 * max(1.0, abs(reference.t_stop))
    if t_range is not None:
        keep &= (t >= t_range[0]) & (t <= t_range[1])
    row_of = {int(r): j for j, r in enumerate(result.recorded)}
    max_dV = np.full(idx.size, np.nan)
    err = np.zeros(idx.size)
    errors = []
    for j, i in enumerate(idx):
        if "V" in result.traces and int(i) in row_of and keep.any():
            v_ref = dense_state(dense[j], t[keep])[0]
            max_dV[j] = np.max(np.abs(result.traces["V"][row_of[int(i)]][keep] - v_ref))
        a, b = result.spike_times[int(i)], reference.spike_times[j]
        k = min(a.size, b.size)
        d = a[:k] - b[:k]
        errors.append(d)
        if count[j] != count_ref[j]:
            err[j] = math.inf
        elif k:
            err[j] = np.max(np.abs(d))
    return Comparison(
        neurons=idx,
        max_dV=max_dV,
        spike_error=err,
        spike_errors=errors,
        count=count,
        count_ref=count_ref,
        diverged=result.diverged.reshape(-1)[idx],
    )


# -- convergence --------------------------------------------------------------------------------
def observed_order(dts, errors) -> float:
    """Least-squares slope of log(error) against log(dt): the observed order of accuracy
    (NaN unless every error is finite and > 0 and there are at least two)."""
    dts = np.asarray(dts, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if dts.size < 2 or not (np.all(np.isfinite(errors)) and np.all(errors > 0)):
        return math.nan
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


@dataclass
class Convergence:
    """Error against dt for one method (see :func:`convergence`).

    Attributes
    ----------
    method : str
    measure : str
        ``"spikes"`` (worst spike-time error, ms) or ``"V"`` (worst |ΔV|, mV).
    dts : ndarray
        Time steps (ms), as given.
    errors : ndarray
        The error at each dt (``inf`` where a spike count differed).
    order : float
        Least-squares log–log slope over all dts.
    local_orders : ndarray
        Slopes between consecutive dts (``len(dts) - 1`` of them).
    comparisons : list of Comparison
        The full comparison at each dt.
    """

    method: str
    measure: str
    dts: np.ndarray
    errors: np.ndarray
    order: float
    local_orders: np.ndarray
    comparisons: list


def convergence(
    method: str,
    dts,
    stimulus: Stimulus,
    t_stop: float,
    *,
    measure: str = "spikes",
    t_range: tuple[float, float] | None = None,
    reference: SimResult | None = None,
    params: HHParams | None = None,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    ref_method: str | None = None,
    max_spikes: int = config.MAX_SPIKES,
    **per_neuron,
) -> Convergence:
    """Observed order of accuracy of a fixed-step method: error against a tight reference for
    each dt, and the log–log slope.

    Parameters
    ----------
    method : {"euler", "expeuler", "rk4"}
    dts : sequence of float
        Time steps (ms).  Put stimulus edges on every grid (e.g. dts that divide the edge
        times): an edge inside a step follows the kernels' step-mean rule, whose O(dt²) local
        error would mask RK4's order.
    stimulus : Stimulus
    t_stop : float
        Duration (ms).
    measure : {"spikes", "V"}
        ``"spikes"``: worst spike-time error (ms) over all neurons and spikes.  ``"V"``: worst
        |ΔV| (mV) on the grid of the largest dt (every run is sampled there), within
        ``t_range`` if given.
    t_range : (float, float), optional
        Stretch (ms) for ``measure="V"``.
    reference : SimResult, optional
        A reference from :func:`solve` for the same neurons (default: solved here with
        ``rtol``, ``atol``).
    params : HHParams, optional
    rtol, atol : float
        Tolerances of the reference (default 1e-12).
    ref_method : str, optional
        solve_ivp method of the reference.  Default ``"DOP853"`` for spike times (they agree
        with Radau at 1e-13 to 3e-13 ms on the gist protocol, far below RK4's 9e-10 ms at
        dt = 0.005) and ``"Radau"`` for traces: DOP853's trace at rtol = 1e-12 was off by
        5e-9 mV on a 20 ms sub-threshold stretch, while Radau agreed with LSODA at 1e-13 to
        2e-11 mV (RK4's error at dt = 0.01 there is 7e-10 mV).
    max_spikes : int
        Spike times stored and compared per neuron.
    **per_neuron : float or array
        As in :func:`hhfast.simulate` (a small batch: the reference solves one at a time).

    Returns
    -------
    Convergence
    """
    if measure not in ("spikes", "V"):
        raise ValueError(f"measure must be 'spikes' or 'V', got {measure!r}")
    dts = np.asarray(dts, dtype=float).reshape(-1)
    if dts.size < 2 or not np.all(dts > 0):
        raise ValueError(f"dts must hold at least two positive time steps (ms), got {dts!r}")
    from .engine import simulate  # the engine layer sits beside this one; import on use

    if reference is None:
        ref_method = ref_method or ("DOP853" if measure == "spikes" else "Radau")
        reference = solve(stimulus, t_stop, params, rtol=rtol, atol=atol, method=ref_method,
                          max_spikes=max_spikes, **per_neuron)
    coarse = float(dts.max())
    comps, errors = [], []
    for dt in dts:
        rec = {}
        if measure == "V":
            ratio = coarse / dt
            every = int(round(ratio)) if abs(ratio - round(ratio)) < 1e-9 * ratio else 1
            rec = {"record": "V", "record_every": every}
        res = simulate(stimulus, t_stop, dt=float(dt), method=method, params=params,
                       max_spikes=max_spikes, **rec, **per_neuron)
        c = compare(res, reference, t_range=t_range)
        comps.append(c)
        errors.append(c.worst_spike_error if measure == "spikes" else c.worst_dV)
    errors = np.array(errors)
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.diff(np.log(errors)) / np.diff(np.log(dts))
    return Convergence(method, measure, dts, errors, observed_order(dts, errors), local, comps)


# -- stability ----------------------------------------------------------------------------------
@dataclass
class StabilityLimit:
    """Largest time step that passes a criterion (see :func:`stability_limit`).

    Attributes
    ----------
    method, criterion : str
    dt_limit : float
        Largest dt (ms) found to pass with every smaller scanned dt passing too (to a relative
        precision ``rel_tol``); ``dt_max`` if nothing failed.
    dt_fail : float
        Smallest failing dt (ms) found (``inf`` if none up to ``dt_max``).
    passes_above : bool
        Whether some scanned dt above the first failure passed again (a non-monotone limit).
    expected_count : ndarray of int
        The reference's spike counts the ``"count"`` criterion asks for.
    """

    method: str
    criterion: str
    dt_limit: float
    dt_fail: float
    passes_above: bool
    expected_count: np.ndarray


def stability_limit(
    method: str,
    stimulus: Stimulus,
    t_stop: float,
    *,
    criterion: str = "finite",
    dt_min: float = 1e-3,
    dt_max: float = 2.0,
    n_grid: int = 40,
    rel_tol: float = 1e-3,
    params: HHParams | None = None,
    expected_count=None,
    **per_neuron,
) -> StabilityLimit:
    """Largest dt at which a method (a) stays finite or (b) also gets the spike count right.

    The dts of a geometric grid from ``dt_min`` to ``dt_max`` are tried in increasing order;
    the first failure is then pinned down by bisection against the last passing grid point.
    Every dt of the grid is tried, so a method that fails and passes again above (stability is
    not always monotone in dt) is flagged in ``passes_above``.

    Parameters
    ----------
    method : {"euler", "expeuler", "rk4"}
    stimulus : Stimulus
    t_stop : float
        Duration (ms).
    criterion : {"finite", "count"}
        ``"finite"``: no neuron diverges.  ``"count"``: no neuron diverges and every spike
        count equals the reference's.
    dt_min, dt_max : float
        Range of dt searched (ms); ``dt_min`` must pass.
    n_grid : int
        Points of the geometric scan.
    rel_tol : float
        Relative precision of the bisection.
    params : HHParams, optional
    expected_count : int or array, optional
        Spike counts in ``[0, t_stop)`` to match (default: from :func:`solve` at its default
        tolerances).
    **per_neuron : float or array
        As in :func:`hhfast.simulate`.

    Returns
    -------
    StabilityLimit
    """
    if criterion not in ("finite", "count"):
        raise ValueError(f"criterion must be 'finite' or 'count', got {criterion!r}")
    if not 0 < dt_min < dt_max:
        raise ValueError(f"need 0 < dt_min < dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}")
    from .engine import simulate

    if expected_count is None:
        expected_count = solve(stimulus, t_stop, params, record_dt=t_stop,
                               **per_neuron).window_count
    expected = np.asarray(expected_count).reshape(-1)

    def ok(dt: float) -> bool:
        # a run ends on the first grid point >= t_stop: count spikes before t_stop only
        res = simulate(stimulus, max(t_stop, dt), dt=dt, method=method, params=params,
                       max_spikes=0, window=(0.0, t_stop), **per_neuron)
        if res.diverged.any():
            return False
        return criterion == "finite" or np.array_equal(res.window_count.reshape(-1), expected)

    grid = np.geomspace(dt_min, dt_max, n_grid)
    passed = [ok(float(dt)) for dt in grid]
    if not passed[0]:
        raise ValueError(f"{method} fails the {criterion!r} criterion already at dt_min={dt_min}")
    if all(passed):
        return StabilityLimit(method, criterion, float(dt_max), math.inf, False, expected)
    k = passed.index(False)
    lo, hi = float(grid[k - 1]), float(grid[k])
    while hi - lo > rel_tol * lo:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return StabilityLimit(method, criterion, lo, hi, any(passed[k + 1:]), expected)
