"""The exceptions hhfast raises for bad input.

Every input check of the package raises :class:`InputValueError` or :class:`InputTypeError`.
They subclass the built-in ``ValueError`` and ``TypeError``, so code that catches those keeps
working, and they share the base :class:`InputError`, so a caller (the ``hhfast`` command) can
tell "your input is wrong" from "hhfast has a bug": any other exception, including a plain
``ValueError`` or ``TypeError`` raised by Python, NumPy or Numba, is not a verdict on the input.
"""

from __future__ import annotations

import warnings


class InputError(Exception):
    """Bad input, detected by one of hhfast's checks; the message names the argument and the
    value at fault."""


class InputValueError(InputError, ValueError):
    """An argument has the right type but a value hhfast refuses (NaN, out of range, ...)."""


class InputTypeError(InputError, TypeError):
    """An argument has a type hhfast refuses (a string for a number, a bool for an integer...)."""


class TruncationWarning(UserWarning):
    """A result holds less than the run produced (e.g. more spikes than ``max_spikes``)."""


class StepLimitWarning(UserWarning):
    """An adaptive run stopped some neurons at its ``max_steps`` guard before ``t_stop``: their
    state is frozen at ``SimResult.stop_time`` and their window statistics cover only the time
    computed."""


class RenamedWarning(FutureWarning):
    """A renamed name was used: it still answers, with the value of its new name, and will be
    removed.  A ``FutureWarning`` (shown by default, wherever it is raised) rather than a
    ``DeprecationWarning`` (shown only for code run as ``__main__``): hhfast's users are
    scientists whose scripts, notebooks, sweep specs run by the CLI and Dask workers should
    all see it."""


def warn_renamed(old: str, new: str, why: str = "", stacklevel: int = 2) -> None:
    """Warn that ``old`` is now called ``new`` (``why``: what tells them apart).
    ``stacklevel`` as for :func:`warnings.warn`, counted from the caller of this function."""
    warnings.warn(f"{old} is renamed {new}{f' ({why})' if why else ''}; {old} will be removed",
                  RenamedWarning, stacklevel=stacklevel + 1)
