"""hhfast: fast, trustworthy batch integration of the Hodgkin–Huxley neuron model.

>>> import hhfast as hh
>>> res = hh.simulate(hh.pulses([(0, 1, 150), (10, 11, 50)]), t_stop=50, record="V")
"""

from . import accuracy, reference
from .analysis import firing_pattern, latency, sustained_rate
from .engine import RunPlan, backends, methods, simulate, warmup
from .engine.plan import plan
from .errors import InputError, InputTypeError, InputValueError, TruncationWarning
from .excitability import rheobase
from .explorer import explore
from .fi import FICurve, fi_curve
from .model import HHParams
from .result import SimResult, SpikeTimes
from .stimulus import Stimulus, gist, pulse_train, pulses, ramp, step, waveform
from .sweeps import Grid, grid, open_sweep, sweep, verify_sweep

__version__ = "0.1.0"

__all__ = [
    "HHParams",
    "SimResult",
    "SpikeTimes",
    "Stimulus",
    "simulate",
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
    "reference",
    "accuracy",
]
