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


def sweep_plot(ds, var: str, ax=None):
    """One metric of a sweep (:func:`hhfast.sweep` / :func:`hhfast.open_sweep`): a line plot
    over a 1-D grid, a heat map over a 2-D product grid, a coloured scatter over a table of
    points with two or more axes.  Unfinished points (``done`` False) are left blank.

    Select down to one or two dimensions first (``ds.sel(gK=36)``) for larger grids.
    """
    if var not in ds.data_vars or var == "done":
        names = [k for k in ds.data_vars if k != "done"]
        raise ValueError(f"var must be one of the sweep's metrics {names}, got {var!r}")
    da = ds[var]
    if "spike" in da.dims:
        raise ValueError(f"{var!r} has a spike dimension; plot one spike with .isel(spike=0)")
    units = da.attrs.get("units", "")
    label = f"{var} ({units})" if units not in ("", "1") else var
    values = np.asarray(da.where(ds["done"]).values, dtype=float)
    axes = list(ds.attrs.get("axes", da.dims))
    if da.dims == ("point",) and len(axes) >= 2:
        fig, ax = _axes(ax, figsize=(6, 4.5))
        x, y = (np.asarray(ds[a].values) for a in axes[:2])
        sc = ax.scatter(x, y, c=values, s=12, cmap="viridis")
        fig.colorbar(sc, ax=ax, label=label)
        ax.set_xlabel(axes[0])
        ax.set_ylabel(axes[1])
    elif da.ndim == 1:
        fig, ax = _axes(ax, figsize=(6, 3.5))
        dim = da.dims[0]
        x = np.asarray(ds[axes[0] if dim == "point" else dim].values)
        ax.plot(x, values, ".-", lw=1)
        ax.set_xlabel(axes[0] if dim == "point" else dim)
        ax.set_ylabel(label)
    elif da.ndim == 2:
        fig, ax = _axes(ax, figsize=(6, 4.5))
        ydim, xdim = da.dims
        mesh = ax.pcolormesh(np.asarray(ds[xdim].values), np.asarray(ds[ydim].values), values,
                             shading="nearest", cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=label)
        ax.set_xlabel(xdim)
        ax.set_ylabel(ydim)
    else:
        raise ValueError(f"{var!r} has {da.ndim} dimensions {da.dims}; select down to one or "
                         f"two first, e.g. ds.isel({da.dims[0]}=0)")
    ax.set_title(f"{var} — {ds.attrs.get('method', '')}, dt={ds.attrs.get('dt', '')} ms")
    return fig
