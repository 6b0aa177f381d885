"""Stability limits: the largest dt at which a fixed-step method stays finite or counts right."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _checks as C
from ..engine import simulate
from ..errors import InputTypeError, InputValueError
from ..model import HHParams
from ..reference import solve
from ..stimulus import Stimulus
from . import _args

__all__ = ["StabilityLimit", "stability_limit"]


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
    method = _args.method(method)
    if not isinstance(criterion, str) or criterion not in ("finite", "count"):
        raise InputValueError(f"criterion must be 'finite' or 'count', got {criterion!r}")
    t_stop = C.real("t_stop", t_stop, positive=True)
    dt_min = C.real("dt_min", dt_min, positive=True)
    dt_max = C.real("dt_max", dt_max, positive=True)
    if not dt_min < dt_max:
        raise InputValueError(f"need 0 < dt_min < dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}")
    n_grid = C.integer("n_grid", n_grid, 2)
    rel_tol = C.real("rel_tol", rel_tol, positive=True)
    if not rel_tol < 1:
        raise InputValueError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    # every run below is simulate's: refuse what it refuses before the reference runs
    C.simulate_call(stimulus, max(t_stop, dt_min), dt_min, method, params, max_spikes=0,
                    window=(0.0, t_stop), face="stability_limit", **per_neuron)
    if expected_count is None:
        expected_count = solve(stimulus, t_stop, params, record_dt=t_stop,
                               **per_neuron).window_count
    else:
        arr = np.asarray(expected_count)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any():
            raise InputTypeError(f"expected_count must be spike counts (integers >= 0), got "
                            f"{expected_count!r}")
    expected = np.asarray(expected_count).reshape(-1)

    def ok(dt: float) -> bool:
        # a run ends on the first grid point >= t_stop: count spikes before t_stop only
        res = simulate(stimulus, max(t_stop, dt), dt=dt, method=method, params=params,
                       max_spikes=0, window=(0.0, t_stop), **per_neuron)
        if res.diverged.any():
            return False
        if criterion == "count" and res.window_count.size != expected.size:
            raise InputValueError(f"expected_count has {expected.size} values but the batch has "
                             f"{res.window_count.size} neurons")
        return criterion == "finite" or np.array_equal(res.window_count.reshape(-1), expected)

    grid = np.geomspace(dt_min, dt_max, n_grid)
    passed = [ok(float(dt)) for dt in grid]
    if not passed[0]:
        raise InputValueError(f"{method} fails the {criterion!r} criterion already at dt_min={dt_min}")
    if all(passed):
        return StabilityLimit(method, criterion, float(dt_max), math.inf, False, expected)
    k = passed.index(False)
    lo, hi = float(grid[k - 1]), float(grid[k])
    while hi - lo > rel_tol * lo:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return StabilityLimit(method, criterion, lo, hi, any(passed[k + 1:]), expected)
