"""hhfast: fast, trustworthy batch integration of the Hodgkin–Huxley neuron model.

>>> import hhfast as hh
>>> res = hh.simulate(hh.pulses([(0, 1, 150), (10, 11, 50)]), t_stop=50, record="V")
"""

from . import features  # hh.features, the module of the in-kernel features
from ._version import __version__
from .analysis import firing_pattern, latency, sustained_rate
from .engine import RunPlan, backends, methods, simulate, warmup
from .engine.plan import plan
from .errors import (
    InputError,
    InputTypeError,
    InputValueError,
    RenamedWarning,
    TruncationWarning,
)
from .excitability import rheobase
from .fi import FICurve, fi_curve
from .fitting import FitResult, fit
from .model import HHParams
from .result import SimResult, SpikeTimes
from .stimulus import Stimulus, gist, pulse_train, pulses, ramp, step, waveform
from .sweeps import Grid, grid, open_sweep, sweep, verify_sweep

#: the electrophysiology features ``simulate(features=...)`` computes (eFEL's names)
FEATURES = features.NAMES

#: names imported when first used, not by ``import hhfast``: what they bring (scipy's solvers,
#: the explorer's settings) is not needed to simulate (docs/architecture.md §1)
_LAZY = {"accuracy": ("hhfast.accuracy", None), "reference": ("hhfast.reference", None),
         "explore": ("hhfast.explorer", "explore")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        if attr is not None:
            value = getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hhfast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [  # noqa: F822 - accuracy, reference, explore: module __getattr__
    "HHParams",
    "SimResult",
    "SpikeTimes",
    "Stimulus",
    "simulate",
    "FEATURES",
    "features",
    "plan",
    "RunPlan",
    "backends",
    "methods",
    "warmup",
    "explore",
    "pulses",
    "step",
    "gist",
    "pulse_train",
    "ramp",
    "waveform",
    "FICurve",
    "fi_curve",
    "fit",
    "FitResult",
    "rheobase",
    "firing_pattern",
    "latency",
    "sustained_rate",
    "Grid",
    "grid",
    "sweep",
    "open_sweep",
    "verify_sweep",
    "__version__",
    "InputError",
    "InputValueError",
    "InputTypeError",
    "TruncationWarning",
    "RenamedWarning",
    "reference",
    "accuracy",
]
