"""hhfast: fast, trustworthy batch integration of the Hodgkin–Huxley neuron model.

>>> import hhfast as hh
>>> res = hh.simulate(hh.pulses([(0, 1, 150), (10, 11, 50)]), t_stop=50, record="V")
"""

from .engine import simulate, warmup
from .model import HHParams
from .result import SimResult, SpikeTimes
from .stimulus import Stimulus, pulse_train, pulses, ramp, step, waveform

__version__ = "0.1.0"

__all__ = [
    "HHParams",
    "SimResult",
    "SpikeTimes",
    "Stimulus",
    "simulate",
    "warmup",
    "pulses",
    "step",
    "pulse_train",
    "ramp",
    "waveform",
    "__version__",
]
