"""What the registry knows about a method: :class:`MethodSpec`.

Kept free of Numba so that the CLI, the docs and the tests can read the registry without
compiling anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputTypeError, InputValueError

#: integrator kinds: ``fixed`` (a constant dt, the kernel signature of
#: :func:`hhfast.kernels.common.drive_fixed`) or ``adaptive`` (error-controlled steps)
KINDS = ("fixed", "adaptive")

#: the stage times, as fractions of the step, at which a fixed-step kernel can read the
#: stimulus current (start, middle, end: what ``common.block_current`` fills)
FIXED_STAGE_TIMES = (0.0, 0.5, 1.0)


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
    run : callable
        The Numba kernel (a module-level ``@njit(cache=True)`` function; its signature is
        fixed by ``kind``).
    order : int
        Formal order of accuracy (global error O(dt^order) on smooth stretches).
    kind : {"fixed", "adaptive"}
        Fixed step (``dt``) or error-controlled steps (``rtol``/``atol``).
    stage_times : tuple of float
        Where in the step (fractions of dt) the method reads the stimulus current.
    check : callable
        ``check(values)`` with ``values`` the per-neuron arrays of :func:`hhfast.simulate`
        (model fields, ``amplitude``, ``bias``, initial values, ``threshold``); raises
        ``ValueError`` naming the argument when the method cannot integrate them.
    wp_range : tuple of float
        Default dts (ms; rtols for adaptive methods) of the work-precision benchmark, from the
        finest worth running to just below the method's stability limit.
    description : str
        One line for tables and ``--help``.
    reference : str
        Where the method comes from.
    run_noisy : callable or None
        The kernel of noisy runs (``noise_sigma``), a fixed-step kernel with the extra
        arguments of :func:`hhfast.kernels.noise.drive_noisy`; ``None``: the method refuses
        noise.
    """

    name: str
    run: Callable
    order: int
    kind: str
    stage_times: tuple[float, ...]
    check: Callable[[dict[str, np.ndarray]], None]
    wp_range: tuple[float, ...]
    description: str
    reference: str
    run_noisy: Callable | None = None

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise InputValueError(f"MethodSpec.name must be an identifier, got {self.name!r}")
        if self.kind not in KINDS:
            raise InputValueError(f"MethodSpec.kind must be one of {KINDS}, got {self.kind!r}")
        if not (isinstance(self.order, int) and self.order >= 1):
            raise InputValueError(f"MethodSpec.order must be an integer >= 1, got {self.order!r}")
        if self.kind == "fixed" and not set(self.stage_times) <= set(FIXED_STAGE_TIMES):
            raise InputValueError(
                f"MethodSpec.stage_times of a fixed-step method must be among "
                f"{FIXED_STAGE_TIMES}, got {self.stage_times!r}")
        if not (self.wp_range and all(x > 0 for x in self.wp_range)):
            raise InputValueError(f"MethodSpec.wp_range must be positive numbers, got "
                             f"{self.wp_range!r}")
        if not callable(self.run) or not callable(self.check):
            raise InputTypeError(f"MethodSpec {self.name!r}: run and check must be callable")


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
    run : callable
        The Numba kernel: ``run(batch, noise, channel)`` with the structures of
        :mod:`hhfast.kernels.layout`.
    sources : int
        Independent noise sources (standard normals) per step and neuron.
    state : {"occupancies", "gates"}
        What the model's ``X`` rows hold (:data:`CHANNEL_STATES`); sets the initial ``X`` and
        what ``SimResult.info`` reports.
    scheme : str
        The integration scheme, with its strong order, for tables and ``SimResult.method``.
    cost_ns : float
        Measured cost per neuron-step (ns, one thread; README, "Channel noise"): the sweep's
        time estimate.
    description : str
        One line for tables and ``--help``.
    reference : str
        Where the model comes from.
    """

    name: str
    run: Callable
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
        if not callable(self.run):
            raise InputTypeError(f"ChannelSpec {self.name!r}: run must be callable")
