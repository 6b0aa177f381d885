"""The backend seam (docs/architecture.md §4): where a run's kernels are compiled and launched.

A :class:`Backend` turns a method (and the noise and channel terms of a run) into a kernel and
launches it on one packed chunk (:mod:`hhfast.kernels.layout`); the engine knows nothing else
of the target.  Everything that depends on it lives here: the CPU backend's Numba thread count,
its padding of a chunk to whole blocks of ``config.BLOCK`` lanes.  :data:`BACKENDS` lists the
backends this process knows (``simulate(backend=...)`` picks one), :func:`backends` what this
machine can run; :func:`register_backend` adds one.  Two are built in: ``cpu`` and ``cuda``
(:class:`CUDABackend`: one thread per neuron on an NVIDIA GPU).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

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

    def refuses(self, method, channel, features: bool = False) -> str:
        """Why this backend cannot run ``method`` (a :class:`~hhfast.kernels.MethodSpec`) with
        ``channel`` (a :class:`~hhfast.kernels.spec.ChannelSpec` or None) and, if
        ``features``, the features term: one line, "" when it can.  Checked with the call,
        before anything is allocated."""
        return ""

    def chunk_for(self, plan) -> int:
        """Most neurons of ``plan`` (a :class:`~hhfast.engine.plan.RunPlan`) packed and
        launched at once (default :attr:`chunk_neurons`)."""
        return self.chunk_neurons


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


class _CUDAKernel(NamedTuple):
    """What :meth:`CUDABackend.kernel` returns: the lane step and the terms; the compiled
    kernel is picked per float type at launch (:func:`hhfast.kernels.cuda.kernel`)."""

    step: Callable
    terms: str


class CUDABackend(Backend):
    """numba-cuda on an NVIDIA GPU: one thread per neuron, the CPU's own step, terms and event
    rules compiled as device functions (:mod:`hhfast.kernels.cuda`, docs/architecture.md
    §3.3).  Available where ``numba.cuda`` finds a GPU, or under its simulator
    (``NUMBA_ENABLE_CUDASIM=1``, slow: for tests).  Fixed-step methods only; chunks sized
    from the card's free memory."""

    name = "cuda"
    description = "numba-cuda on an NVIDIA GPU: one thread per neuron (pip install 'hhfast[cuda]')"
    lanes = 1
    #: most neurons per chunk (a test may lower it to exercise the chunking)
    max_chunk: int = config.CUDA_CHUNK_MAX

    def __init__(self) -> None:
        self._status: tuple[bool, str] | None = None

    def available(self) -> tuple[bool, str]:
        if self._status is None:
            self._status = _cuda_status()
        return self._status

    def refuses(self, method, channel, features: bool = False) -> str:
        if features:
            return ("features=... are not available with backend='cuda' (the CUDA driver has no "
                    "features term yet; they run on backend='cpu')")
        if channel is None and method.kind != "fixed":
            return (f"method={method.name!r} is not available with backend='cuda' (fixed-step "
                    f"methods only: an adaptive method runs on backend='cpu')")
        if channel is not None:
            from ..kernels.layout import philox_calls

            if philox_calls(channel.sources) > config.CUDA_CHANNEL_CALLS_MAX:
                return (f"channel_noise={channel.name!r} draws {channel.sources} normals a "
                        f"step, more than backend='cuda' holds "
                        f"({4 * config.CUDA_CHANNEL_CALLS_MAX})")
        return ""

    def kernel(self, method, *, noisy: bool, channel, features: bool = False) -> Callable:
        if channel is not None:
            return _CUDAKernel(channel.step, "channel")
        return _CUDAKernel(method.step, "noise" if noisy else "plain")

    def chunk_for(self, plan) -> int:
        """Neurons per chunk: the card's free memory (``CUDA_MEMORY_FRACTION`` of it) over
        the bytes one neuron takes there (state, parameters, counters, spike times, its
        terms, and its recorded samples if every neuron were recorded), at most
        :attr:`max_chunk`."""
        from ..kernels import cuda as K

        free = K.free_memory()
        r = plan.recording
        per = K.neuron_bytes(plan.max_spikes, len(r.names) * r.n_samples if r.names else 0,
                             plan.noise is not None or plan.channel is not None,
                             plan.channel is not None)
        fit = int(free * config.CUDA_MEMORY_FRACTION // per) if free < float("inf") else \
            self.max_chunk
        if fit < 1:
            raise InputValueError(
                f"one neuron of this run needs {per} bytes on the card, more than its free "
                f"memory allows ({free} bytes); record fewer samples (record_every=) or "
                f"variables")
        return max(1, min(self.max_chunk, fit))

    def launch(self, kernel: Callable, batch, *terms) -> None:
        from ..kernels import cuda as K

        K.launch(kernel.step, kernel.terms, batch, *terms)


def _cuda_status() -> tuple[bool, str]:
    """``(True, "")`` where numba's CUDA target can run here (a GPU, or its simulator), else
    ``(False, why)``; imports ``numba.cuda`` only where a CUDA driver library exists."""
    import ctypes.util

    from numba.core import config as numba_config

    if not numba_config.ENABLE_CUDASIM and ctypes.util.find_library("cuda") is None:
        return False, ("no CUDA driver (libcuda) on this machine; set NUMBA_ENABLE_CUDASIM=1 "
                       "for numba's CUDA simulator")
    try:
        from numba import cuda
    except Exception as e:  # pragma: no cover - a broken numba-cuda install
        return False, f"numba.cuda cannot be imported ({type(e).__name__}: {e})"
    if numba_config.ENABLE_CUDASIM:
        return True, ""
    if getattr(cuda, "implementation", "") == "Built-in":
        # numba's own (deprecated) CUDA target: it fails to type hhfast's kernels (measured
        # with numba 0.68); its simulator is fine, and is what the branch above accepts
        return False, ("numba's built-in CUDA target cannot compile hhfast's kernels; install "
                       "numba-cuda (pip install 'hhfast[cuda]')")
    try:
        ok = cuda.is_available()
    except Exception as e:  # pragma: no cover - a broken driver
        return False, f"numba.cuda.is_available() failed ({type(e).__name__}: {e})"
    if not ok:
        return False, "numba.cuda finds no usable GPU (numba.cuda.is_available() is False)"
    return True, ""


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
register_backend(CUDABackend())


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
