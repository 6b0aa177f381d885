"""Thresholds found by batched bisection: rheobase (and, through per-neuron stimuli or
parameters, strength–duration curves and rheobase against any model parameter).

Every round of a bisection here is ONE batched :func:`hhfast.simulate` call that tests every
bracket of every neuron at once, so finding a threshold for 10 000 neurons costs about as many
runs as finding it for one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import _checks as C
from . import config
from .engine import BACKENDS, simulate
from .errors import InputTypeError, InputValueError

__all__ = ["batched_bisection", "rheobase"]


def batched_bisection(
    predicate: Callable[[np.ndarray, np.ndarray], np.ndarray],
    lo,
    hi,
    tol: float,
    points: int = 1,
    max_rounds: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Shrink many brackets ``[lo, hi]`` around the switch of a monotone predicate at once.

    Parameters
    ----------
    predicate : callable
        ``predicate(idx, x)``: ``idx`` the indices of the K brackets still open, ``x`` of
        shape ``(K, points)`` the values to test in them; returns a bool array of x's shape,
        False below the switch and True above it.  Each call should be one batched run.
    lo, hi : array_like, shape (M,)
        Brackets, assumed ``predicate(lo) = False`` and ``predicate(hi) = True``.
    tol : float
        Stop when every bracket is narrower than this.
    points : int
        Points tested per bracket per round (the bracket shrinks ``points + 1``-fold a round).
    max_rounds : int
        Safety limit on the number of rounds.

    Returns
    -------
    lo, hi : ndarray, shape (M,)
        Final brackets (``hi - lo <= tol``), still with ``predicate(lo)`` False and
        ``predicate(hi)`` True.  If the predicate is not monotone inside a bracket, the switch
        kept is the lowest one tested.
    """
    lo = np.array(lo, dtype=float).reshape(-1)
    hi = np.array(hi, dtype=float).reshape(-1)
    frac = np.arange(1, points + 1) / (points + 1)
    for _ in range(max_rounds):
        open_ = hi - lo > tol
        if not open_.any():
            break
        x = lo[open_, None] + (hi - lo)[open_, None] * frac
        above = np.asarray(predicate(np.flatnonzero(open_), x), dtype=bool).reshape(x.shape)
        # the lowest tested point that is above: everything below it was tested False
        first = np.where(above.any(axis=1), above.argmax(axis=1), points)
        rows = np.arange(x.shape[0])
        new_hi = np.where(first < points, x[rows, np.minimum(first, points - 1)], hi[open_])
        new_lo = np.where(first > 0, x[rows, np.maximum(first - 1, 0)], lo[open_])
        lo[open_], hi[open_] = new_lo, new_hi
    return lo, hi


