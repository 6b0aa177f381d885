"""f–I curves: the steady firing rate against a constant current, for all currents at once.

Protocols (``branch``):

``"rest"`` (default, the experimental protocol)
    Every neuron starts at rest and its current steps on at t = 0.
``"both"``
    The two branches of a bistable model, in ONE batched run:

    * *quiet* — each neuron starts at the equilibrium of its own current.  Where that
      equilibrium is stable it stays there; where the Jacobian has an eigenvalue with positive
      real part the neuron is started ``config.QUIET_KICK_MV`` along the unstable eigenvector
      (from the exact equilibrium it would wait seconds for round-off to grow).
    * *firing* — each neuron starts at rest at ``I_high`` (``config.FI_RAMP_MARGIN`` above the
      lowest Hopf current, where only the firing cycle is stable), so it is on the cycle after
      one spike, and its current ramps linearly to its target over ``config.FI_RAMP_MS``: the
      slow ramp keeps it on the cycle down to the fold of limit cycles.  All currents share one
      stimulus shape: ``I_i(t) = I_i + (I_high - I_i) * ramp(t)`` with ``ramp`` from 1 to 0.

    The band of bistability is ``(fold, hopf)``: the fold of limit cycles (the lowest current
    where the firing branch keeps firing, refined by batched bisection) and the Hopf point (where
    the equilibrium loses stability, from the Jacobian's eigenvalues, refined by Brent's
    method).

The curve's rate is :func:`hhfast.analysis.sustained_rate` over the analysis window (1 / mean
ISI where the firing is sustained, 0 elsewhere), :attr:`FICurve.sustained_rate`; a noisy curve's
is the count rate (spikes in the window / its duration, mean over trials),
:attr:`FICurve.count_rate` (docs/architecture.md §5).  ``onset`` is the lowest current with
sustained firing and ``block`` the current above which sustained firing stops (depolarisation
block), both refined by batched bisection when the grid brackets them.  A spike is a crossing
of the run's threshold (default 50 mV above rest): near the upper Hopf point (~154.5 µA/cm² in
classic HH) the oscillation shrinks continuously, so ``block`` is where its peak falls below
the threshold (~88 µA/cm² with the default); the Hopf points themselves are in ``hopf``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import _checks as C
from . import config
from .analysis import SUSTAINED, count_rate, firing_pattern, isi_cv, sustained_rate
from .engine import BACKENDS, simulate
from .errors import InputError, InputTypeError, InputValueError, warn_renamed
from .excitability import batched_bisection
from .model import FIELDS, HHParams, check_params, equilibrium, jacobian, resting_state
from .stimulus import ramp, step

__all__ = ["FICurve", "fi_curve", "equilibrium_stability", "hopf_currents"]

BRANCHES = ("rest", "both")


#: the FICurve attributes renamed in issue 18 -> their new names (docs/architecture.md §5)
_RENAMED = {"rate_quiet": "sustained_rate_quiet", "rate_firing": "sustained_rate_firing",
            "rate_trials": "count_rate_trials", "rate_sd": "count_rate_sd"}
_WHY = ("sustained_rate: 1 / mean ISI where the firing is sustained, else 0; count_rate: spikes "
        "in the window / its duration")


@dataclass
class FICurve:
    """An f–I curve (see :func:`fi_curve`).

    Two rates, each under its own name (docs/architecture.md §5): a deterministic curve holds
    the *sustained rate* (1 / mean ISI where the firing is sustained, 0 elsewhere), a noisy one
    the *count rate* (spikes in the window / its duration, mean over trials); the other is
    None.  The old attribute ``rate`` (whichever of the two the curve holds), and ``rate_quiet``,
    ``rate_firing``, ``rate_trials``, ``rate_sd`` still answer, with a
    :class:`~hhfast.errors.RenamedWarning`.

    Attributes
    ----------
    current : ndarray
        Currents (µA/cm²), increasing.
    sustained_rate : ndarray or None
        Sustained firing rate (Hz) at each current, 1 / mean ISI in the window where the firing
        is sustained, else 0 (:func:`hhfast.analysis.sustained_rate`): the rest protocol for
        ``branch="rest"``, the firing branch for ``branch="both"``.  None for a noisy curve.
    pattern : ndarray of int8
        :func:`hhfast.analysis.firing_pattern` of the runs behind the rate (0 quiet,
        1 transient, 2 sustained; a noisy curve: the most frequent over trials).
    onset : float or None
        Lowest current with sustained firing (µA/cm²); None if none in the range.
    block : float or None
        Current above which sustained firing stops again (depolarisation block); None if the
        range does not reach it.
    branch : str
        ``"rest"`` or ``"both"``.
    sustained_rate_quiet, sustained_rate_firing : ndarray or None
        The sustained rates (Hz) of the two branches (``branch="both"`` only);
        ``sustained_rate_firing is sustained_rate``.
    band : tuple of float or None
        ``(fold, hopf)``: the bistable band (``branch="both"`` only, None if the firing branch
        starts where the equilibrium loses stability).
    hopf : ndarray
        Currents (µA/cm²) in the range where the equilibrium changes stability (eigenvalues of
        the Jacobian; ``branch="both"`` only, else empty).
    info : dict
        How it was made: ``t_stop, dt, method, window, params, i_high, elapsed`` (and the
        noise: ``noise_sigma, noise_tau, seed, trials``; with channel noise also
        ``channel_noise, area`` (µm²), ``rho_Na, rho_K`` (channels per µm²)).
    count_rate : ndarray or None
        Noisy curves only: the count rate (Hz, spikes in the window over its length) at each
        current, mean over trials.
    count_rate_trials, count_rate_sd, isi_cv : ndarray or None
        Noisy curves only: the count rate of each trial, shape ``(trials, currents)``; its
        standard deviation over trials (ddof 1; 0 for one trial); the mean over trials of the
        inter-spike-interval CV (NaN where no trial has two ISIs).
    """

    current: np.ndarray
    sustained_rate: np.ndarray | None
    pattern: np.ndarray
    onset: float | None
    block: float | None
    branch: str = "rest"
    sustained_rate_quiet: np.ndarray | None = None
    sustained_rate_firing: np.ndarray | None = None
    band: tuple[float, float] | None = None
    hopf: np.ndarray = field(default_factory=lambda: np.zeros(0))
    info: dict = field(default_factory=dict)
    count_rate: np.ndarray | None = None
    count_rate_trials: np.ndarray | None = None
    count_rate_sd: np.ndarray | None = None
    isi_cv: np.ndarray | None = None

    @property
    def noisy(self) -> bool:
        """True for a noisy curve (its rate is :attr:`count_rate`, not :attr:`sustained_rate`)."""
        return self.sustained_rate is None

    @property
    def rate(self) -> np.ndarray:
        """Deprecated: :attr:`sustained_rate`, or :attr:`count_rate` for a noisy curve."""
        new = "count_rate" if self.noisy else "sustained_rate"
        warn_renamed("FICurve.rate", f"FICurve.{new} for this curve", _WHY)
        return getattr(self, new)

    def __getattr__(self, name: str):
        # the other renamed attributes (only reached when normal lookup fails)
        if name in _RENAMED:
            warn_renamed(f"FICurve.{name}", f"FICurve.{_RENAMED[name]}", _WHY)
            return getattr(self, _RENAMED[name])
        raise AttributeError(f"'FICurve' object has no attribute {name!r}")

    def plot(self, ax=None):
        """Draw the curve (both branches and the band, when present); returns the Figure."""
        from .plotting import fi_plot

        return fi_plot(self, ax=ax)

    def to_csv(self, path=None) -> str:
        """Write the curve as CSV (``#`` comment lines with onset, block, band, Hopf points,
        then columns ``current_uA_cm2, sustained_rate_Hz, pattern`` and, for
        ``branch="both"``, ``sustained_rate_quiet_Hz, sustained_rate_firing_Hz``; a noisy
        curve ``current_uA_cm2, count_rate_Hz, pattern, count_rate_sd_Hz, isi_cv``).  Returns
        the text; writes it to ``path`` if given."""
        buf = io.StringIO()
        buf.write(f"# hhfast f-I curve, branch={self.branch}\n")
        for k in ("t_stop", "dt", "method", "window", "params"):
            if k in self.info:
                buf.write(f"# {k}: {self.info[k]}\n")
        buf.write(f"# onset_uA_cm2: {_fmt(self.onset)}\n# block_uA_cm2: {_fmt(self.block)}\n")
        if self.branch == "both":
            band = "none" if self.band is None else f"{self.band[0]:.6g}, {self.band[1]:.6g}"
            buf.write(f"# band_uA_cm2: {band}\n")
            buf.write(f"# hopf_uA_cm2: {', '.join(f'{h:.6g}' for h in self.hopf) or 'none'}\n")
            cols = [self.current, self.sustained_rate, self.pattern, self.sustained_rate_quiet,
                    self.sustained_rate_firing]
            buf.write("current_uA_cm2,sustained_rate_Hz,pattern,sustained_rate_quiet_Hz,"
                      "sustained_rate_firing_Hz\n")
        elif self.noisy:  # mean count rate over trials, spread, ISI CV
            for k in ("noise_sigma", "noise_tau", "seed", "trials"):
                buf.write(f"# {k}: {self.info.get(k)}\n")
            if self.info.get("channel_noise") is not None:
                for k in ("channel_noise", "area", "rho_Na", "rho_K"):
                    buf.write(f"# {k}: {self.info[k]}\n")
            cols = [self.current, self.count_rate, self.pattern, self.count_rate_sd, self.isi_cv]
            buf.write("current_uA_cm2,count_rate_Hz,pattern,count_rate_sd_Hz,isi_cv\n")
        else:
            cols = [self.current, self.sustained_rate, self.pattern]
            buf.write("current_uA_cm2,sustained_rate_Hz,pattern\n")
        for row in zip(*cols, strict=True):
            buf.write(",".join(_fmt(v) for v in row) + "\n")
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def __repr__(self) -> str:
        band = "" if self.band is None else f", band=({self.band[0]:.4f}, {self.band[1]:.4f})"
        return (
            f"FICurve({self.current.size} currents in [{self.current[0]:g}, "
            f"{self.current[-1]:g}] µA/cm², branch={self.branch!r}, onset={_fmt(self.onset)}, "
            f"block={_fmt(self.block)}{band})"
        )


def _fmt(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.10g}"


# -- the equilibrium and its stability ---------------------------------------------------------
def equilibrium_stability(currents, params: HHParams | None = None):
    """Equilibria of the neuron held at each current and the eigenvalue of their Jacobian with
    the largest real part.

    Returns
    -------
    states : ndarray, shape (4, N)
        ``V (mV), n, m, h`` at each equilibrium (:func:`hhfast.model.equilibrium`).
    growth : ndarray, shape (N,)
        Largest real part (1/ms) of the Jacobian's eigenvalues: the equilibrium is stable where
        it is negative.
    direction : ndarray, shape (4, N)
        Real part of that eigenvalue's eigenvector, scaled to +1 mV in V (zeros where the
        equilibrium is stable).
    """
    p = HHParams.classic() if params is None else params
    currents = np.atleast_1d(np.asarray(currents, dtype=float))
    states = np.empty((4, currents.size))
    growth = np.empty(currents.size)
    direction = np.zeros((4, currents.size))
    for i, current in enumerate(currents):
        y = np.array(equilibrium(float(current), p))
        w, v = np.linalg.eig(jacobian(y, p))
        k = int(np.argmax(w.real))
        states[:, i] = y
        growth[i] = w[k].real
        d = v[:, k].real
        if w[k].real > 0 and abs(d[0]) > 0:
            direction[:, i] = d / d[0]
    return states, growth, direction


def _growth(current: float, p: HHParams) -> float:
    return float(np.max(np.linalg.eigvals(jacobian(np.array(equilibrium(current, p)), p)).real))


def hopf_currents(currents, params: HHParams | None = None, growth=None) -> np.ndarray:
    """Currents (µA/cm²) where the equilibrium changes stability (a Hopf point for HH: a complex
    pair crosses the imaginary axis), located between consecutive ``currents`` where the sign
    of the largest real part changes and refined by Brent's method to ~1e-10 µA/cm²."""
    from scipy.optimize import brentq  # here, not at import (docs/architecture.md §1)

    p = HHParams.classic() if params is None else params
    currents = np.asarray(currents, dtype=float)
    if growth is None:
        growth = equilibrium_stability(currents, p)[1]
    out = []
    for i in np.flatnonzero(np.sign(growth[:-1]) != np.sign(growth[1:])):
        out.append(brentq(_growth, currents[i], currents[i + 1], args=(p,), xtol=1e-10))
    return np.array(out)


