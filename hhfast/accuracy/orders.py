"""Observed orders of accuracy: error against dt for a fixed-step method, and the log–log slope."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _checks as C
from .. import config
from ..engine import simulate
from ..errors import InputTypeError, InputValueError
from ..model import HHParams
from ..reference import SCIPY_METHODS, solve
from ..result import SimResult
from ..stimulus import Stimulus
from . import _args
from .comparison import _t_range, compare

__all__ = ["observed_order", "Convergence", "convergence"]


def observed_order(dts, errors) -> float:
    """Least-squares slope of log(error) against log(dt): the observed order of accuracy
    (NaN unless every error is finite and > 0 and there are at least two)."""
    dts = _args.time_steps(dts, "dts")
    refused = InputTypeError(f"errors must be an array of numbers, got {errors!r}")
    try:  # errors may be inf (a spike count differed) or NaN: data, not refused
        arr = np.asarray(errors)
    except (TypeError, ValueError):
        raise refused from None
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise refused
    errors = arr.astype(float)
    if errors.shape != dts.shape:
        raise InputValueError(f"dts and errors must pair up, one error per dt: got {dts.size} "
                              f"dts and errors of shape {errors.shape}")
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
        Time steps (ms), at least two.  Put stimulus edges on every grid (e.g. dts that divide the edge
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
        A reference from :func:`hhfast.reference.solve` for the same neurons (default: solved here with
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
        Spike times stored and compared per neuron (at least 1 for ``measure="spikes"``).
    **per_neuron : float or array
        As in :func:`hhfast.simulate` (a small batch: the reference solves one at a time).

    Returns
    -------
    Convergence
    """
    method = _args.method(method)
    if not isinstance(measure, str) or measure not in ("spikes", "V"):
        raise InputValueError(f"measure must be 'spikes' or 'V', got {measure!r}")
    dts = _args.time_steps(dts, "dts", at_least=2)
    t_stop = C.real("t_stop", t_stop, positive=True)
    _t_range(t_range, 0.0, t_stop)
    max_spikes = C.integer("max_spikes", max_spikes, 1 if measure == "spikes" else 0)
    if reference is not None and not (
            isinstance(reference, SimResult) and "dense" in reference.info):
        raise InputTypeError(f"reference must be a SimResult from hhfast.reference.solve, got "
                        f"{type(reference).__name__}")
    if ref_method is not None and (not isinstance(ref_method, str)
                                   or ref_method not in SCIPY_METHODS):
        raise InputValueError(f"ref_method must be None or one of {list(SCIPY_METHODS)}, got "
                              f"{ref_method!r}")
    # every run below is simulate's: refuse what it refuses before the reference runs
    C.simulate_call(stimulus, t_stop, float(dts.min()), method, params, max_spikes=max_spikes,
                    face="convergence", **per_neuron)
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


