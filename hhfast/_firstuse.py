"""First use says what it does: one line on stderr before a kernel compiles.

A cold Numba compile of a kernel takes 6–17 CPU-s (docs/performance.md).  Numba raises its
``numba:compile`` event only when a dispatcher really compiles a signature — after it has
looked in memory and in the on-disk cache — so a listener on that event speaks exactly when
the user is about to wait, and stays silent when the kernel comes from the cache.

Silence it with ``HHFAST_QUIET_COMPILE=1`` (read at import) or ``hhfast.config.COMPILE_MESSAGE
= False`` (read at every compile).  :func:`install` is the one hook: it is called once from
:mod:`hhfast.engine` with the kernel registry.
"""

from __future__ import annotations

import sys
import threading

from numba.core import event

from . import config

#: typical cold compile time (s) of a kernel, by kind, measured on the 2-core development
#: machine with an empty cache (docs/performance.md, benchmarks/compile_times.py: 6-8 CPU-s
#: deterministic, 10-14 noisy, 15-17 channel noise, 14 dopri5); only used to tell the user how
#: long to wait
_TYPICAL_SECONDS = {"plain": 7, "noisy": 12, "channel-noise": 16, "dopri5": 14}
#: what the features term adds to a kernel's cold compile (s): rk4 7.3 -> 19.0 CPU-s, euler
#: 7.0 -> 19.2 (benchmarks/features_throughput.py, docs/guide/features.md)
_FEATURES_EXTRA_SECONDS = 12

_installed: list[event.Listener] = []
_said: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _dtype_name(args) -> str:
    try:  # every kernel's first argument is a layout.Batch, whose first field is the state
        first = args[0]
        return str(getattr(first, "types", (first,))[0].dtype)
    except (AttributeError, IndexError, TypeError):
        return "?"


class _Announce(event.Listener):
    def __init__(self, kernels: dict):
        self._name_of = kernels  # id(dispatcher) -> method name

    def on_start(self, ev):
        data = ev.data or {}
        name = self._name_of.get(id(data.get("dispatcher")))
        if name is None or not config.COMPILE_MESSAGE:
            return
        key = (name, _dtype_name(data.get("args", ())))
        with _lock:
            if key in _said:
                return
            _said.add(key)
        sys.stderr.write(
            f"hhfast: compiling the {key[0]} {key[1]} kernel, first use on this machine "
            f"({estimate(name)}); cached afterwards\n"
        )
        sys.stderr.flush()

    def on_end(self, ev):
        pass


def estimate(name: str) -> str:
    """What first use says of the wait for the kernel labelled ``name`` (``"rk4"``,
    ``"noisy rk4"``, ``"shielding channel-noise"``, ``"dopri5"``, ``"rk4 with features"``),
    e.g. ``"~7 s"``."""
    features = name.endswith(" with features")
    name = name.removesuffix(" with features")
    kind = ("noisy" if name.startswith("noisy ") else
            "channel-noise" if name.endswith(" channel-noise") else
            name if name in _TYPICAL_SECONDS else "plain")
    extra = _FEATURES_EXTRA_SECONDS if features else 0
    return f"~{_TYPICAL_SECONDS[kind] + extra} s"


def install(kernels: dict) -> None:
    """Announce the compiles of the kernels in ``kernels`` (label -> Numba dispatcher, e.g.
    :func:`hhfast.kernels.compiled`)."""
    if _installed:
        return
    listener = _Announce({id(d): label for label, d in kernels.items()})
    event.register("numba:compile", listener)
    _installed.append(listener)
