"""Checks of single values that need no hhfast type (a real number, an integer, a window within
a run): the bottom of the checks, importable by the modules that define the types
(``stimulus``, ``result``) without a loop; ``hhfast._checks`` re-exports them
(docs/architecture.md §1)."""

from __future__ import annotations

import math
import numbers

from .errors import InputTypeError, InputValueError

__all__ = ["real", "integer", "INT64_MAX", "window_within"]


def real(name: str, value, *, positive: bool = False, allow_inf: bool = False) -> float:
    """A real number (not a bool) as a float: finite unless ``allow_inf``, > 0 if ``positive``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise InputValueError(f"{name} must be finite, got {value!r}")
    if positive and not v > 0:
        raise InputValueError(f"{name} must be > 0, got {value!r}")
    return v


#: the largest integer any check lets through: the kernels count in int64
INT64_MAX = 2**63 - 1


def integer(name: str, value, lo: int, hi: int = INT64_MAX) -> int:
    """An integer in ``[lo, hi]`` (not a bool); ``hi`` defaults to the int64 range, since
    every integer argument ends up in an int64 kernel argument or array size."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    if value < lo:
        raise InputValueError(f"{name} must be >= {lo}, got {value!r}")
    if value > hi:
        what = " (the kernels count in int64)" if hi == INT64_MAX else ""
        raise InputValueError(f"{name} must be <= {hi}{what}, got {value!r}")
    return int(value)


def window_within(w0: float, w1: float, t_start: float, t_end: float,
                  name: str = "window (t0, t1)") -> None:
    """Refuse an analysis window ``[w0, w1)`` (ms) that does not lie within the run
    ``[t_start, t_end]`` (ms): spikes outside the run were never simulated, so counting them
    as absent would understate a rate.  ``w1 = inf`` means the run's end.  A slack of 1e-9 of
    the run's length absorbs the rounding of ``t_start + n_steps * dt``.
    """
    slack = 1e-9 * (t_end - t_start)
    where = f"{name} = ({w0!r}, {w1!r}) ms must lie within the run [{t_start!r}, {t_end!r}] ms"
    if w0 < t_start - slack:
        raise InputValueError(f"{where}: t0 is before the run starts")
    if w0 >= t_end - slack:
        raise InputValueError(f"{where}: t0 is at or after the run's end")
    if math.isfinite(w1) and w1 > t_end + slack:
        raise InputValueError(f"{where}: t1 is after the run's end (t1 = inf means the end)")
