"""High-accuracy reference solutions with scipy's ``solve_ivp`` (the solver only).

The reference integrates each neuron separately, piecewise between the stimulus breakpoints
(restarting the integrator at every edge, so no step ever straddles a discontinuity), at tight
tolerances (default ``rtol = atol = 1e-10``) with dense output.  Spike times are located by
scipy's event detection (root finding on the dense output) on upward crossings of the threshold
and downward crossings of the re-arm level (threshold minus ``spike_rearm``), which is the
kernels' rule (docs/architecture.md §3): an upward crossing counts only while armed, it disarms,
and V falling below the re-arm level re-arms.

It returns the same :class:`~hhfast.result.SimResult` as :func:`hhfast.simulate`, so results
compare like for like; the dense solutions are kept in ``result.info["dense"]`` (one list of
``(t0, t1, OdeSolution)`` pieces per neuron).  Inputs are checked by the same functions as
:func:`hhfast.simulate` (:mod:`hhfast._checks`), before anything is integrated.

The error metrics and studies built on it (``compare``, ``convergence``, ``stability_limit``,
...) live in :mod:`hhfast.accuracy`, one layer above this one; they stay reachable here as
``hhfast.reference.compare`` etc., imported on first use (accuracy imports this module, so this
module never imports accuracy at load time).
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from . import _checks as C
from . import config
from ._checks import CHANNEL_VALUES, NOISE_VALUES, PER_NEURON
from .engine.assemble import result as _result
from .errors import InputTypeError, InputValueError
from .kernels import layout as L
from .model import FIELDS, STATE, HHParams, check_params, derivatives, steady_state
from .result import SimResult
from .stimulus import Stimulus

#: solve_ivp methods accepted by :func:`solve`
SCIPY_METHODS = ("DOP853", "Radau", "LSODA", "BDF", "RK45", "RK23")

#: names that moved to :mod:`hhfast.accuracy` -> the module holding them there
_MOVED = {
    "compare": "comparison",
    "Comparison": "comparison",
    "convergence": "orders",
    "Convergence": "orders",
    "observed_order": "orders",
    "stability_limit": "stability",
    "StabilityLimit": "stability",
}

__all__ = ["solve", "dense_state", "SCIPY_METHODS", "markov", *_MOVED]  # noqa: F822


def __getattr__(name):
    # the accuracy layer sits above the solver: import it on first use of a moved name
    if name in _MOVED:
        return getattr(importlib.import_module(f"hhfast.accuracy.{_MOVED[name]}"), name)
    if name == "markov":  # the exact Markov-chain reference for channel noise, its own module
        from .markov import markov

        return markov
    raise AttributeError(f"module 'hhfast.reference' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MOVED) | {"markov"})


def _rounding(t: float) -> float:
    """Times (ms) closer than this to an end of a run are that end (float rounding of k * dt)."""
    return 1e-9 * max(1.0, abs(t))


def _one(stim, t_start, t_stop, p, amplitude, bias, y0, thr, rearm, rtol, atol, method, armed):
    from scipy.integrate import solve_ivp  # here, not at import: ~0.3 s (docs/architecture.md §1)

    edges = [t for t in stim.edges if t_start < t < t_stop]
    bounds = [t_start, *edges, t_stop]
    y = np.asarray(y0, dtype=float)
    spikes: list[float] = []
    pieces = []

    def crossing(t, y):
        return y[0] - thr

    def rearming(t, y):
        return y[0] - rearm

    crossing.direction = 1.0
    rearming.direction = -1.0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        # on [a, b) the shape is linear: c0 + c1 t, taken from the piece in force after a
        s0 = float(stim(a))
        slope = float(stim.c1[np.searchsorted(stim.t, a, side="right") - 1]) if (
            len(stim.t) and a >= stim.t[0]) else 0.0
        base = s0 - slope * a

        def f(t, y, base=base, slope=slope):
            return derivatives(t, y, bias + amplitude * (base + slope * t), p)

        sol = solve_ivp(f, (a, b), y, method=method, rtol=rtol, atol=atol,
                        dense_output=True, events=(crossing, rearming))
        if sol.status < 0:
            raise RuntimeError(f"reference solver failed on [{a}, {b}] ms: {sol.message}")
        # the hysteresis rule, events in time order (an up-crossing before a re-arming at the
        # same time); an up-crossing found again at the piece start meets a disarmed detector
        events = sorted([(t, 0) for t in sol.t_events[0]] + [(t, 1) for t in sol.t_events[1]])
        for t, kind in events:
            if kind == 0 and armed:
                spikes.append(t)
                armed = False
            elif kind == 1:
                armed = True
        pieces.append((a, b, sol.sol))
        y = sol.y[:, -1]
    return np.array(spikes), y, pieces, armed


def dense_state(pieces, t) -> np.ndarray:
    """Evaluate a neuron's piecewise dense reference solution at times ``t`` (ms).

    Parameters
    ----------
    pieces : list of (float, float, OdeSolution)
        One neuron's entry of ``result.info["dense"]``.
    t : float or array of float
        Times (ms) inside the solved span ``[t0, t1]``; a time within float rounding
        (1e-9 relative) outside it counts as the end it is next to.

    Returns
    -------
    ndarray, shape (4, len(t))
        V (mV), n, m, h at each time.

    Raises
    ------
    ValueError
        If a time is not finite or lies outside the solved span: the reference never
        extrapolates and never returns values it did not compute.
    """
    if not isinstance(pieces, list) or not pieces:
        raise InputTypeError(f"pieces must be one neuron's entry of result.info['dense'] (a non-empty "
                        f"list of (t0, t1, OdeSolution)), got {pieces!r}")
    arr = np.asarray(t) if not isinstance(t, (str, bytes)) else None
    if arr is None or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) \
            or np.iscomplexobj(arr):
        raise InputTypeError(f"t must be a time or an array of times (ms), got {t!r}")
    t = np.atleast_1d(arr.astype(float)).reshape(-1)
    t0, t1 = pieces[0][0], pieces[-1][1]
    bad = ~np.isfinite(t) | (t < t0 - _rounding(t0)) | (t > t1 + _rounding(t1))
    if bad.any():
        raise InputValueError(
            f"t = {t[np.flatnonzero(bad)[0]]!r} ms lies outside the reference's solved span "
            f"[{t0}, {t1}] ms; solve the reference over the whole run"
        )
    t = np.clip(t, t0, t1)
    out = np.full((4, t.size), np.nan)
    for j, (a, b, sol) in enumerate(pieces):
        last = j == len(pieces) - 1
        sel = (t >= a) & ((t < b) | (last & (t <= b)))
        if sel.any():
            out[:, sel] = sol(t[sel])
    return out


def _sample_times(t_start: float, t_stop: float, record_dt: float) -> np.ndarray:
    """``t_start + k * record_dt`` for every k whose time is not after ``t_stop`` (ms).

    A sample within float rounding of ``t_stop`` is put at ``t_stop`` exactly, so no sample
    ever lies outside the run.
    """
    span = t_stop - t_start
    k_last = math.floor(span / record_dt * (1 + 1e-9))
    return np.minimum(t_start + record_dt * np.arange(k_last + 1), t_stop)


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
    spike_rearm=None,
    spike_armed=None,
    record_dt: float = 0.01,
    max_spikes: int = config.MAX_SPIKES,
    window: tuple[float, float] | None = None,
    **per_neuron,
) -> SimResult:
    """Reference solution with ``scipy.integrate.solve_ivp`` for one neuron or a small batch.

    Parameters
    ----------
    stimulus : Stimulus or sequence of Stimulus
        Current shape; the neuron receives ``bias + amplitude * shape(t)`` µA/cm².  A sequence
        gives one shape per neuron, as in :func:`hhfast.simulate`.
    t_stop : float
        End time (ms), after ``t_start``.  The reference ends exactly there.
    params : HHParams, optional
        Model parameters (default classic).
    t_start : float
        Start time (ms), e.g. ``res.continuation()["t_start"]`` with the final state as
        ``V0, n0, m0, h0``.
    rtol, atol : float
        solve_ivp tolerances (default 1e-10: spike times good to ~1e-9 ms, checked against
        Radau in the tests).
    method : {"DOP853", "Radau", "LSODA", "BDF", "RK45", "RK23"}
        solve_ivp method.
    threshold : float or array, optional
        Spike threshold (mV); default as in :func:`hhfast.simulate`.
    spike_rearm : float or array, optional
        Re-arm margin (mV below the threshold, default ``config.SPIKE_REARM_MV``), as in
        :func:`hhfast.simulate`: here V crossing the re-arm level in continuous time re-arms.
    spike_armed : bool or array of bool, optional
        The detector's state at ``t_start`` (default armed where V0 is below the threshold),
        checked as in :func:`hhfast.simulate`; ``SimResult.continuation()`` passes it on.
    record_dt : float
        Spacing (ms) of the returned V, n, m, h samples (taken from the dense output): at
        ``t_start + k * record_dt`` for every k up to ``t_stop``.  When ``record_dt`` does not
        divide the run the last sample is the last one before ``t_stop`` (``final_state`` holds
        the state at ``t_stop``); no sample lies outside ``[t_start, t_stop]``.
    max_spikes : int
        Spike times stored per neuron (all are counted), as in :func:`hhfast.simulate`; a
        :class:`hhfast.TruncationWarning` says when a neuron fired more.
    window : (float, float), optional
        Analysis window ``[t0, t1)`` (ms) of the ``window_*`` statistics, as in
        :func:`hhfast.simulate` (default the whole run).  It must lie within the run
        (``t1 = inf`` means "to the end").  The statistics are computed from the complete
        list of reference spikes, so they compare like for like with a kernel's O(1) ones.
    **per_neuron : float or array
        As in :func:`hhfast.simulate` (model fields, ``amplitude``, ``bias``, ``V0..h0``);
        arrays broadcast to a (small) batch solved one neuron after the other.

    Returns
    -------
    SimResult
        With ``method = "reference:<method>"``, all four variables recorded for every neuron.

    Raises
    ------
    TypeError, ValueError
        On bad input, naming the argument and the value, before anything is integrated.
    """
    # ---- scalars and names (cheap, first) ----
    if not isinstance(method, str) or method not in SCIPY_METHODS:
        raise InputValueError(f"method must be one of {list(SCIPY_METHODS)}, got {method!r}")
    t_start = C.real("t_start", t_start)
    t_stop = C.real("t_stop", t_stop)
    if not t_stop > t_start:
        raise InputValueError(f"t_stop ({t_stop!r} ms) must be after t_start ({t_start!r} ms)")
    rtol = C.real("rtol", rtol, positive=True)
    atol = C.real("atol", atol, positive=True)
    record_dt = C.real("record_dt", record_dt, positive=True)
    max_spikes = C.integer("max_spikes", max_spikes, 0)
    w0, w1 = C.window(window, t_start)
    C.window_within(w0, w1, t_start, t_stop)
    if params is None:
        params = HHParams.classic()
    if not isinstance(params, HHParams):
        raise InputTypeError(f"params must be an HHParams, got {params!r}")
    check_params(params)
    # the scipy reference is deterministic: noise values are refused, never ignored
    allowed = [k for k in PER_NEURON if k not in NOISE_VALUES + CHANNEL_VALUES]
    unknown = sorted(set(per_neuron) - set(allowed))
    if unknown:
        raise InputTypeError(
            f"solve() got unexpected keyword argument(s) {unknown}; per-neuron values are "
            f"{allowed} (the reference is deterministic: no noise, neither current nor channel noise)"
        )
    stims, stim_shape = C.stimuli(stimulus)

    # ---- per-neuron values: checked as simulate checks them ----
    values = C.per_neuron_values(params, per_neuron, threshold, spike_rearm=spike_rearm)
    for name, arr in values.items():
        C.range_check(name, arr)
    armed0 = C.armed_values(spike_armed)
    shape, N = C.batch_shape(stim_shape, values, spike_armed=armed0)
    if armed0 is not None:  # a state some run can reach (the kernels' check, in float64)
        thr = C.spike_threshold(values)
        C.armed_consistent(armed0, values.get("V0", values["V_rest"]), thr,
                           C.rearm_level(thr, values.get("spike_rearm")))
        armed0 = np.broadcast_to(armed0, shape).reshape(-1)
    flat = {k: np.broadcast_to(v, shape).reshape(-1) for k, v in values.items()}
    stim_of = np.broadcast_to(stims, shape).reshape(-1)

    # ---- memory of the outputs (checked before anything is allocated) ----
    n_samples = math.floor((t_stop - t_start) / record_dt * (1 + 1e-9)) + 1
    rec_bytes = 4 * N * n_samples * 8
    if rec_bytes > config.RECORD_MEMORY_BUDGET:
        raise InputValueError(
            f"record_dt={record_dt!r} ms from t_start={t_start!r} to t_stop={t_stop!r} ms "
            f"gives {n_samples} samples "
            f"of V, n, m, h for {N} neurons: {rec_bytes / 2**30:.2f} GiB, above the budget of "
            f"{config.RECORD_MEMORY_BUDGET / 2**30:.2f} GiB (HHFAST_RECORD_BUDGET, bytes); "
            f"raise record_dt"
        )
    if N * max_spikes * 8 > 0.8 * config.total_memory_bytes():
        raise InputValueError(f"max_spikes={max_spikes} for {N} neurons needs more memory than this "
                         f"machine has; lower max_spikes")

    # ---- solve neuron by neuron, into the kernels' rows (kernels.layout) ----
    t_rec = _sample_times(t_start, t_stop, record_dt)
    rec = np.full((4, N, t_rec.size), np.nan)
    times = np.full((N, max_spikes), np.nan)
    ic = np.zeros((L.NI, N), dtype=np.int64)
    ic[L.I_DIVSTEP] = -1  # the reference never blows up
    fo = np.full((L.NF, N), np.nan)
    final = np.full((4, N), np.nan)
    dense = []
    for i in range(N):
        p = params.replace(**{k: float(flat[k][i]) for k in FIELDS})
        V0 = float(flat["V0"][i]) if "V0" in flat else p.V_rest
        ss = steady_state(p.V_rest, p)  # gates at rest whatever V0, as in simulate
        y0 = [V0] + [float(flat[f"{g}0"][i]) if f"{g}0" in flat else float(ss[j])
                     for j, g in enumerate("nmh")]
        if not np.all(np.isfinite(y0)):
            raise InputValueError(
                f"neuron {i}: the initial state (V, n, m, h) = {tuple(map(float, y0))} is not "
                f"finite (gates at rest for V_rest={p.V_rest!r}, temperature={p.temperature!r})"
            )
        thr = float(flat["threshold"][i]) if "threshold" in flat else p.default_threshold
        rearm = float(C.rearm_level(thr, flat["spike_rearm"][i] if "spike_rearm" in flat
                                    else None))
        armed = bool(C.initial_armed(None if armed0 is None else armed0[i], y0[0], thr))
        sp, yend, pieces, ic[L.I_ARMED, i] = _one(
            stim_of[i], t_start, t_stop, p, float(flat["amplitude"][i]), float(flat["bias"][i]),
            y0, thr, rearm, rtol, atol, method, armed)
        ic[L.I_COUNT, i] = sp.size
        k = min(sp.size, max_spikes)
        times[i, :k] = sp[:k]
        fo[L.F_FIRST, i] = sp[0] if sp.size else np.nan
        wsp = sp[(sp >= w0) & (sp < w1)]
        ic[L.I_WCOUNT, i] = wsp.size
        fo[[L.F_WFIRST, L.F_WLAST, L.F_WISI2], i] = (
            wsp[0] if wsp.size else np.nan, wsp[-1] if wsp.size else np.nan,
            float(np.sum(np.diff(wsp) ** 2)))
        final[:, i] = yend
        rec[:, i, :] = dense_state(pieces, t_rec)
        dense.append(pieces)
    # the fields simulate gives, built as simulate builds them (a TruncationWarning as simulate)
    return _result(
        ic, fo, times, shape,
        t=t_rec,
        traces={s: rec[v] for v, s in enumerate(STATE)},
        recorded=np.arange(N),
        final_state={s: final[v].reshape(shape) for v, s in enumerate(STATE)},
        window=(w0, min(w1, t_stop)),
        params={k: np.broadcast_to(v, shape) for k, v in values.items()},
        method=f"reference:{method}",
        dt=float("nan"),
        t_start=t_start,
        t_stop=t_stop,
        n_steps=0,
        stimulus=stimulus,
        info={"dense": dense, "rtol": rtol, "atol": atol},
    )
