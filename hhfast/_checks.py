"""Input checks shared by every public entry point (engine, reference, f–I, excitability,
sweeps): each names the argument and the offending value and raises before anything is
compiled or allocated.  Internal: the public API re-validates through these, users never call
them directly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .model import FIELDS, STATE
from .stimulus import Stimulus

#: per-neuron keywords besides the model fields
STIM_VALUES = ("amplitude", "bias")
INITIAL_VALUES = ("V0", "n0", "m0", "h0")
NOISE_VALUES = ("noise_sigma", "noise_tau", "noise_I0")  # as hhfast.noise.NOISE_VALUES
PER_NEURON = FIELDS + STIM_VALUES + INITIAL_VALUES + ("threshold",) + NOISE_VALUES


def real(name: str, value, *, positive: bool = False, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def integer(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value!r}")
    return int(value)


def per_neuron_array(name: str, value) -> np.ndarray:
    """A per-neuron value as a float array, checked for type and finiteness."""
    try:
        arr = np.asarray(value)
    except Exception:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex values")
    arr = arr.astype(float, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        j = np.flatnonzero(bad)[0]
        raise ValueError(
            f"{name} must be finite, got {arr.reshape(-1)[j]!r} at index "
            f"{np.unravel_index(j, arr.shape) if arr.ndim else ()}"
        )
    return arr


def range_check(name: str, arr: np.ndarray) -> None:
    def fail(cond_text, bad):
        j = np.flatnonzero(bad)[0]
        raise ValueError(f"{name} must be {cond_text}, got {arr.reshape(-1)[j]!r}")

    if name in ("gNa", "gK", "gL") and (arr < 0).any():
        fail(">= 0 (a conductance, mS/cm²)", arr.reshape(-1) < 0)
    if name == "Cm" and (arr <= 0).any():
        fail("> 0 (µF/cm²)", arr.reshape(-1) <= 0)
    if name in ("n0", "m0", "h0") and ((arr < 0) | (arr > 1)).any():
        fail("in [0, 1] (a gating variable)", ((arr < 0) | (arr > 1)).reshape(-1))


def window(window, t_start: float) -> tuple[float, float]:
    """The analysis window ``(t0, t1)`` in ms, checked (default ``(t_start, inf)``)."""
    if window is None:
        return t_start, math.inf
    try:
        w0, w1 = window
    except (TypeError, ValueError):
        raise TypeError(f"window must be a pair (t0, t1) in ms, got {window!r}") from None
    w0, w1 = real("window[0]", w0), real("window[1]", w1, allow_inf=True)
    if not w1 > w0:
        raise ValueError(f"window must have t1 > t0, got {window!r}")
    return w0, w1


def float_dtype(dtype) -> type:
    """``dtype`` argument -> np.float64 or np.float32 (anything else is refused)."""
    try:
        if dtype is None:
            raise TypeError
        dt_ = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}") from None
    if dt_ not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}")
    return dt_.type


def parse_record(record) -> tuple[str, ...]:
    if record is None:
        return ()
    if isinstance(record, str):
        names = tuple(s.strip() for s in record.split(",") if s.strip())
    elif isinstance(record, Sequence):
        names = tuple(record)
    else:
        raise TypeError(f"record must be a string like 'V,n' or a list of names, got {record!r}")
    for s in names:
        if s not in STATE:
            raise ValueError(f"record: unknown state variable {s!r}; choose from {STATE}")
    if len(set(names)) != len(names):
        raise ValueError(f"record names a variable twice: {record!r}")
    return names


def stimuli(stimulus) -> tuple[np.ndarray, tuple[int, ...]]:
    """Stimulus (or array/sequence of them, one per neuron) -> object array + its shape."""
    if isinstance(stimulus, Stimulus):
        return np.array([stimulus], dtype=object).reshape(()), ()
    if isinstance(stimulus, (Sequence, np.ndarray)) and not isinstance(stimulus, str):
        arr = np.empty(len(stimulus), dtype=object)
        for i, s in enumerate(stimulus):
            if not isinstance(s, Stimulus):
                raise TypeError(f"stimulus[{i}] must be a Stimulus, got {s!r}")
            arr[i] = s
        if isinstance(stimulus, np.ndarray):
            arr = arr.reshape(stimulus.shape)
        return arr, arr.shape
    raise TypeError(
        "stimulus must be a Stimulus (hh.step(), hh.pulses(...), ...) or a sequence of them, "
        f"got {stimulus!r}"
    )
