"""Default methods, time steps and targets of ``hhfast validate`` and ``hhfast bench
--work-precision`` (kept together so that the method registry can feed them in one place)."""

from __future__ import annotations

#: Methods that ``validate`` runs by default.
VALIDATE_METHODS = ("rk4",)

#: Time steps (ms) that ``validate`` runs by default.
VALIDATE_DTS = (0.01,)

#: Tolerances (rtol = atol) at which ``validate`` runs adaptive methods by default.
VALIDATE_RTOLS = (1e-8,)

#: Methods that ``work_precision`` measures by default.
WP_METHODS = ("euler", "expeuler", "rk4", "dopri5")

#: Spike-time accuracy targets (ms) of the work-precision table.
WP_TARGETS = (1.0, 0.1, 0.01, 0.001)

#: dts (ms) tried per method by default: from the finest that each method needs to approach
#: the finest target to just below its stability limit (euler 0.068, rk4 0.089 ms on a
#: 10 µA/cm² step; expeuler stays finite at any of these, but miscounts spikes above ~0.02).
DEFAULT_WP_DTS = {
    "euler": (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    "expeuler": (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
    "rk4": (0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.07, 0.08),
    # adaptive methods: the values are rtols (atol = rtol), not dts
    "dopri5": (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10),
}
