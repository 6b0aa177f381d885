"""Matplotlib figures.  Every function returns the Figure (or Axes) it drew on and takes an
optional ``ax``/``fig``; library code never calls ``plt.show()``."""

from __future__ import annotations

import numpy as np

from .result import SimResult


def _axes(ax, **fig_kw):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(**fig_kw)
        return fig, ax
    return ax.figure, ax


def stimulus_plot(res: SimResult, neuron: int = 0, ax=None):
    """The injected current I(t) (µA/cm²) of one neuron over the recorded times."""
    fig, ax = _axes(ax, figsize=(7, 2.5))
    t = res.t if res.t.size else np.linspace(res.t_start, res.t_stop, 1001)
    stims = res.stimulus
    stim = stims if not isinstance(stims, (list, tuple, np.ndarray)) else np.ravel(stims)[neuron]
    amp = float(np.ravel(res.params.get("amplitude", np.ones(1)))[neuron])
    bias = float(np.ravel(res.params.get("bias", np.zeros(1)))[neuron])
    ax.plot(t, bias + amp * stim(t), color="C3")
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("I (µA/cm²)")
    ax.set_title("Stimulus")
    return fig


def trace_plot(res: SimResult, neurons=(0,), ax=None):
    """Membrane potential V (mV) against time for recorded neurons (positions in ``recorded``),
    with spike times marked."""
    fig, ax = _axes(ax, figsize=(7, 3))
    V = res.V
    for j in neurons:
        ax.plot(res.t, V[j], lw=1, label=f"neuron {int(res.recorded[j])}")
        st = res.spike_times[int(res.recorded[j])]
        ax.plot(st, np.interp(st, res.t, V[j]), "v", ms=5, color="k")
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("V (mV)")
    ax.set_title(f"Membrane potential ({res.method}, dt={res.dt} ms)")
    return fig


def phase_plot(res: SimResult, neuron: int = 0, gates=("n", "m"), ax=None):
    """Phase-plane trajectories V–n and V–m (as in the gist) of one recorded neuron."""
    fig, ax = _axes(ax, figsize=(5, 4))
    for g in gates:
        ax.plot(res.V[neuron], res.traces[g][neuron], lw=1, label=f"V–{g}")
    ax.set_xlabel("V (mV)")
    ax.set_ylabel("gating variable")
    ax.set_title("Phase plane")
    ax.legend()
    return fig


def work_precision_plot(rows, ax=None):
    """Work-precision diagram: worst spike-time error (ms) against cost (wall seconds per
    neuron-second simulated), log-log, one line per method (rows of
    :func:`hhfast.accuracy.work_precision`), each point labelled with its dt (ms) or rtol.
    Runs with a spike-count mismatch (infinite error) are left out and counted in the legend."""
    fig, ax = _axes(ax, figsize=(7, 5))
    for k, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        mine = [r for r in rows if r["method"] == method]
        good = sorted((r for r in mine if np.isfinite(r["spike_error"])), key=lambda r: r["cost"])
        dropped = len(mine) - len(good)
        label = method + (f" ({dropped} with wrong spike count)" if dropped else "")
        style = "s--" if method.startswith("scipy") else "o-"
        x = [r["spike_error"] for r in good]
        y = [r["cost"] for r in good]
        ax.loglog(x, y, style, color=f"C{k}", label=label)
        for r, xi, yi in zip(good, x, y, strict=True):
            tag = f"rtol {r['rtol']:g}" if method.startswith("scipy") else f"{r['dt']:g}"
            ax.annotate(tag, (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        color=f"C{k}")
    ax.set_xlabel("worst spike-time error vs reference (ms)")
    ax.set_ylabel("wall time per neuron-second simulated (s)")
    ax.set_title("Work-precision (labels: dt in ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