def rheobase(
    stimulus,
    lo: float = 0.0,
    hi: float = 200.0,
    tol: float = 1e-3,
    *,
    t_stop: float | None = None,
    dt: float = 0.01,
    method: str | None = None,
    params=None,
    seed: int = 0,
    trials: int = 1,
    level: float | None = None,
    channel_noise: str | None = None,
    backend: str = "cpu",
    **per_neuron,
) -> np.ndarray:
    """The smallest stimulus amplitude that gives at least one spike, for every neuron at once.

    Each round of the bisection is one batched run of all the neurons whose bracket is still
    wider than ``tol``.

    **With noise** (``noise_sigma > 0``, ``noise_I0 != 0`` or ``channel_noise``) whether a run
    spikes is random, and the rheobase is defined through the probability of firing: the
    smallest amplitude at which at least a fraction ``level`` of ``trials`` trials give at
    least one spike (docs/architecture.md §9).  Trial ``k`` of neuron ``i`` keeps its noise
    (``seed``, trial id ``i * trials + k``) at every amplitude tested — common random numbers
    — so the fraction firing is a step function of the amplitude that rises with it, the
    bisection runs on it as on a deterministic response, and the result is reproducible (a
    function of ``seed`` and ``trials``).  It estimates the amplitude where the probability
    of firing crosses ``level``; its statistical error shrinks as ``1 / sqrt(trials)``.
    Spikes that the noise causes without the stimulus count too: where the fraction firing
    at ``lo`` already reaches ``level`` the result is NaN, as for a deterministic neuron that
    fires at ``lo``.

    Parameters
    ----------
    stimulus : Stimulus or sequence of Stimulus
        Current shape; neuron ``i`` receives ``bias[i] + a[i] * shape_i(t)`` µA/cm² and the
        amplitude ``a[i]`` is what is searched.  A sequence gives each neuron its own shape,
        e.g. pulses of different widths: the strength–duration curve.
    lo, hi : float
        Initial bracket of the amplitude (µA/cm² for a shape of unit height).  Neurons that
        already spike at ``lo`` or do not spike at ``hi`` get NaN.
    tol : float
        Width of the final bracket (same unit as the amplitude).
    t_stop : float, optional
        Duration of each run (ms); default the stimulus's last breakpoint plus
        ``config.RHEOBASE_TAIL_MS`` (a spike may come well after a short pulse).
    dt, method, params, backend
        As in :func:`hhfast.simulate` (``method`` default ``"rk4"``, ``"euler"`` with
        ``channel_noise``); ``backend`` as well.
    seed : int
        Seed of the noise (as in :func:`hhfast.simulate`).
    trials : int
        Noisy trials per neuron and amplitude (only with noise: more than one trial of a
        deterministic run would repeat the same run).
    level : float, optional
        With noise only: the probability of firing that defines the rheobase, in (0, 1]
        (default 0.5, the amplitude at which half the trials spike).
    channel_noise : {None, "channel", "shielding", "subunit"}
        Channel noise (as in :func:`hhfast.simulate`; ``area``, ``rho_Na``, ``rho_K`` as
        per-neuron values); the rheobase is then a noisy one.
    **per_neuron : float or array
        Per-neuron values for :func:`hhfast.simulate` (model fields such as ``gK`` or
        ``temperature``, ``bias``, initial values, ``threshold`` and ``spike_rearm``, the
        current noise ``noise_sigma``, ``noise_tau``, ``noise_I0``, the patch ``area``,
        ``rho_Na``, ``rho_K``); they broadcast with the stimulus sequence into the batch
        shape of the result.  ``amplitude`` is what is searched and cannot be given; nor can
        ``trial`` (the trial ids are set as above).

    Returns
    -------
    ndarray
        Rheobase per neuron, with the batch shape: the smallest amplitude tested that gave a
        spike (with noise: at which the fraction ``level`` of the trials spiked), within
        ``tol`` above the true threshold; NaN where ``[lo, hi]`` does not bracket it.
    """
    if "amplitude" in per_neuron:
        raise InputTypeError("rheobase() searches the amplitude; do not pass amplitude=")
    if "trial" in per_neuron:
        raise InputTypeError("rheobase() sets the trial ids itself (trial k of neuron i is "
                             "i * trials + k); do not pass trial=")
    trials = C.integer("trials", trials, 1)
    level_given = level is not None
    level = C.real("level", 0.5 if level is None else level)
    if not 0.0 < level <= 1.0:
        raise InputValueError(f"level must be in (0, 1] (a probability of firing), got "
                              f"{level!r}")
    lo = C.real("lo", lo)
    hi = C.real("hi", hi)
    tol = C.real("tol", tol, positive=True)
    if not hi > lo:
        raise InputValueError(f"rheobase needs hi > lo, got lo={lo!r}, hi={hi!r}")
    stims, stim_shape = C.stimuli(stimulus)
    if t_stop is None:
        last = max((float(s.t[-1]) for s in stims.reshape(-1) if len(s.t)), default=0.0)
        t_stop = last + config.RHEOBASE_TAIL_MS
    t_stop = C.real("t_stop", t_stop, positive=True)
    # everything simulate refuses, refused here first with simulate's own checks (the runs
    # below pass these values on), before the bisection's first run
    call = C.simulate_call(stimulus, t_stop, dt, method, params, max_spikes=0,
                           face="rheobase", seed=seed, channel_noise=channel_noise,
                           backend=backend, backends=BACKENDS,
                           **per_neuron)
    method, seed = call.method, call.seed
    if trials > 1 and not call.noisy:
        raise InputValueError(
            f"trials={trials} needs noise (noise_sigma > 0, noise_I0 != 0 or channel_noise): "
            "without it every trial is the same deterministic run")
    if level_given and not call.noisy:
        raise InputValueError(
            f"level={level!r} needs noise (noise_sigma > 0, noise_I0 != 0 or channel_noise): "
            "without it a run spikes or does not, there is no probability to cross")
    noise = dict(seed=seed, channel_noise=channel_noise) if call.noisy else {}
    need = max(1, math.ceil(level * trials - 1e-9))  # trials that must spike: >= level
    try:
        shape = np.broadcast_shapes(stim_shape, *(np.shape(v) for v in per_neuron.values()))
    except ValueError:
        shapes = {k: np.shape(v) for k, v in per_neuron.items()}
        raise InputValueError(
            f"per-neuron values do not broadcast with the stimulus sequence {stim_shape}: "
            f"{shapes}"
        ) from None
    shape = shape or (1,)
    N = math.prod(shape)
    stim_flat = np.broadcast_to(stims, shape).reshape(-1) if stim_shape else None
    flat = {k: np.broadcast_to(np.asarray(v), shape).reshape(-1) for k, v in per_neuron.items()}

    def spikes(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Whether neuron rows[j] spikes at amplitude x[j] (one batched run); with noise,
        whether at least ``level`` of its trials do (shape (trials, len(rows)), trial k of
        neuron i with trial id i * trials + k at every amplitude)."""
        st = list(stim_flat[rows]) if stim_flat is not None else stimulus
        vals = {k: v[rows] for k, v in flat.items()}
        if not noise:
            res = simulate(st, t_stop=t_stop, dt=dt, method=method, params=params,
                           amplitude=x, max_spikes=0, **vals)
            return res.spike_count.reshape(-1) > 0
        ids = np.asarray(rows, dtype=np.uint64)[None, :] * np.uint64(trials) + np.arange(
            trials, dtype=np.uint64)[:, None]
        res = simulate(st, t_stop=t_stop, dt=dt, method=method, params=params,
                       amplitude=np.broadcast_to(x, ids.shape), max_spikes=0, trial=ids,
                       backend=backend,
                       **noise, **vals)
        fired = (res.spike_count.reshape(ids.shape) > 0).sum(axis=0)
        return fired >= need

    everyone = np.arange(N)
    ends = spikes(np.concatenate([np.full(N, lo), np.full(N, hi)]),
                  np.concatenate([everyone, everyone]))
    ok = ~ends[:N] & ends[N:]
    rows = everyone[ok]

    def predicate(idx, x):  # x: (K, 1) amplitudes for the neurons rows[idx]
        return spikes(x[:, 0], rows[idx])[:, None]

    _, h = batched_bisection(predicate, np.full(rows.size, lo), np.full(rows.size, hi), tol)
    out = np.full(N, np.nan)
    out[rows] = h
    return out.reshape(shape)
