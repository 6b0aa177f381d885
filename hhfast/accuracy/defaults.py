"""Default methods, time steps and targets of ``hhfast validate`` and ``hhfast bench
--work-precision`` (kept together so that the method registry can feed them in one place)."""

from __future__ import annotations

from ..kernels import METHODS

#: Methods that ``validate`` runs by default.
VALIDATE_METHODS = ("rk4",)

#: Time steps (ms) that ``validate`` runs by default.
VALIDATE_DTS = (0.01,)

#: Tolerances (rtol = atol) at which ``validate`` runs adaptive methods by default.
VALIDATE_RTOLS = (1e-8,)

#: Spike-time accuracy targets (ms) of the work-precision table.
WP_TARGETS = (1.0, 0.1, 0.01, 0.001)

#: dts (ms; rtols for adaptive methods) tried per method by default: each method's
#: ``wp_range`` in the registry (from the finest it needs to approach the finest target to
#: just below its stability limit).  A snapshot taken at import; ``work_precision`` reads the
#: registry itself, so methods registered later are included.
DEFAULT_WP_DTS = {m: s.wp_range for m, s in METHODS.items()}
