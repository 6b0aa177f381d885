"""The backend seam (docs/architecture.md §4): where a run's kernels are compiled and launched.

A :class:`Backend` turns a method (and the noise and channel terms of a run) into a kernel and
launches it on one packed chunk (:mod:`hhfast.kernels.layout`); the engine knows nothing else
of the target.  Everything that depends on it lives here: the CPU backend's Numba thread count,
its padding of a chunk to whole blocks of ``config.BLOCK`` lanes.  :data:`BACKENDS` lists the
backends this process knows (``simulate(backend=...)`` picks one), :func:`backends` what this
machine can run; :func:`register_backend` adds one (the next is CUDA: one thread per neuron).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import config
from ..errors import InputTypeError, InputValueError


class Backend(ABC):
    """A target that compiles and launches kernels.

    Attributes
    ----------
    name : str
        The ``simulate(backend=...)`` name.
    description : str
        One line for :func:`backends` and ``--help``.
    lanes : int
        A chunk is padded with copies of its last neuron to a multiple of this many neurons
        (the CPU's vector blocks; 1 where the target needs no padding).
    chunk_neurons : int
        Most neurons packed and launched at once (bounds the temporaries of packing).
    """

    name: str = ""
    description: str = ""
    lanes: int = 1
    chunk_neurons: int = config.CHUNK_NEURONS

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """``(True, "")`` when this machine can run the backend, else ``(False, why not)``
        (cheap, compiles nothing)."""

    @abstractmethod
    def kernel(self, method, *, noisy: bool, channel, features: bool = False) -> Callable:
        """The kernel of a run: ``method`` a :class:`~hhfast.kernels.MethodSpec`, ``noisy``
        whether the run has the current-noise term, ``channel`` its
        :class:`~hhfast.kernels.spec.ChannelSpec` or None, ``features`` whether it has the
        features term.  It is called by :meth:`launch` as ``kernel(batch)``,
        ``kernel(batch, noise)``, ``kernel(batch, noise, channel)`` or
        ``kernel(batch, adaptive)`` with the structures of :mod:`hhfast.kernels.layout`, the
        features term (a ``FeatureBatch``) last where there is one."""

    def launch(self, kernel: Callable, batch, *terms) -> None:
        """Run ``kernel`` on one packed chunk; outputs are written into the arrays of
        ``batch`` and ``terms`` (the target's copy-back included)."""
        kernel(batch, *terms)

    def session(self, num_threads: int | None, largest_chunk: int):
        """A context entered (under ``KERNEL_LOCK``) around all the launches of one call:
        ``num_threads`` as the caller asked (None: the target's default), ``largest_chunk``
        the neurons of its largest chunk."""
        return contextlib.nullcontext()


class CPUBackend(Backend):
    """Numba on this machine's cores: ``prange`` over blocks of ``config.BLOCK`` lanes, one
    kernel per method and terms (:mod:`hhfast.kernels.cpu`), cached on disk."""

    name = "cpu"
    description = "Numba on the CPU cores: parallel over blocks of config.BLOCK neurons"
    lanes = config.BLOCK

    def available(self) -> tuple[bool, str]:
        return True, ""

    def kernel(self, method, *, noisy: bool, channel, features: bool = False) -> Callable:
        from ..kernels import cpu

        plus = "+features" if features else ""
        if channel is not None:  # the model's own step (Euler–Maruyama), with current noise
            return cpu.kernel(channel.step, "channel" + plus)
        if method.kind == "adaptive":
            return method.run
        return cpu.kernel(method.step, ("noise" if noisy else "plain") + plus)

    def launch(self, kernel: Callable, batch, *terms) -> None:
        kernel(batch._replace(blk0=0, blk1=batch.y.shape[1] // self.lanes), *terms)

    @contextlib.contextmanager
    def session(self, num_threads: int | None, largest_chunk: int) -> Iterator[None]:
        import numba

        old = numba.get_num_threads()
        # never more threads than blocks: waking an idle thread for a batch of one block cost
        # ~6 ms per call (OpenMP layer, measured); results do not depend on the thread count
        use = min(num_threads or old, -(-largest_chunk // self.lanes))
        if use != old:
            numba.set_num_threads(use)
        try:
            yield
        finally:
            if use != old:
                numba.set_num_threads(old)


#: backend name -> :class:`Backend`, every backend this process knows
BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add a backend to :data:`BACKENDS` (``simulate(backend=backend.name)`` then uses it)."""
    if not isinstance(backend, Backend):
        raise InputTypeError(f"backend must be a hhfast.engine.backend.Backend, got {backend!r}")
    if not (isinstance(backend.name, str) and backend.name.isidentifier()):
        raise InputValueError(f"Backend.name must be an identifier, got {backend.name!r}")
    if backend.name in BACKENDS and not replace:
        raise InputValueError(f"a backend named {backend.name!r} is already registered")
    BACKENDS[backend.name] = backend
    return backend


register_backend(CPUBackend())


@dataclass(frozen=True)
class BackendStatus:
    """What :func:`backends` says of one backend.

    Attributes
    ----------
    name : str
        The ``simulate(backend=...)`` name.
    available : bool
        Whether this machine can run it now.
    reason : str
        Why not, when it cannot ("" when it can).
    description : str
        One line on the target.
    """

    name: str
    available: bool
    reason: str
    description: str


def backends() -> dict[str, BackendStatus]:
    """The backends :func:`hhfast.simulate` knows, name -> :class:`BackendStatus` (available
    on this machine or not, and why not); cheap, compiles nothing.

    >>> import hhfast as hh
    >>> hh.backends()["cpu"].available
    True
    """
    out = {}
    for name, b in BACKENDS.items():
        ok, why = b.available()
        out[name] = BackendStatus(name, bool(ok), "" if ok else str(why), b.description)
    return out
