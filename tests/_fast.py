"""Which kernel variants the default test set (the fast set) compiles, and the helper that
puts a parametrized case using any other variant in the slow set (docs/development.md,
"Test sets").

A cold compile costs 3-19 CPU-s per kernel variant (method x float type x terms), so the fast
set compiles: the float64 deterministic kernel of every method (each method's accuracy),
dopri5, the three channel-noise models in float64, and for ``FAST_METHODS`` only the
current-noise kernels and the float32 kernels.  A case that needs another variant (noisy heun,
float32 rl2, a float32 channel model) is marked ``slow``, and the fast set keeps the same check
on a ``FAST_METHODS`` variant.
"""

from __future__ import annotations

import numpy as np
import pytest

#: the methods whose noisy and float32 kernels the fast set compiles
FAST_METHODS = ("euler", "rk4")


def methods(names, fast=FAST_METHODS) -> list:
    """``names`` as pytest parameters, those not in ``fast`` marked slow."""
    return [pytest.param(m, marks=() if m in fast else pytest.mark.slow) for m in names]


def method_dtypes(names, fast=FAST_METHODS) -> list:
    """(method, dtype) parameters for every method in float64 and float32; float32 cases of
    methods not in ``fast`` are slow."""
    out = []
    for m in names:
        out.append(pytest.param(m, np.float64, id=f"{m}-float64"))
        out.append(pytest.param(m, np.float32, id=f"{m}-float32",
                                marks=() if m in fast else pytest.mark.slow))
    return out
