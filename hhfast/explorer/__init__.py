"""The interactive explorer: move the stimulus, the initial state and the parameters, see the
neuron answer.

A face like the CLI: it turns a flat set of settings (strings and numbers, the same ones the
page's URL holds) into calls of the public API (:func:`hhfast.simulate`, :func:`hhfast.fi_curve`,
the stimulus protocols, :class:`hhfast.HHParams`) and holds no numerics.  This module needs only
NumPy; the web page (:mod:`hhfast.explorer.app`) needs the ``explore`` extra (Panel on Bokeh).

>>> import hhfast as hh
>>> hh.explore()            # in a notebook: the app inline
"""

from __future__ import annotations

from .spec import (
    DEFAULTS,
    KINDS,
    LIMITS,
    MAX_SAMPLES,
    Run,
    SettingError,
    check_fi,
    fi_settings,
    fi_work,
    parse,
    run_settings,
    run_work,
    settings,
    stimulus_of,
)

__all__ = ["explore", "serve", "DEFAULTS", "LIMITS", "PRESETS", "SettingError",  # noqa: F822
           "run_settings", "fi_settings", "run_work", "fi_work", "KINDS", "MAX_SAMPLES", "Run",
           "check_fi", "parse", "settings", "stimulus_of"]


def __getattr__(name: str):
    # PRESETS is built when first read (hhfast.explorer.spec)
    if name == "PRESETS":
        from . import spec

        return spec.PRESETS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def explore(**initial):
    """The explorer as a Panel app, shown inline in a Jupyter notebook.

    Parameters
    ----------
    **initial
        Starting settings (names as in :data:`DEFAULTS`, e.g. ``kind="step", s_amp=12``).

    Returns
    -------
    panel.viewable.Viewable
        Displayed when it is a cell's last expression.
    """
    from .app import make_app, require_panel

    pn = require_panel()
    pn.extension()
    return make_app(**initial)


def serve(port: int = 0, open_browser: bool = True, address: str = "localhost", on_start=None,
          allow_hosts=(), **initial) -> str:
    """Serve the explorer on ``http://address:port/`` until Ctrl-C or SIGTERM (blocking).

    Parameters
    ----------
    port : int
        TCP port; 0 picks a free one.
    open_browser : bool
        Open the page in the default web browser.
    address : str
        Address to listen on.
    on_start : callable, optional
        Called with the page's URL once the port is bound (the CLI prints it).
    allow_hosts : sequence of str
        Further host names (no port) the page may be opened by, e.g. the machine's name when
        ``address`` is ``"0.0.0.0"``.  Requests with any other ``Host``, or an ``Origin`` that
        is not one of these, are refused with 403 (DNS rebinding; docs/guide/explorer.md).
    **initial
        Starting settings, as in :func:`explore`.

    Returns
    -------
    str
        The URL that was served.
    """
    from .app import serve as _serve

    return _serve(port=port, open_browser=open_browser, address=address, on_start=on_start,
                  allow_hosts=allow_hosts, **initial)
