"""Numba kernels, one module per method, and the registry of methods; nothing here knows
about files, plots or Dask.

The registry.  :data:`METHODS` maps each method name to its :class:`~.spec.MethodSpec`
(kernel, order, kind, stimulus stage times, parameter check, work-precision range, one-line
description, reference).  Everything that lists methods reads it: ``simulate``'s check and
dispatch, the CLI's choices, ``validate``/``bench`` defaults, the README's method table (a
test checks it) and the tests' parametrisations.  A fixed-step method is one file holding its
lane ``step``, a four-line ``run`` that hands it to :func:`.common.drive_fixed`, and its
``SPEC``; adding it here is its name in ``_NAMES``.  Every fixed-step kernel has the same
signature (see :mod:`hhfast.kernels.common` for the arrays).

Cache safety.  Numba's on-disk cache (``cache=True``) keys a kernel on the source file that
defines it, not on the helpers it inlines (``common.py``, ``fastexp.py``) nor on the
``config`` knobs it freezes as constants; after an edit of those, a stale cached kernel would
run silently.  :func:`_drop_stale_caches` therefore stamps the cache with a hash of every
kernel source file and knob, and empties the kernels' cache indexes when the stamp differs.
"""

from __future__ import annotations

import hashlib
from importlib import import_module
from pathlib import Path

from .. import config
from ..errors import InputTypeError, InputValueError
from .spec import MethodSpec

#: the built-in methods, one module each, in the order tables list them
_NAMES = ("euler", "heun", "rk4", "expeuler", "rush_larsen", "rl2", "dopri5")
_BUILTIN = tuple(import_module(f"{__name__}.{name}").SPEC for name in _NAMES)

#: method name -> :class:`MethodSpec`, in the order tables list them
METHODS: dict[str, MethodSpec] = {s.name: s for s in _BUILTIN}


def register(spec: MethodSpec, *, replace: bool = False) -> MethodSpec:
    """Add a method to the registry (for methods defined outside hhfast, e.g. in a test or a
    user's module; hhfast's own are listed in ``_NAMES``).  Its ``run`` must be a
    module-level ``@njit(cache=True)`` kernel with the signature its ``kind`` requires."""
    if not isinstance(spec, MethodSpec):
        raise InputTypeError(f"spec must be a MethodSpec, got {spec!r}")
    if spec.name in METHODS and not replace:
        raise InputValueError(f"a method named {spec.name!r} is already registered")
    METHODS[spec.name] = spec
    return spec

#: the knobs the kernels freeze at compile time
_KERNEL_KNOBS = ("FASTMATH", "BLOCK", "EDGE_SNAP", "KERNEL_SERIES_CUTOFF64",
                 "KERNEL_SERIES_CUTOFF32", "ADAPTIVE_HMIN_REL")


def _source_stamp() -> str:
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    for k in _KERNEL_KNOBS:
        v = getattr(config, k)
        h.update(f"{k}={sorted(v) if isinstance(v, (set, frozenset)) else v!r}".encode())
    return h.hexdigest()


def drop_stale_caches(dispatchers, names) -> None:
    """Empty the on-disk cache of each Numba dispatcher whose stamp differs from the current
    kernel sources and knobs (:func:`_source_stamp`).  The stamp is the file
    ``<name>.hhfast-stamp`` beside the dispatcher's cache, one name per dispatcher.  Used for
    the kernels here and for every other cached Numba function that inlines kernel code
    (``hhfast.random``, ``hhfast.markov``)."""
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


def _kernel_stamp_name(run) -> str:
    """euler.hhfast-stamp for ``euler.run``, euler.run_noisy.hhfast-stamp for its noisy twin."""
    name = run.__module__.rsplit(".", 1)[-1]
    return name if run.__name__ == "run" else f"{name}.{run.__name__}"


from .channel import CHANNEL_MODELS  # noqa: E402 - after the registry it does not use

_KERNELS = ([s.run for s in _BUILTIN] + [s.run_noisy for s in _BUILTIN if s.run_noisy]
            + [m[0] for m in CHANNEL_MODELS.values()])
drop_stale_caches(_KERNELS, [_kernel_stamp_name(k) for k in _KERNELS])

__all__ = ["CHANNEL_MODELS", "METHODS", "MethodSpec", "register"]
