"""A fit's TOML/JSON spec as data -> the arguments of :func:`hhfast.fit` (``hhfast fit
SPEC.toml``; checked as data, errors name the key).

Keys: ``t_stop`` (required), ``dt``, ``method``, ``threshold``, ``feature_window = [t0, t1]``,
``optimizer``, ``max_evals``, ``seed``, ``popsize``, ``loss``, ``out`` (file prefix of the
result); tables ``[params]`` (``preset = "classic"|"modern"`` and model field overrides),
``[fixed]`` (per-neuron values held fixed), ``[bounds]`` (``name = [lo, hi]``) and an array of
tables ``[[protocols]]``, each with a ``stimulus`` (a stimulus spec, as a sweep's) and either a
``target`` table (``feature = [mean, sd]``) or ``trace = "file.csv"`` (two columns t, V;
ms, mV; relative to the spec's folder) with ``features = [names]``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import InputValueError
from ..model import HHParams
from ..stimulus import Stimulus

_KEYS = {"t_stop", "dt", "method", "threshold", "feature_window", "optimizer", "max_evals",
         "seed", "popsize", "loss", "out", "params", "fixed", "bounds", "protocols"}
_INTS = ("max_evals", "seed", "popsize")
_STRS = ("method", "optimizer", "loss", "out")


def _num(key: str, v, kind=float):
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or (
            kind is int and not isinstance(v, numbers.Integral)):
        raise InputValueError(f"fit spec: key {key!r} must be "
                              f"{'an integer' if kind is int else 'a number'}, got {v!r}")
    return kind(v)


def _pair(key: str, v) -> tuple[float, float]:
    if not isinstance(v, list) or len(v) != 2:
        raise InputValueError(f"fit spec: key {key!r} must be a list of two numbers, got {v!r}")
    return _num(f"{key}[0]", v[0]), _num(f"{key}[1]", v[1])


def _table(spec: Mapping, key: str) -> dict:
    v = spec.get(key, {})
    if not isinstance(v, Mapping):
        raise InputValueError(f"fit spec: key {key!r} must be a table, got {v!r}")
    return dict(v)


def fit_from_spec(spec: Mapping, base: Path | None = None) -> tuple[dict, str | None]:
    """A parsed fit spec -> ``(keyword arguments of hh.fit, out)``; ``base`` is the folder
    trace files are relative to."""
    if not isinstance(spec, Mapping):
        raise InputValueError(f"fit spec must be a table, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise InputValueError(f"fit spec: unknown key {unknown[0]!r}; known keys are {sorted(_KEYS)}")
    for key in ("t_stop", "bounds", "protocols"):
        if key not in spec:
            raise InputValueError(f"fit spec: missing key {key!r}")
    kw: dict = {"t_stop": _num("t_stop", spec["t_stop"])}
    for key in ("dt", "threshold"):
        if key in spec:
            kw[key] = _num(key, spec[key])
    for key in _INTS:
        if key in spec:
            kw[key] = _num(key, spec[key], int)
    for key in _STRS:
        if key in spec and not isinstance(spec[key], str):
            raise InputValueError(f"fit spec: key {key!r} must be a string, got {spec[key]!r}")
    kw.update({k: spec[k] for k in ("method", "optimizer", "loss") if k in spec})
    if "feature_window" in spec:
        kw["feature_window"] = _pair("feature_window", spec["feature_window"])
    try:
        kw["params"] = HHParams.from_spec(_table(spec, "params"))
    except InputValueError as e:
        raise InputValueError(f"fit spec: {e}") from None
    kw["fixed"] = {k: _num(f"fixed.{k}", v) for k, v in _table(spec, "fixed").items()}
    kw["bounds"] = {k: _pair(f"bounds.{k}", v) for k, v in _table(spec, "bounds").items()}
    prots = spec["protocols"]
    if not isinstance(prots, list) or not prots or not all(isinstance(x, Mapping) for x in prots):
        raise InputValueError("fit spec: 'protocols' must be an array of tables ([[protocols]] "
                              "with stimulus = {...} and a target table or a trace file)")
    stims, targets, features = [], [], None
    for i, pr in enumerate(prots):
        where = f"protocols[{i}]"
        extra = sorted(set(pr) - {"stimulus", "target", "trace", "features"})
        if extra:
            raise InputValueError(f"fit spec: {where}: unknown key {extra[0]!r}")
        try:
            stims.append(Stimulus.from_spec(dict(pr.get("stimulus", {}))))
        except (ValueError, TypeError) as e:
            raise InputValueError(f"fit spec: {where}.stimulus: {e}") from None
        if ("target" in pr) == ("trace" in pr):
            raise InputValueError(f"fit spec: {where} needs exactly one of 'target' (a table "
                                  f"feature = [mean, sd]) or 'trace' (a CSV file t, V)")
        if "target" in pr:
            targets.append({k: _pair(f"{where}.target.{k}", v)
                            for k, v in _table(pr, "target").items()})
            continue
        path = Path(pr["trace"]) if base is None else base / pr["trace"]
        try:
            data = np.loadtxt(path, delimiter=",", ndmin=2)
        except (OSError, ValueError) as e:
            raise InputValueError(f"fit spec: {where}.trace: cannot read {str(path)!r}: {e}") from None
        if data.shape[1] != 2:
            raise InputValueError(f"fit spec: {where}.trace: {str(path)!r} must have two "
                                  f"columns t, V, got {data.shape[1]}")
        f = pr.get("features")
        if not isinstance(f, list) or not f or not all(isinstance(x, str) for x in f) or (
                features is not None and f != features):
            raise InputValueError(f"fit spec: {where}.features must be a list of feature "
                                  f"names (the same for every trace), got {f!r}")
        features = f
        targets.append((data[:, 0], data[:, 1]))
    kw["protocols"], kw["target"] = stims, targets
    if features is not None:
        kw["features"] = features
    return kw, spec.get("out")
