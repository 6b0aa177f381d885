"""Argument checks shared by the accuracy studies (on top of :mod:`hhfast._checks`)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .. import _checks as C
from ..errors import InputTypeError, InputValueError
from ..kernels import METHODS


def method(value, name: str = "method") -> str:
    """A fixed-step method name known to the kernels."""
    if not isinstance(value, str) or value not in METHODS:
        raise InputValueError(f"{name} must be one of {sorted(METHODS)}, got {value!r}")
    return value


def methods(value, name: str = "methods") -> tuple[str, ...]:
    """One method name or a sequence of them (at least one)."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (Sequence, np.ndarray)) or len(value) == 0:
        raise InputTypeError(f"{name} must be a method name or a non-empty sequence of them, "
                        f"got {value!r}")
    return tuple(method(m, f"{name}[{i}]") for i, m in enumerate(value))


def time_steps(value, name: str = "dts", at_least: int = 1) -> np.ndarray:
    """One time step (ms) or a sequence of them: each a finite number > 0."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
        raise InputTypeError(f"{name} must be a sequence of time steps (ms), got {value!r}")
    if np.ndim(value) > 1:
        raise InputValueError(f"{name} must be a flat sequence of time steps (ms), got shape "
                              f"{np.shape(value)}")
    out = np.array([C.real(f"{name}[{i}]", v, positive=True)
                    for i, v in enumerate(np.asarray(value, dtype=object).reshape(-1))])
    if out.size < at_least:
        raise InputValueError(f"{name} must hold at least {at_least} time step(s) (ms), got {value!r}")
    return out


def adaptive(method: str) -> bool:
    """Whether ``method`` is adaptive (its accuracy knob is rtol, not dt)."""
    return METHODS[method].kind == "adaptive"
