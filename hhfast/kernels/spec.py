"""What the registry knows about a method: :class:`MethodSpec`.

Kept free of Numba so that the CLI, the docs and the tests can read the registry without
compiling anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputTypeError, InputValueError

#: integrator kinds: ``fixed`` (a constant dt: a lane ``step`` that the driver of every backend
#: runs, :func:`hhfast.kernels.cpu.drive`) or ``adaptive`` (error-controlled steps: a whole
#: kernel ``run(batch, adaptive)``)
KINDS = ("fixed", "adaptive")


def no_check(values: dict[str, np.ndarray]) -> None:
    """Parameter check of a method that accepts every value the model accepts."""


@dataclass(frozen=True)
class MethodSpec:
    """One integration method of :func:`hhfast.simulate`, as the registry
    ``hhfast.kernels.METHODS`` (and :func:`hhfast.methods`) lists it.

    Attributes
    ----------
    name : str
        The ``method=`` name.
    order : int
        Formal order of accuracy (global error O(dt^order) on smooth stretches).
    kind : {"fixed", "adaptive"}
        Fixed step (``dt``) or error-controlled steps (``rtol``/``atol``).
    check : callable
        ``check(values)`` with ``values`` the per-neuron arrays of :func:`hhfast.simulate`
        (model fields, ``amplitude``, ``bias``, initial values, ``threshold``); raises
        :class:`~hhfast.errors.InputValueError` naming the argument when the method cannot
        integrate them.
    wp_range : tuple of float
        Default dts (ms; rtols for adaptive methods) of the work-precision benchmark, from the
        finest worth running to just below the method's stability limit.
    description : str
        One line for tables and ``--help``.
    reference : str
        Where the method comes from.
    step : callable, optional
        A fixed-step method's lane step ``step(V, n, m, h, I0, I1, I2, pb, l, dt, ts)``: the
        state at the step's end from the state at its start and the current (µA/cm²) at the
        step's start, middle and end (see :func:`hhfast.kernels.cpu.drive`).  A ``HOT``
        ``@njit`` function (:mod:`hhfast.kernels.options`).
    run : callable, optional
        An adaptive method's kernel ``run(batch, adaptive)`` (:mod:`hhfast.kernels.layout`).
    noise : bool
        Whether the method takes current noise (``noise_sigma``); fixed-step methods do.
    """

    name: str
    order: int
    kind: str
    check: Callable[[dict[str, np.ndarray]], None]
    wp_range: tuple[float, ...]
    description: str
    reference: str
    step: Callable | None = None
    run: Callable | None = None
    noise: bool = True

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise InputValueError(f"MethodSpec.name must be an identifier, got {self.name!r}")
        if self.kind not in KINDS:
            raise InputValueError(f"MethodSpec.kind must be one of {KINDS}, got {self.kind!r}")
        if not (isinstance(self.order, int) and self.order >= 1):
            raise InputValueError(f"MethodSpec.order must be an integer >= 1, got {self.order!r}")
        if not (self.wp_range and all(x > 0 for x in self.wp_range)):
            raise InputValueError(f"MethodSpec.wp_range must be positive numbers, got "
                                  f"{self.wp_range!r}")
        need = "step" if self.kind == "fixed" else "run"
        if not callable(getattr(self, need)) or not callable(self.check):
            raise InputTypeError(f"MethodSpec {self.name!r}: a {self.kind} method needs a "
                                 f"callable {need} and check")
        if self.kind == "adaptive" and self.noise:
            raise InputValueError(f"MethodSpec {self.name!r}: adaptive methods take no noise "
                                  "(noise=False)")


#: what a channel model's ``X`` holds: the 13 occupancies of the K and Na channel states, or
#: the three gates n, m, h (layout rows ``kernels.layout.NX``)
CHANNEL_STATES = ("occupancies", "gates")


@dataclass(frozen=True)
class ChannelSpec:
    """One channel-noise model of ``simulate(channel_noise=...)``, as the registry
    ``hhfast.kernels.CHANNELS`` lists it (add one with :func:`hhfast.kernels.register_channel`).

    Attributes
    ----------
    name : str
        The ``channel_noise=`` name.
    step : callable
        The model's lane step for the driver (:func:`hhfast.kernels.cpu.drive`, terms
        ``(noise, channel)``); the backend compiles the kernel.
    sources : int
        Independent noise sources (standard normals) per step and neuron.
    state : {"occupancies", "gates"}
        What the model's ``X`` rows hold (:data:`CHANNEL_STATES`); sets the initial ``X`` and
        what ``SimResult.info`` reports.
    scheme : str
        The integration scheme, with its strong order, for tables and ``SimResult.method``.
    cost_ns : float
        Measured cost per neuron-step (ns, one thread; docs/performance.md): the sweep's
        time estimate.
    description : str
        One line for tables and ``--help``.
    reference : str
        Where the model comes from.
    """

    name: str
    step: Callable
    sources: int
    state: str
    scheme: str
    cost_ns: float
    description: str
    reference: str = ""

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise InputValueError(f"ChannelSpec.name must be an identifier, got {self.name!r}")
        if self.state not in CHANNEL_STATES:
            raise InputValueError(f"ChannelSpec.state must be one of {CHANNEL_STATES}, got "
                                  f"{self.state!r}")
        if not (isinstance(self.sources, int) and self.sources >= 1):
            raise InputValueError(f"ChannelSpec.sources must be an integer >= 1, got "
                                  f"{self.sources!r}")
        if not (isinstance(self.cost_ns, (int, float)) and self.cost_ns > 0):
            raise InputValueError(f"ChannelSpec.cost_ns must be a positive number, got "
                                  f"{self.cost_ns!r}")
        if not callable(self.step):
            raise InputTypeError(f"ChannelSpec {self.name!r}: step must be callable")
