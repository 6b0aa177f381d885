"""Targets from recorded traces: eFEL extracts the features (docs/architecture.md §12)."""

from __future__ import annotations

import warnings

import numpy as np

from .. import config
from ..errors import InputValueError
from .inputs import need


def extract(t: np.ndarray, v: np.ndarray, features: list[str], window: tuple[float, float],
            threshold: float, k: int) -> dict[str, tuple[float, float]]:
    """``{name: (value, sd)}`` of one trace (ms, mV) by eFEL, with ``stim_start, stim_end =
    window`` and eFEL's ``Threshold`` = the fit's spike threshold; the SD of a single trace
    is ``max(config.FIT_TRACE_SD_REL * |value|, config.FIT_TRACE_SD_MIN)``."""
    efel = need("efel", "a target given as a recorded trace")
    efel.reset()
    efel.set_setting("Threshold", float(threshold))
    with warnings.catch_warnings():  # eFEL 5.7 deprecates the names it still computes
        warnings.simplefilter("ignore", DeprecationWarning)
        out = efel.get_feature_values(
            [{"T": t, "V": v, "stim_start": [window[0]], "stim_end": [window[1]]}],
            list(features), raise_warnings=False)[0]
    efel.reset()
    targets = {}
    for name in features:
        vals = out.get(name)
        if vals is None or len(vals) == 0 or not np.isfinite(vals[0]):
            raise InputValueError(f"target[{k}]: eFEL finds no value of feature {name!r} in the "
                                  f"trace; leave it out of this protocol's features")
        x = float(vals[0])
        targets[name] = (x, max(config.FIT_TRACE_SD_REL * abs(x), config.FIT_TRACE_SD_MIN))
    return targets
