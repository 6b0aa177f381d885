"""Accuracy of the fixed-step methods against the scipy reference of :mod:`hhfast.reference`.

One module per study, all on top of the solver (which never imports this package at load time):

- :mod:`~hhfast.accuracy.comparison`: :func:`compare` a result with a reference (errors per
  neuron, :class:`Comparison`);
- :mod:`~hhfast.accuracy.orders`: observed orders of accuracy (:func:`convergence`);
- :mod:`~hhfast.accuracy.stability`: stability limits in dt (:func:`stability_limit`);
- :mod:`~hhfast.accuracy.validation`: the cases of ``hhfast validate`` (:func:`validate`);
- :mod:`~hhfast.accuracy.workprecision`: error against cost (:func:`work_precision`,
  :func:`cheapest`), behind ``hhfast bench --work-precision``;
- :mod:`~hhfast.accuracy.defaults`: the default methods, dts and targets of the last two.

``hhfast.reference.compare``, ``.convergence`` and ``.stability_limit`` are the same functions.
"""

from __future__ import annotations

from .comparison import Comparison, compare
from .defaults import DEFAULT_WP_DTS, VALIDATE_DTS, VALIDATE_METHODS, VALIDATE_RTOLS, WP_TARGETS
from .orders import Convergence, convergence, observed_order
from .stability import StabilityLimit, stability_limit
from .validation import validate, validation_cases
from .workprecision import cheapest, work_precision

__all__ = [
    "compare",
    "Comparison",
    "convergence",
    "Convergence",
    "observed_order",
    "stability_limit",
    "StabilityLimit",
    "validation_cases",
    "validate",
    "work_precision",
    "cheapest",
    "DEFAULT_WP_DTS",
    "WP_TARGETS",
    "VALIDATE_RTOLS",
    "VALIDATE_METHODS",
    "VALIDATE_DTS",
]
