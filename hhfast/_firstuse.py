"""First use says what it does: one line on stderr before a kernel compiles.

A cold Numba compile of a kernel takes 10–20 s (README, "Performance").  Numba raises its
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

#: typical cold compile time per method (s), measured on the 2-core development machine with an
#: empty cache (README, "Performance"; dopri5: 27 CPU s, benchmarks/compile_times.py); only
#: used to tell the user how long to wait.  A method not listed says "10-20 s".
_TYPICAL_SECONDS = {"euler": 11, "expeuler": 13, "rk4": 18, "dopri5": 30}

_installed: list[event.Listener] = []
_said: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _dtype_name(args) -> str:
    try:
        return str(args[0].dtype)  # every kernel's first argument is the state array
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
        secs = _TYPICAL_SECONDS.get(name)
        about = f"~{secs} s" if secs else "10-20 s"
        sys.stderr.write(
            f"hhfast: compiling the {key[0]} {key[1]} kernel, first use on this machine "
            f"({about}); cached afterwards\n"
        )
        sys.stderr.flush()

    def on_end(self, ev):
        pass


def install(methods: dict, extra: dict | None = None) -> None:
    """Announce the compiles of the kernels in ``methods`` (name -> module or spec whose
    ``run`` or ``kernel`` attribute is the Numba dispatcher) and of ``extra`` (label ->
    dispatcher)."""
    if _installed:
        return
    kernels = {id(d): label for label, d in (extra or {}).items()}
    for name, spec in methods.items():
        for attr, label in (("run", name), ("kernel", name), ("run_noisy", f"noisy {name}")):
            dispatcher = getattr(spec, attr, None)
            if dispatcher is not None and hasattr(dispatcher, "overloads"):
                kernels[id(dispatcher)] = label
    listener = _Announce(kernels)
    event.register("numba:compile", listener)
    _installed.append(listener)
