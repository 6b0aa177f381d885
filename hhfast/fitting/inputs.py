"""The checks of a fit's own arguments (protocols, targets, bounds, optimiser, budget), done
before any plan is made or kernel compiled (docs/architecture.md §1, §12)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from .. import config
from .._checks import PER_NEURON, integer
from ..errors import InputTypeError, InputValueError
from ..noise import check_seed
from ..stimulus import Stimulus

#: optimiser name -> the package it needs
OPTIMIZERS = {"cma": "cma", "de": "scipy"}
#: how the z-scores of all features and protocols become one loss
LOSSES = ("sum", "max")
#: per-neuron values a fit may vary: the model's fields, the stimulus scale and offset, the
#: initial state and the noise (all of simulate's per-neuron values but the channel ones)
FITTABLE = tuple(PER_NEURON)


def need(module: str, what: str):
    """Import an optional dependency of fitting, or refuse with what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModuleNotFoundError(
            f"{what} needs the package {module!r}, part of the optional extra 'fit': "
            f"pip install 'hhfast[fit]'") from None


def protocols_list(protocols) -> list[Stimulus]:
    """One Stimulus or a non-empty sequence of them -> a list."""
    if isinstance(protocols, Stimulus):
        return [protocols]
    if (not isinstance(protocols, Sequence) or isinstance(protocols, str) or not protocols
            or not all(isinstance(p, Stimulus) for p in protocols)):
        raise InputTypeError(f"protocols must be a Stimulus or a non-empty list of Stimulus "
                             f"(hh.step(...), ...), got {protocols!r}")
    return list(protocols)


def _number(where: str, v) -> float:
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v):
        raise InputValueError(f"{where} must be a finite number, got {v!r}")
    return float(v)


def bounds_dict(bounds) -> dict[str, tuple[float, float]]:
    """``{name: (lo, hi)}`` with known per-neuron names, finite ``lo < hi``."""
    if not isinstance(bounds, Mapping) or not bounds:
        raise InputTypeError(f"bounds must be a non-empty dict {{name: (lo, hi)}}, got {bounds!r}")
    out = {}
    for name, b in bounds.items():
        if name not in FITTABLE:
            raise InputValueError(f"bounds: unknown parameter {name!r}; per-neuron parameters "
                                  f"are {list(FITTABLE)}")
        if not isinstance(b, Sequence) or isinstance(b, str) or len(b) != 2:
            raise InputValueError(f"bounds[{name!r}] must be (lo, hi), got {b!r}")
        lo, hi = (_number(f"bounds[{name!r}]", v) for v in b)
        if not lo < hi:
            raise InputValueError(f"bounds[{name!r}] must have lo < hi, got {b!r}")
        out[name] = (lo, hi)
    return out


def _is_trace(t) -> bool:
    return isinstance(t, tuple | list) and len(t) == 2 and all(
        isinstance(a, np.ndarray) for a in t) or (
        isinstance(t, Mapping) and set(t) == {"t", "V"})


def target_list(target, n: int, features) -> list:
    """One target per protocol: a dict ``{name: (mean, sd)}`` (finite mean, sd > 0) or a
    recorded trace ``(t, V)`` / ``{"t": t, "V": V}`` (arrays, ms and mV), which needs
    ``features``.  Returns a list of dicts or ``(t, V)`` pairs of float arrays."""
    if isinstance(target, Mapping) and not _is_trace(target) or _is_trace(target):
        target = [target]
    if not isinstance(target, Sequence) or isinstance(target, str) or len(target) != n:
        raise InputValueError(f"target must be a list of {n} target(s), one per protocol, got "
                              f"{target!r}")
    out = []
    for k, t in enumerate(target):
        if _is_trace(t):
            tt, vv = (t["t"], t["V"]) if isinstance(t, Mapping) else t
            tt, vv = np.asarray(tt, dtype=float), np.asarray(vv, dtype=float)
            if tt.ndim != 1 or tt.shape != vv.shape or tt.size < 2 or not (
                    np.isfinite(tt).all() and np.isfinite(vv).all()) or not (np.diff(tt) > 0).all():
                raise InputValueError(f"target[{k}]: a trace must be two finite 1-D arrays (t, V) "
                                      f"of equal length >= 2 with t increasing")
            if features is None:
                raise InputValueError(f"target[{k}] is a recorded trace: give features=[names] to "
                                      f"extract from it")
            out.append((tt, vv))
            continue
        if not isinstance(t, Mapping) or not t:
            raise InputTypeError(f"target[{k}] must be a dict {{feature: (mean, sd)}} or a trace "
                                 f"(t, V), got {t!r}")
        d = {}
        for name, ms in t.items():
            if not isinstance(name, str):
                raise InputTypeError(f"target[{k}]: feature names must be strings, got {name!r}")
            if not isinstance(ms, Sequence) or isinstance(ms, str) or len(ms) != 2:
                raise InputValueError(f"target[{k}][{name!r}] must be (mean, sd), got {ms!r}")
            mean = _number(f"target[{k}][{name!r}] mean", ms[0])
            sd = _number(f"target[{k}][{name!r}] sd", ms[1])
            if not sd > 0:
                raise InputValueError(f"target[{k}][{name!r}] sd must be > 0, got {ms[1]!r}")
            d[name] = (mean, sd)
        out.append(d)
    return out


def choice(name: str, value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise InputValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def budget(max_evals, popsize, optimizer: str, d: int) -> tuple[int, int]:
    """``(max_evals, population)``: the population of one generation (one batch)."""
    max_evals = integer("max_evals", max_evals, 1)
    if optimizer == "cma" and d < 2:
        raise InputValueError("optimizer='cma' needs at least two parameters in bounds (the cma "
                              "package does not run in one dimension); use optimizer='de'")
    if popsize is None:
        popsize = config.FIT_CMA_POPSIZE if optimizer == "cma" else config.FIT_DE_POPSIZE
    popsize = integer("popsize", popsize, 2 if optimizer == "cma" else 1)
    pop = popsize if optimizer == "cma" else popsize * d
    pop = max(pop, 5) if optimizer == "de" else pop  # scipy needs at least 5 members
    if max_evals < 2 * pop:
        per = "" if optimizer == "cma" else f" x {d} parameters"
        raise InputValueError(f"max_evals ({max_evals}) must allow at least two generations of "
                              f"{pop} (popsize={popsize}{per})")
    return max_evals, popsize


def feature_names(features) -> list[str] | None:
    """None, or a non-empty list of feature names (strings)."""
    if features is None:
        return None
    if (isinstance(features, str) or not isinstance(features, Sequence) or not features
            or not all(isinstance(f, str) for f in features)):
        raise InputTypeError(f"features must be a non-empty list of feature names, got "
                             f"{features!r}")
    return list(features)


def fixed_values(fixed, bounds: Mapping) -> dict:
    """``{name: value}`` of per-neuron values held fixed (simulate checks the values)."""
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise InputTypeError(f"fixed must be a dict {{name: value}} of per-neuron values, got "
                             f"{fixed!r}")
    for name in fixed:
        if name not in FITTABLE:
            raise InputValueError(f"fixed: unknown parameter {name!r}; per-neuron parameters "
                                  f"are {list(FITTABLE)}")
        if name in bounds:
            raise InputValueError(f"fixed: {name!r} is also in bounds (fit it or fix it)")
    return dict(fixed)


def seed_value(seed) -> int:
    return check_seed(seed)
