"""The validation cases behind ``hhfast validate``: each method and dt against the reference."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import _checks as C
from ..engine import simulate
from ..errors import InputValueError
from ..reference import solve
from ..stimulus import Stimulus, gist, step
from . import _args
from .comparison import compare
from .defaults import VALIDATE_DTS, VALIDATE_METHODS, VALIDATE_RTOLS

__all__ = ["validation_cases", "validate"]


def validation_cases(t_stop: float = 100.0) -> list[tuple[str, Stimulus, float, dict]]:
    """The cases of ``hhfast validate``: ``(name, stimulus, t_stop ms, per-neuron values)``.

    The gist's two-pulse protocol (50 ms) and constant currents from rest for ``t_stop`` ms:
    2.5 µA/cm² (a single spike, then rest), 6.5 (inside classic HH's bistable band, just above
    the onset of repetitive firing from rest), 10 and 20 (sustained firing).
    """
    t_stop = C.real("t_stop", t_stop, positive=True)
    cases = [("gist two-pulse", gist(), 50.0, {})]
    for amp in (2.5, 6.5, 10.0, 20.0):
        cases.append((f"step {amp:g} uA/cm2", step(), float(t_stop), {"amplitude": amp}))
    return cases


def validate(
    methods: Sequence[str] = VALIDATE_METHODS,
    dts: Sequence[float] = VALIDATE_DTS,
    *,
    spike_tol: float = 0.01,
    v_tol: float = 1.0,
    t_stop: float = 100.0,
    rtol: float = 1e-10,
    rtols: Sequence[float] = VALIDATE_RTOLS,
) -> list[dict]:
    """Run every validation case with every method and dt and compare with the reference.

    Parameters
    ----------
    methods : str or sequence of str
        Fixed-step methods (default :data:`~hhfast.accuracy.defaults.VALIDATE_METHODS`).
    dts : float or sequence of float
        Time steps (ms) (default :data:`~hhfast.accuracy.defaults.VALIDATE_DTS`).
    spike_tol : float
        Largest acceptable spike-time error (ms).
    v_tol : float
        Largest acceptable max |ΔV| (mV) on the run's time grid.
    t_stop : float
        Duration (ms) of the constant-current cases.
    rtol : float
        Tolerance (relative and absolute) of the scipy reference.
    rtols : float or sequence of float
        Tolerances (``rtol = atol``) at which adaptive methods (``"dopri5"``) run; their first
        trial step is ``dts[0]``.

    Returns
    -------
    list of dict
        One row per (case, method, dt or rtol): ``case, method, dt`` (NaN for adaptive runs),
        ``rtol`` (NaN for fixed-step runs), ``max_dV`` (mV), ``spike_error``
        (ms; inf on a count mismatch), ``count, count_ref, count_match, passed``.
    """
    methods = _args.methods(methods)
    dts = _args.time_steps(dts, "dts")
    spike_tol = C.real("spike_tol", spike_tol, positive=True, allow_inf=True)
    v_tol = C.real("v_tol", v_tol, positive=True, allow_inf=True)
    t_stop = C.real("t_stop", t_stop, positive=True)
    rtol = C.real("rtol", rtol, positive=True)
    rtols = _args.time_steps(rtols, "rtols")
    if t_stop < dts.max():
        raise InputValueError(f"t_stop ({t_stop!r} ms) must be at least the largest of dts "
                         f"({float(dts.max())!r} ms)")
    cases = validation_cases(t_stop)
    for _name, stim, T, kw in cases:  # simulate's checks of every run, before any reference
        for method in methods:
            C.simulate_call(stim, T, float(dts.min()), method, record="V", face="validate",
                            **({"rtol": float(rtols.min())} if _args.adaptive(method) else {}),
                            **kw)
    rows = []
    for name, stim, T, kw in cases:
        ref = solve(stim, T, rtol=rtol, atol=rtol, **kw)
        for method in methods:
            runs = ([(float(dts[0]), float(r)) for r in rtols] if _args.adaptive(method)
                    else [(float(dt), None) for dt in dts])
            for dt, tol in runs:
                res = simulate(stim, T, dt=dt, method=method, record="V", rtol=tol, **kw)
                c = compare(res, ref)
                s = c.summary()
                rows.append({
                    "case": name,
                    "method": method,
                    "dt": math.nan if tol is not None else dt,
                    "rtol": math.nan if tol is None else tol,
                    "max_dV": s["max_dV"],
                    "spike_error": s["spike_error"],
                    "count": int(c.count[0]),
                    "count_ref": int(c.count_ref[0]),
                    "count_match": bool(c.count_match[0]),
                    "passed": bool(c.count_match[0] and s["spike_error"] <= spike_tol
                                   and s["max_dV"] <= v_tol),
                })
    return rows
