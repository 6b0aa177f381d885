"""The Numba options every kernel module uses, in one place (docs/architecture.md §3).

Compile time is part of the design: Numba types and lowers an ``@njit`` function once per
signature and caches it on disk, but re-types the body of an ``inline="always"`` function at
every call site.  So:

* ``HOT`` — a helper in a lane loop (rates, right-hand side, a method's step): typed once,
  cached, and inlined by LLVM, not by Numba (the helper calls :func:`.fastexp.always_inline`),
  so the lane loop still has no calls and vectorises;
* ``COLD`` — a rare scalar path (the event pass, recording, loading a block): typed once,
  cached, and called;
* ``INLINE`` — small glue inlined by Numba (a few lines, or code that must see the caller's
  compile-time constants);
* ``KERNEL`` — a compiled kernel: ``prange`` over its blocks, no GIL, cached.  (Serial kernels
  run on the backend's own threads compiled 1.5–3 CPU-s faster, but ran at half the speed:
  measured, docs/performance.md.)
"""

from .. import config

_COMMON = dict(cache=True, fastmath=config.FASTMATH)
INLINE = dict(inline="always", **_COMMON)
HOT = dict(error_model="numpy", nogil=True, **_COMMON)
COLD = HOT
KERNEL = dict(parallel=True, nogil=True, error_model="numpy", **_COMMON)
