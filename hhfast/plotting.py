"""Matplotlib figures.  Every function returns the Figure (or Axes) it drew on and takes an
optional ``ax``/``fig``; library code never calls ``plt.show()``."""

from __future__ import annotations

import numpy as np

from .errors import InputValueError, warn_renamed
from .result import COUNT_RATE_IS, RENAMED_METRICS, SimResult


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


#: the variables :func:`gates_plot` draws when recorded: the gates, and the open fractions of
#: a channel-noise run
GATE_TRACES = ("n", "m", "h", "K_open", "Na_open")


def gates_plot(res: SimResult, neuron: int = 0, ax=None):
    """Gating variables n, m, h (those recorded; with channel noise the open fractions
    K_open, Na_open) of one recorded neuron (position in ``recorded``) against time."""
    fig, ax = _axes(ax, figsize=(7, 2.5))
    for g in GATE_TRACES:
        if g in res.traces:
            ax.plot(res.t, res.traces[g][neuron], lw=1, label=g)
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("gate" if any(g in res.traces for g in "nmh") else "open fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper right", ncol=3, fontsize="small")
    return fig


def trace_panel(res: SimResult, neuron: int = 0, fig=None):
    """Stimulus, membrane potential and gates of one recorded neuron (position ``neuron`` in
    ``res.recorded``) in three stacked panels sharing the time axis; returns the Figure."""
    import matplotlib.pyplot as plt

    rows = 3 if any(g in res.traces for g in GATE_TRACES) else 2
    if fig is None:
        fig = plt.figure(figsize=(7, 2.2 * rows + 0.6))
    axs = fig.subplots(rows, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2, 1][:rows]})
    stimulus_plot(res, neuron=int(res.recorded[neuron]), ax=axs[0])
    trace_plot(res, neurons=(neuron,), ax=axs[1])
    if rows == 3:
        gates_plot(res, neuron=neuron, ax=axs[2])
    for a in axs[:-1]:
        a.set_xlabel("")
    axs[0].set_title(f"Neuron {int(res.recorded[neuron])}: {res.method}, dt={res.dt} ms")
    axs[1].set_title("")
    return fig