# -- the f–I curve -------------------------------------------------------------------------------
def _lowest_switch(sustained: np.ndarray, start: int = 0, want: bool = True) -> int | None:
    """Index of the first point at or after ``start`` whose ``sustained`` equals ``want``."""
    hits = np.flatnonzero(sustained[start:] == want)
    return int(hits[0]) + start if hits.size else None


def _channel_options(model, given: dict) -> dict:
    """The channel-noise keywords of a curve (``{}`` without channel noise): the model and one
    number each for ``area``, ``rho_Na``, ``rho_K`` (defaults filled in), checked; ``model``
    already checked (:func:`hhfast._checks.method_and_channel`)."""
    if model is None:
        C.channel_values(given, None)  # refuses values given without a model
        return {}
    for k, v in given.items():
        if v is not None and np.ndim(v) != 0:
            raise InputValueError(f"{k} must be one number for the whole f–I curve, got shape "
                                  f"{np.shape(v)}; run simulate() for a grid of values")
    values = C.channel_values(given, model)
    # at least one channel of each kind
    C.channel_counts(values, rounded=False)
    return {"channel_noise": model, **{k: float(v) for k, v in values.items()}}


def _pieces(n: int, progress) -> list[slice]:
    """The neurons (columns) of a curve's main run, cut into pieces so that ``progress`` is
    called more often than once: one piece without a callback (one batched run, as before),
    else up to ``config.FI_PROGRESS_PIECES`` pieces of whole blocks of ``config.BLOCK`` lanes,
    at least ``config.FI_PROGRESS_MIN_NEURONS`` neurons each.  A neuron's result does not
    depend on its batch (docs/architecture.md §3), so the curve is the same either way."""
    if progress is None or n <= config.FI_PROGRESS_MIN_NEURONS:
        return [slice(0, n)]
    size = max(config.FI_PROGRESS_MIN_NEURONS, -(-n // config.FI_PROGRESS_PIECES))
    size = -(-size // config.BLOCK) * config.BLOCK
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _noisy_curve(cur, t_stop, win, trials, noise, common, channel, bar) -> FICurve:
    """``trials`` noisy runs per current from rest: mean count rate, spread, ISI CV (the
    currents in pieces when progress is reported; trial ids ``k * len(currents) + i`` as one
    batched run gives them)."""
    ids = np.arange(trials * cur.size, dtype=np.uint64).reshape(trials, cur.size)
    parts = []
    for sl in _pieces(cur.size, bar.callback):
        m = sl.stop - sl.start
        res = simulate(step(), t_stop=t_stop, amplitude=np.broadcast_to(cur[sl], (trials, m)),
                       window=win, trial=ids[:, sl], **common, **noise, **channel)
        parts.append((count_rate(res), isi_cv(res), firing_pattern(res)))
        bar.ran(trials * m * t_stop)
    rates, cv, pat = (np.concatenate(x, axis=1) for x in zip(*parts, strict=True))
    ok = np.isfinite(cv)
    n_ok = ok.sum(axis=0)
    cv_mean = np.where(n_ok > 0, np.where(ok, cv, 0.0).sum(axis=0) / np.maximum(n_ok, 1), np.nan)
    pattern = np.array([np.bincount(pat[:, i], minlength=3).argmax() for i in range(cur.size)],
                       dtype=np.int8)
    return FICurve(cur, None, pattern, None, None, "rest",
                   info=dict(t_stop=t_stop, dt=common["dt"], method=common["method"],
                             window=win, params=common["params"].as_dict(), trials=trials,
                             **noise, **channel),
                   count_rate=rates.mean(axis=0), count_rate_trials=rates,
                   count_rate_sd=rates.std(axis=0, ddof=1) if trials > 1 else np.zeros(cur.size),
                   isi_cv=cv_mean)


def fi_curve(
    currents,
    t_stop: float = 1000.0,
    dt: float = 0.01,
    method: str | None = None,
    params: HHParams | None = None,
    window: tuple[float, float] | None = None,
    branch: str = "rest",
    *,
    refine: bool = True,
    tol: float = config.FI_TOL,
    threshold: float | None = None,
    spike_rearm: float | None = None,
    noise_sigma: float = 0.0,
    noise_tau: float = 0.0,
    seed: int = 0,
    trials: int = 1,
    channel_noise: str | None = None,
    area: float | None = None,
    rho_Na: float | None = None,
    rho_K: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    progress: Callable[[int, int], object] | None = None,
    backend: str = "cpu",
    **per_neuron_values,
) -> FICurve:
    """The f–I curve of the HH model: the sustained firing rate at each constant current, all
    currents run as one parallel batch.

    Parameters
    ----------
    currents : array_like, 1-D
        Constant currents (µA/cm²), strictly increasing.
    t_stop : float
        Time (ms) each neuron spends at its target current.
    dt, method, params
        As in :func:`hhfast.simulate` (``method`` default ``"rk4"``; ``"euler"``, the only
        method of channel noise, when ``channel_noise`` is given).
    window : (float, float), optional
        Analysis window (ms from when the target current is reached); default the last half,
        ``(t_stop * (1 - config.FI_WINDOW_FRACTION), t_stop)``.
    branch : {"rest", "both"}
        ``"rest"``: every neuron starts at rest, current on at t = 0 (the experimental
        protocol).  ``"both"``: the quiet and firing branches and the bistable band (see the
        module docstring).
    refine : bool
        Refine ``onset``, ``block`` and the band's fold by batched bisection (each round one
        batched run of ``config.BISECT_POINTS`` neurons) to ``tol``.
    tol : float
        Tolerance (µA/cm²) of the refined values.
    threshold : float, optional
        Spike threshold (mV), default 50 mV above rest.
    spike_rearm : float, optional
        Re-arm margin (mV below the threshold), as in :func:`hhfast.simulate` (default
        ``config.SPIKE_REARM_MV``).
    noise_sigma, noise_tau, seed : float, float, int
        Current noise of every neuron (as in :func:`hhfast.simulate`; docs/guide/noise.md).  A
        noisy curve (``noise_sigma > 0`` or ``trials > 1``) takes ``branch="rest"``, runs
        ``trials`` independent trials per current (trial id ``k * len(currents) + i``) and
        reports the mean count rate (spikes / window), its spread and the ISI CV; no refinement of the edges
        (``onset``, ``block`` are None).
    trials : int
        Independent noisy trials per current.
    channel_noise : {None, "channel", "shielding", "subunit"}
        Channel noise of a membrane patch (as in :func:`hhfast.simulate`;
        docs/guide/channel-noise.md): the curve is then noisy like one with current noise (``branch="rest"``,
        ``trials`` trials per current, mean count rate, spread, ISI CV, no refinement) and
        runs with ``method="euler"`` (Euler–Maruyama).
    area, rho_Na, rho_K : float, optional
        With ``channel_noise`` only: the patch area (µm², default 100) and the Na and K
        channel densities (channels per µm², defaults 60 and 18,
        ``config.CHANNEL_DEFAULTS``), one number each for the whole curve.
    rtol, atol : float, optional
        ``method="dopri5"`` only: the tolerances of its step control, as in
        :func:`hhfast.simulate` (default ``config.ADAPTIVE_RTOL``, ``atol = rtol``); refused
        with a fixed-step method, whose accuracy is chosen with ``dt``.
    progress : callable, optional
        ``progress(done, total)``, called with two ints in the same unit, the work in
        neuron-milliseconds (neurons x simulated ms, whatever the method): once with
        ``done = 0`` before the first run, then after each batched run (the main run, each
        round of each bisection).  ``total`` is fixed by the first call: it counts the main
        run and, for each edge that may need refining, an upper bound on its bisection rounds;
        an edge that turns out not to exist, or a bisection that ends early, adds its unused
        share at once.  So ``done`` never decreases and the last call has ``done == total``
        (``100 * done / total`` is a percentage).  Its return value is ignored; an exception
        it raises ends the curve (a way to cancel it).
    backend : str
        Where the runs go, as in :func:`hhfast.simulate` (``"cpu"`` or ``"cuda"``).
    **per_neuron_values : float
        Model fields (``gK=30``, ``temperature=10``, ...): one value for the whole curve.

    Returns
    -------
    FICurve
    """
    # ---- checks (cheap, before any run) ----
    if not isinstance(branch, str) or branch not in BRANCHES:
        raise InputValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    if not isinstance(refine, (bool, np.bool_)):
        raise InputTypeError(f"refine must be True or False, got {refine!r}")
    method, channel_noise = C.method_and_channel(method, channel_noise)
    channel = _channel_options(channel_noise, dict(area=area, rho_Na=rho_Na, rho_K=rho_K))
    cur = C.per_neuron_array("currents", currents)
    if cur.ndim != 1 or cur.size == 0:
        raise InputValueError(f"currents must be a non-empty 1-D array, got shape {cur.shape}")
    if cur.size > 1 and np.any(np.diff(cur) <= 0):
        raise InputValueError("currents must be strictly increasing")
    t_stop = C.real("t_stop", t_stop, positive=True)
    tol = C.real("tol", tol, positive=True)
    dt = C.real("dt", dt, positive=True)
    unknown = sorted(set(per_neuron_values) - set(FIELDS), key=str)
    if unknown:
        raise InputTypeError(f"fi_curve() got unexpected keyword argument(s) {unknown}; model fields "
                        f"are {list(FIELDS)}")
    fields = {}
    for k, v in per_neuron_values.items():
        if np.ndim(v) != 0:
            raise InputValueError(f"{k} must be one number for the whole f–I curve, got shape "
                             f"{np.shape(v)}; run simulate() for a grid of parameter values")
        fields[k] = float(C.per_neuron_array(k, v))
    if params is not None and not isinstance(params, HHParams):
        raise InputTypeError(f"params must be an HHParams, got {params!r}")
    p = (HHParams.classic() if params is None else params).replace(**fields)
    check_params(p)
    if window is None:
        window = (t_stop * (1.0 - config.FI_WINDOW_FRACTION), t_stop)
    try:
        w0, w1 = (C.real(f"window[{i}]", x) for i, x in enumerate(window))
    except (TypeError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputTypeError(f"window must be a pair (t0, t1) in ms, got {window!r}") from None
    if not 0 <= w0 < w1 <= t_stop * (1 + 1e-12):
        raise InputValueError(f"window must satisfy 0 <= t0 < t1 <= t_stop={t_stop}, got {window!r}")
    if threshold is not None:
        threshold = C.real("threshold", threshold)
    common = dict(dt=dt, method=method, params=p, threshold=threshold,
                  spike_rearm=spike_rearm, max_spikes=0, backend=backend,
                  **{k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None})
    if progress is not None and not callable(progress):
        raise InputTypeError(f"progress must be a callable progress(done, total) or None, got "
                             f"{progress!r}")
    trials = C.integer("trials", trials, 1)
    noise = dict(noise_sigma=C.real("noise_sigma", noise_sigma), noise_tau=C.real(
        "noise_tau", noise_tau), seed=seed)
    # everything simulate refuses, refused here first, with simulate's own checks (the runs
    # below pass these values on): negative noise, a bad seed, noise with dopri5, ...
    C.simulate_call(step(), t_stop, face="fi_curve", window=(w0, w1), amplitude=cur,
                    backends=BACKENDS, **common, **noise, **channel)
    if noise["noise_sigma"] > 0 or trials > 1 or channel_noise is not None:
        if branch != "rest":
            raise InputValueError(f"a noisy f–I curve (noise_sigma > 0, trials > 1 or "
                                  f"channel_noise) takes branch='rest', got {branch!r}")
        bar = _Progress(progress, [trials * cur.size * t_stop])
        curve = _noisy_curve(cur, t_stop, (w0, w1), trials, noise, common, channel, bar)
        bar.finish()
        return curve

    # the bisections' share of the work: each round is BISECT_POINTS neurons, and no bracket
    # is wider than the widest step of the grid (docs/architecture.md §5)
    rounds = _rounds(float(np.max(np.diff(cur))) if cur.size > 1 else 0.0, tol) if refine else 0
    bis = config.BISECT_POINTS * rounds
    if branch == "rest":
        bar = _Progress(progress, [cur.size * t_stop, bis * t_stop, bis * t_stop])

        def rest_run(x):
            res = simulate(step(), t_stop=t_stop, amplitude=x, window=(w0, w1), **common)
            bar.ran(np.size(x) * t_stop)
            return firing_pattern(res) == SUSTAINED, res

        rate, pattern = (np.concatenate(x) for x in zip(*(
            (sustained_rate(r), firing_pattern(r)) for r in (
                rest_run(cur[sl])[1] for sl in _pieces(cur.size, progress))), strict=True))
        sustained = pattern == SUSTAINED
        bar.next_stage()
        onset, block = _edges(cur, sustained, lambda x: rest_run(x)[0], refine, tol,
                              between=bar.next_stage)
        bar.finish()
        return FICurve(cur, rate, pattern, onset, block, "rest",
                       info=dict(t_stop=t_stop, dt=dt, method=method, window=(w0, w1),
                                 params=p.as_dict(), **_tolerances(common)))

    # ---- branch == "both" ----
    states, growth, direction = equilibrium_stability(cur, p)
    hopf = hopf_currents(cur, p, growth)
    i_high = _start_current(cur, growth, hopf, p)
    shape = ramp(0.0, config.FI_RAMP_MS, 1.0, 0.0)
    T = config.FI_RAMP_MS
    rest = np.array(resting_state(p))
    y0 = np.concatenate(
        [states + config.QUIET_KICK_MV * direction, np.repeat(rest[:, None], cur.size, 1)], axis=1
    )
    y0[1:] = np.clip(y0[1:], 0.0, 1.0)
    N = cur.size
    hold = config.FOLD_HOLD_MS
    bar = _Progress(progress, [2 * N * (T + t_stop), bis * (T + hold), bis * (T + t_stop)])
    bias = np.concatenate([cur, cur])
    amplitude = np.concatenate([np.zeros(N), i_high - cur])
    parts = []
    for sl in _pieces(2 * N, progress):
        res = simulate(shape, t_stop=T + t_stop, window=(T + w0, T + w1), bias=bias[sl],
                       amplitude=amplitude[sl], V0=y0[0, sl], n0=y0[1, sl], m0=y0[2, sl],
                       h0=y0[3, sl], **common)
        parts.append((sustained_rate(res), firing_pattern(res)))
        bar.ran((sl.stop - sl.start) * (T + t_stop))
    bar.next_stage()
    rate_all, pattern_all = (np.concatenate(x) for x in zip(*parts, strict=True))
    quiet, firing = rate_all[:N], rate_all[N:]
    sustained = pattern_all[N:] == SUSTAINED

    fwin = (T + hold * (1.0 - config.FI_WINDOW_FRACTION), T + hold)

    def firing_run(x):
        r = simulate(shape, t_stop=T + hold, window=fwin, bias=x, amplitude=i_high - x,
                     **common)
        bar.ran(np.size(x) * (T + hold))
        return firing_pattern(r) == SUSTAINED

    def firing_run_block(x):
        r = simulate(shape, t_stop=T + t_stop, window=(T + w0, T + w1), bias=x,
                     amplitude=i_high - x, **common)
        bar.ran(np.size(x) * (T + t_stop))
        return firing_pattern(r) == SUSTAINED

    fold, _ = _edges(cur, sustained, firing_run, refine, tol, block=False)
    bar.next_stage()
    _, block = _edges(cur, sustained, firing_run_block, refine, tol, onset_refine=False)
    bar.finish()
    low_hopf = next((float(h) for h, g in zip(hopf, _growth_after(hopf, p), strict=True) if g > 0),
                    None)
    band = (fold, low_hopf) if fold is not None and low_hopf is not None and fold < low_hopf \
        else None
    return FICurve(
        cur, firing, pattern_all[N:], fold, block, "both",
        sustained_rate_quiet=quiet, sustained_rate_firing=firing, band=band, hopf=hopf,
        info=dict(t_stop=t_stop, dt=dt, method=method, window=(w0, w1), params=p.as_dict(),
                  i_high=i_high, ramp_ms=T, **_tolerances(common)),
    )


def _growth_after(hopf: np.ndarray, p: HHParams) -> list[float]:
    """Sign of the growth rate just above each Hopf current (>0: loses stability there)."""
    return [_growth(h + 1e-6, p) for h in hopf]


def _start_current(cur, growth, hopf, p) -> float:
    """I_high of the firing branch: ``FI_RAMP_MARGIN`` above the lowest current where rest
    loses stability (searched above the range if the range has none)."""
    up = [h for h, g in zip(hopf, _growth_after(hopf, p), strict=True) if g > 0]
    if up:
        return float(up[0] + config.FI_RAMP_MARGIN)
    if growth[0] > 0:  # unstable from the start of the range
        return float(cur[0] + config.FI_RAMP_MARGIN)
    probe = np.linspace(cur[-1], cur[-1] + 200.0, 201)
    _, g, _ = equilibrium_stability(probe, p)
    h = hopf_currents(probe, p, g)
    up = [x for x, s in zip(h, _growth_after(h, p), strict=True) if s > 0]
    if not up:
        raise InputValueError(
            f"the equilibrium is stable for every current from {cur[0]} to {probe[-1]} "
            "µA/cm², so the firing branch cannot be started; use branch='rest'"
        )
    return float(up[0] + config.FI_RAMP_MARGIN)


def _edges(cur, sustained, run, refine, tol, block=True, onset_refine=True, between=None):
    """Onset (lowest sustained current) and block (first current above it that is not
    sustained), each refined by batched bisection when the grid brackets it (the onset only
    with ``onset_refine``); ``between()`` is called after the onset's bisection (progress)."""
    i = _lowest_switch(sustained, 0, True)
    if i is None:
        return None, None
    onset = float(cur[i])
    if refine and onset_refine and i > 0:
        _, hi = batched_bisection(lambda idx, x: run(x.reshape(-1)).reshape(x.shape),
                                  [cur[i - 1]], [cur[i]], tol, points=config.BISECT_POINTS)
        onset = float(hi[0])
    if between is not None:
        between()
    if not block:
        return onset, None
    j = _lowest_switch(sustained, i, False)
    if j is None:
        return onset, None
    blk = float(cur[j])
    if refine:
        _, hi = batched_bisection(lambda idx, x: ~run(x.reshape(-1)).reshape(x.shape),
                                  [cur[j - 1]], [cur[j]], tol, points=config.BISECT_POINTS)
        blk = float(hi[0])
    return onset, blk


def _rounds(width: float, tol: float) -> int:
    """Upper bound on the rounds of :func:`~hhfast.excitability.batched_bisection` with
    ``config.BISECT_POINTS`` points shrinking a bracket of ``width`` to ``tol``: each round
    divides it by ``BISECT_POINTS + 1``; one more for the rounding of the bracket's ends."""
    n = 0
    while width > tol and n < 200:
        width /= config.BISECT_POINTS + 1
        n += 1
    return n + 1 if n else 0


def _tolerances(common: dict) -> dict:
    """The dopri5 tolerances a curve was run with, for its ``info`` (none when not given)."""
    return {k: common[k] for k in ("rtol", "atol") if k in common}


class _Progress:
    """The ``progress(done, total)`` calls of :func:`fi_curve`: the work (neuron-ms) of each
    stage is reserved in ``total`` up front; :meth:`ran` adds the work of one run (never past
    the stage's reserve), :meth:`next_stage` closes a stage (its unused reserve counted as
    done), :meth:`finish` closes all (``done == total``)."""

    def __init__(self, callback, stages):
        self.callback = callback
        self.stages = [float(x) for x in stages]
        self.total = int(round(sum(self.stages)))
        self.stage = 0
        self.start = 0.0  # the work of the stages closed so far
        self.used = 0.0  # the work of the current stage so far
        self.last = None
        self._call(0)

    def _call(self, done):
        done = min(int(round(done)), self.total)
        if self.callback is not None and done != self.last:
            self.last = done
            self.callback(done, self.total)

    def ran(self, work):
        if self.stage < len(self.stages):
            self.used = min(self.used + float(work), self.stages[self.stage])
        self._call(self.start + self.used)

    def next_stage(self):
        if self.stage < len(self.stages):
            self.start += self.stages[self.stage]
            self.stage += 1
            self.used = 0.0

    def finish(self):
        if self.stage < len(self.stages):
            self.stage = len(self.stages)
            self.start = float(self.total)
            self.used = 0.0
            self._call(self.total)
