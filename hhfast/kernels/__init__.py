"""Numba kernels and the registries of methods and channel models; nothing here knows about
files, plots or Dask (docs/architecture.md §3).

The registries.  :data:`METHODS` maps each method name to its :class:`~.spec.MethodSpec`
(step or adaptive kernel, order, kind, parameter check, work-precision range, one-line
description, reference); :data:`CHANNELS` each channel-noise model to its
:class:`~.spec.ChannelSpec` (step, noise sources, state, scheme, cost, description).
Everything that lists methods or models reads them: ``simulate``'s checks, the CLI's choices,
``validate``/``bench`` defaults, the documentation's tables (generated from them) and the tests'
parametrisations.  A fixed-step method is one file holding its lane ``step`` and its ``SPEC``;
adding it is its name in ``_NAMES`` (and, for an on-disk cached kernel, two lines in
:mod:`.cpu`), or :func:`register` from outside hhfast.

Cache safety.  Numba's on-disk cache keys a function on the source file that defines it, not on
the helpers LLVM or Numba inline into it (``hh.py``, ``fastexp.py``, ...) nor on the ``config``
knobs it freezes as constants; after an edit of those, a stale cached kernel would run
silently.  :func:`drop_stale_caches` therefore stamps the cache with a hash of every kernel
source file and knob, and empties the cache of every cached function here when the stamp
differs.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import import_module
from pathlib import Path

from .. import config
from ..errors import InputTypeError, InputValueError
from .spec import ChannelSpec, MethodSpec

#: the built-in methods, one module each, in the order tables list them
_NAMES = ("euler", "heun", "rk4", "expeuler", "rush_larsen", "rl2", "dopri5")
_BUILTIN = tuple(import_module(f"{__name__}.{name}").SPEC for name in _NAMES)

#: method name -> :class:`MethodSpec`, in the order tables list them
METHODS: dict[str, MethodSpec] = {s.name: s for s in _BUILTIN}

from .terms.channel import CHANNELS  # noqa: E402 - after the methods, which it does not use


def register(spec: MethodSpec, *, replace: bool = False) -> MethodSpec:
    """Add a method to the registry (for methods defined outside hhfast, e.g. in a test or a
    user's module; hhfast's own are listed in ``_NAMES``).  A fixed-step method gives its lane
    ``step`` (a ``HOT`` ``@njit`` function, :mod:`hhfast.kernels.options`): the backend
    compiles its kernels once per process (only built-in kernels are cached on disk)."""
    return _add(METHODS, spec, MethodSpec, "a method", replace)


def register_channel(spec: ChannelSpec, *, replace: bool = False) -> ChannelSpec:
    """Add a channel-noise model to :data:`CHANNELS` (its ``step`` runs with the terms
    ``(noise, channel)``; see :mod:`hhfast.kernels.terms.channel`)."""
    return _add(CHANNELS, spec, ChannelSpec, "a channel model", replace)


def _add(registry: dict, spec, kind: type, what: str, replace: bool):
    """Put ``spec`` (a ``kind``) in ``registry`` under its name, refusing a name taken unless
    ``replace``."""
    if not isinstance(spec, kind):
        raise InputTypeError(f"spec must be a {kind.__name__}, got {spec!r}")
    if spec.name in registry and not replace:
        raise InputValueError(f"{what} named {spec.name!r} is already registered")
    registry[spec.name] = spec
    return spec


#: the knobs the kernels freeze at compile time
_KERNEL_KNOBS = ("FASTMATH", "BLOCK", "EDGE_SNAP", "KERNEL_SERIES_CUTOFF64",
                 "KERNEL_SERIES_CUTOFF32", "ADAPTIVE_HMIN_REL", "FEATURE_HISTORY",
                 "FEATURE_TIME_PRECISION")


@functools.lru_cache(maxsize=1)
def _source_stamp() -> str:
    """A hash of every kernel source file and knob (computed once per process: the kernels,
    ``hhfast.random`` and ``hhfast.markov`` all check their caches against it at import)."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    for k in _KERNEL_KNOBS:
        v = getattr(config, k)
        h.update(f"{k}={sorted(v) if isinstance(v, (set, frozenset)) else v!r}".encode())
    return h.hexdigest()


def drop_stale_caches(dispatchers, names) -> None:
    """Empty the on-disk cache of each Numba dispatcher whose stamp differs from the current
    kernel sources and knobs (:func:`_source_stamp`).  The stamp is the file
    ``<name>.hhfast-stamp`` beside the dispatcher's cache, one name per dispatcher.  Used for
    every cached function of the kernels here and for every other cached Numba function that
    inlines kernel code (``hhfast.random``, ``hhfast.markov``)."""
    stamp = _source_stamp()
    for fn, name in zip(dispatchers, names):
        cache = getattr(fn, "_cache", None)
        path = getattr(cache, "_cache_path", None)
        if path is None:  # pragma: no cover - caching disabled
            continue
        marker = Path(path) / f"{name}.hhfast-stamp"
        try:
            if marker.exists() and marker.read_text() == stamp:
                continue
            cache.flush()  # forget every cached signature of this function
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(stamp)
        except OSError:  # pragma: no cover - a read-only cache: Numba recompiles in memory
            pass


def _cached_functions():
    """Every on-disk cached Numba function of this package, with a stamp name
    (``module.function``)."""
    from numba.core.registry import CPUDispatcher

    from . import cpu, fastexp, hh, philox, terms  # noqa: F401 - imported to be listed
    from .terms import channel, features, noise  # noqa: F401

    seen = {}
    for mod in (cpu, fastexp, hh, philox, noise, channel, features,
                *(import_module(f"{__name__}.{n}") for n in _NAMES)):
        for name, obj in vars(mod).items():
            if (isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__
                    and getattr(obj._cache, "_cache_path", None) is not None):
                seen[id(obj)] = (obj, f"{mod.__name__.rsplit('.', 1)[-1]}.{name}")
    return list(seen.values())


def compiled() -> dict:
    """Label -> Numba dispatcher of every built-in kernel (``"rk4"``, ``"noisy rk4"``,
    ``"shielding channel-noise"``, ``"dopri5"``): what first use announces."""
    from . import cpu

    out = {}
    for spec in METHODS.values():
        if spec.kind == "adaptive":
            out[spec.name] = spec.run
            continue
        for terms, label in (("plain", spec.name), ("noise", f"noisy {spec.name}"),
                             ("plain+features", f"{spec.name} with features"),
                             ("noise+features", f"noisy {spec.name} with features")):
            k = cpu.KERNELS.get((spec.step, terms))
            if k is not None:
                out[label] = k
    for spec in CHANNELS.values():
        for terms, label in (("channel", f"{spec.name} channel-noise"),
                             ("channel+features", f"{spec.name} channel-noise with features")):
            k = cpu.KERNELS.get((spec.step, terms))
            if k is not None:
                out[label] = k
    return out


_fns = _cached_functions()
drop_stale_caches([f for f, _ in _fns], [n for _, n in _fns])
del _fns

__all__ = ["CHANNELS", "METHODS", "ChannelSpec", "MethodSpec", "compiled", "register",
           "register_channel"]
