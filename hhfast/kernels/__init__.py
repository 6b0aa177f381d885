"""Numba kernels, one module per method; nothing here knows about files, plots or Dask.

Every kernel has the same signature (see :mod:`hhfast.kernels.common` for the arrays)."""

from . import euler, expeuler, rk4

#: method name -> kernel module (each has ``run`` and ``ORDER``)
METHODS = {"euler": euler, "rk4": rk4, "expeuler": expeuler}

__all__ = ["METHODS"]
