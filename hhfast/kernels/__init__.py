"""Numba kernels, one module per method; nothing here knows about files, plots or Dask.

Every kernel has the same signature (see :mod:`hhfast.kernels.common` for the arrays).

Cache safety.  Numba's on-disk cache (``cache=True``) keys a kernel on the source file that
defines it, not on the helpers it inlines (``common.py``, ``fastexp.py``) nor on the
``config`` knobs it freezes as constants; after an edit of those, a stale cached kernel would
run silently.  :func:`_drop_stale_caches` therefore stamps the cache with a hash of every
kernel source file and knob, and empties the kernels' cache indexes when the stamp differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import config
from . import dopri5, euler, expeuler, rk4

#: method name -> kernel module (each has ``run`` and ``ORDER``; ``KIND = "adaptive"`` marks a
#: kernel with its own signature, see :mod:`hhfast.kernels.dopri5`)
METHODS = {"euler": euler, "rk4": rk4, "expeuler": expeuler, "dopri5": dopri5}

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


def _drop_stale_caches() -> None:
    """Empty the cache index of every kernel whose stamp differs from the current sources."""
    stamp = _source_stamp()
    for mod in METHODS.values():
        cache = getattr(mod.run, "_cache", None)
        path = getattr(cache, "_cache_path", None)
        if path is None:  # pragma: no cover - caching disabled
            continue
        marker = Path(path) / f"{mod.__name__.rsplit('.', 1)[-1]}.hhfast-stamp"
        try:
            if marker.exists() and marker.read_text() == stamp:
                continue
            cache.flush()  # forget every cached signature of this kernel
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(stamp)
        except OSError:  # pragma: no cover - a read-only cache: Numba recompiles in memory
            pass


_drop_stale_caches()

__all__ = ["METHODS"]