def raster_plot(res: SimResult, neurons=None, y=None, ylabel: str = "neuron", ax=None):
    """Raster of the stored spike times (ms): one row per neuron (flat indices ``neurons``,
    default all), placed at ``y`` (e.g. the current of each neuron) if given."""
    fig, ax = _axes(ax, figsize=(7, 4))
    idx = np.arange(res.size) if neurons is None else np.asarray(neurons).reshape(-1)
    ys = idx if y is None else np.asarray(y, dtype=float).reshape(-1)
    xs, rows = [], []
    for k, i in enumerate(idx):
        st = res.spike_times[int(i)]
        xs.append(st)
        rows.append(np.full(st.size, ys[k]))
    xs = np.concatenate(xs) if xs else np.zeros(0)
    rows = np.concatenate(rows) if rows else np.zeros(0)
    ax.plot(xs, rows, "|", color="k", ms=3, mew=0.8)
    ax.set_xlim(res.t_start, res.t_stop)
    ax.set_xlabel("t (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title("Spike raster (stored spike times)")
    return fig


#: the axis labels of the two rates (docs/architecture.md §5): each plot says which one it shows
SUSTAINED_RATE_LABEL = "sustained rate, 1 / mean ISI (Hz)"
COUNT_RATE_LABEL = "count rate, spikes / window (Hz)"
#: the axis label of each rate a sweep stores (docs/architecture.md §5)
RATE_LABELS = {"count_rate": COUNT_RATE_LABEL, "rate": COUNT_RATE_LABEL,
               "isi_rate": "ISI rate, 1 / mean ISI (Hz)", "sustained_rate": SUSTAINED_RATE_LABEL}


def fi_plot(fi, ax=None):
    """An f–I curve (:class:`hhfast.FICurve`): its rate (Hz) against current (µA/cm²), the
    axis naming which rate: the sustained rate (1 / mean ISI where the firing is sustained) of
    a deterministic curve, the count rate (spikes in the window / its duration, mean over
    trials) of a noisy one.  For ``branch="both"`` the quiet and firing branches, the bistable
    band shaded and the Hopf points marked; onset and block as dotted lines."""
    fig, ax = _axes(ax, figsize=(6.5, 4))
    if fi.branch == "both":
        if fi.band is not None:
            lo, hi = fi.band
            ax.axvspan(lo, hi, color="0.85", zorder=0,
                       label=f"bistable band {lo:.3f}–{hi:.3f} µA/cm²")
        ax.plot(fi.current, fi.sustained_rate_firing, "-", color="C3", lw=1.8,
                label="firing branch (ramp down on the cycle)")
        ax.plot(fi.current, fi.sustained_rate_quiet, "--", color="C0", lw=1.4,
                label="quiet branch (from the equilibrium)")
        for k, h in enumerate(fi.hopf):
            ax.axvline(h, color="C0", ls=":", lw=1,
                       label="Hopf point (eigenvalues)" if k == 0 else None)
    elif fi.sustained_rate is None:  # a noisy curve
        trials = fi.info.get("trials", 1)
        ax.plot(fi.current, fi.count_rate, "-", color="C3", lw=1.8,
                label=f"step from rest, mean of {trials} trial{'s' if trials != 1 else ''}")
    else:
        ax.plot(fi.current, fi.sustained_rate, "-", color="C3", lw=1.8, label="step from rest")
    for v, name in ((fi.onset, "onset"), (fi.block, "block")):
        if v is not None:
            ax.axvline(v, color="k", ls=":", lw=0.8)
            ax.annotate(f"{name} {v:.3f}", (v, 0), xytext=(3, 3), textcoords="offset points",
                        rotation=90, fontsize="small", va="bottom")
    ax.set_xlabel("I (µA/cm²)")
    ax.set_ylabel(COUNT_RATE_LABEL if fi.sustained_rate is None else SUSTAINED_RATE_LABEL)
    ax.set_title(f"f–I curve ({fi.info.get('method', '')}, dt={fi.info.get('dt', '')} ms)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize="small")
    return fig


def strength_duration_plot(widths, rheobase, ax=None):
    """Strength–duration curve: rheobase amplitude (µA/cm²) against pulse width (ms),
    log–log."""
    fig, ax = _axes(ax, figsize=(5.5, 4))
    ax.loglog(np.asarray(widths), np.asarray(rheobase), "o-", color="C2", ms=4)
    ax.set_xlabel("pulse width (ms)")
    ax.set_ylabel("threshold amplitude (µA/cm²)")
    ax.set_title("Strength–duration")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def rate_heatmap(x, y, rate, xlabel: str = "I (µA/cm²)", ylabel: str = "gK (mS/cm²)",
                 ax=None, label: str = "rate (Hz)"):
    """Heat map of a rate (Hz) over a 2-D grid: ``rate[i, j]`` at ``x[i]``, ``y[j]``.

    ``label`` (the colour bar's) should say which rate it is, e.g. :data:`SUSTAINED_RATE_LABEL`
    for :func:`hhfast.sustained_rate`, :data:`COUNT_RATE_LABEL` for
    :func:`hhfast.analysis.count_rate` (docs/architecture.md §5)."""
    fig, ax = _axes(ax, figsize=(6.5, 4.5))
    rate = np.asarray(rate, dtype=float)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if rate.shape != (x.size, y.size):
        raise InputValueError(f"rate must have shape (len(x), len(y)) = {(x.size, y.size)}, "
                         f"got {rate.shape}")
    mesh = ax.pcolormesh(x, y, rate.T, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
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
        style = "s--" if method.startswith("scipy") else ("^:" if "float32" in method else "o-")
        x = [r["spike_error"] for r in good]
        y = [r["cost"] for r in good]
        ax.loglog(x, y, style, color=f"C{k}", label=label)
        for r, xi, yi in zip(good, x, y, strict=True):
            # scipy and adaptive runs (dt NaN) are labelled by their rtol
            tag = f"{r['dt']:g}" if r["dt"] == r["dt"] else f"rtol {r['rtol']:g}"
            ax.annotate(tag, (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        color=f"C{k}")
    ax.set_xlabel("worst spike-time error vs reference (ms)")
    ax.set_ylabel("wall time per neuron-second simulated (s)")
    ax.set_title("Work-precision (labels: dt in ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def sweep_plot(ds, var: str, ax=None):
    """One metric of a sweep (:func:`hhfast.sweep` / :func:`hhfast.open_sweep`): a line plot
    over a 1-D grid, a heat map over a 2-D product grid, a coloured scatter over a table of
    points with two or more axes.  Unfinished points (``done`` False) are left blank.

    Select down to one or two dimensions first (``ds.sel(gK=36)``) for larger grids.
    """
    new = RENAMED_METRICS.get(var)
    if new is not None and var not in ds.data_vars and new in ds.data_vars:
        # a store made since the rename holds the metric under its new name
        warn_renamed(f"the metric {var!r}", repr(new), COUNT_RATE_IS)
        var = new
    if var not in ds.data_vars or var == "done":
        names = [k for k in ds.data_vars if k != "done"]
        raise InputValueError(f"var must be one of the sweep's metrics {names}, got {var!r}")
    da = ds[var]
    if "spike" in da.dims:
        raise InputValueError(f"{var!r} has a spike dimension; plot one spike with .isel(spike=0)")
    units = da.attrs.get("units", "")
    label = f"{var} ({units})" if units not in ("", "1") else var
    if var in RATE_LABELS:  # a rate: the axis says which one (a store made before issue 18
        label = RATE_LABELS[var]  # calls the count rate "rate")
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
        raise InputValueError(f"{var!r} has {da.ndim} dimensions {da.dims}; select down to one or "
                         f"two first, e.g. ds.isel({da.dims[0]}=0)")
    ax.set_title(f"{var} — {ds.attrs.get('method', '')}, dt={ds.attrs.get('dt', '')} ms")
    return fig


def fit_plot(res, fig=None):
    """A fit (:class:`hhfast.fitting.FitResult`): left, the loss per generation against the
    evaluations (each generation's best and the best so far, log scale); right, the best's
    z-score ``|f - mean| / sd`` of every target feature of every protocol (bars; 1 = one SD
    from the target)."""
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    h = np.asarray(res.history)
    ax1.semilogy(h[:, 0], np.maximum(h[:, 1], 1e-12), ".", ms=3, color="0.6",
                 label="generation's best")
    ax1.semilogy(h[:, 0], np.maximum(h[:, 2], 1e-12), "-", color="C3", lw=1.6,
                 label="best so far")
    ax1.set_xlabel("evaluations (parameter sets)")
    ax1.set_ylabel("loss (z-scores)")
    ax1.set_title(f"{res.optimizer}: loss {res.loss:.3g} after {res.evaluations} evaluations")
    ax1.legend(fontsize="small")
    labels, z = [], []
    for k, errs in enumerate(res.errors):
        for name, v in errs.items():
            labels.append(f"P{k}: {name}")
            z.append(v)
    y = np.arange(len(z))
    ax2.barh(y, z, color=["C3" if v > 1 else "C0" for v in z])
    ax2.axvline(1.0, color="k", ls=":", lw=0.8)
    ax2.set_yticks(y, labels, fontsize="small")
    ax2.invert_yaxis()
    ax2.set_xlabel("best's |f − mean| / sd per protocol P and feature")
    ax2.set_title(", ".join(f"{k}={v:.4g}" for k, v in res.best.items()), fontsize="small")
    fig.tight_layout()
    return fig
