"""Spikes -> rates, inter-spike-interval statistics, latency and firing patterns.

Everything here works on the O(1)-per-neuron window statistics a run accumulates (spike count,
first and last spike time and sum of squared ISIs inside the analysis window), so it never needs
the stored spike times and is exact whatever the number of spikes.

Rate definitions (all in Hz, per neuron, over the analysis window ``[t0, t1)`` of the run);
each has one name everywhere (functions here, sweep metrics, :class:`hhfast.FICurve`, plot
labels, the CLI; docs/architecture.md §5), and no hhfast name is a bare ``rate``:

``count_rate``
    count / (t1 - t0).  Unbiased on average but quantised: a 500 ms window gives multiples of
    2 Hz, and where the window cuts a regular train moves it by up to one spike.  Also
    :meth:`hhfast.SimResult.count_rate`.  Formerly ``spike_rate`` (and the sweep metric and
    ``window_metrics`` key ``rate``), still answered with a :class:`~hhfast.errors.RenamedWarning`.
``isi_rate``
    1 / mean ISI = (count - 1) / (last - first), with first and last the first and last spike
    inside the window.  Not quantised, independent of where the window cuts the train: the
    rate of a periodic train to the accuracy of the spike times.  This is the rate of an f–I
    curve (:func:`sustained_rate`).
``sustained_rate``
    ``isi_rate`` where the neuron fires in a sustained way (:func:`firing_pattern`), 0
    elsewhere: a neuron that fired a few spikes and stopped is not "firing at 3 Hz".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _checks as C
from . import config
from .errors import InputTypeError, InputValueError, warn_renamed
from .result import COUNT_RATE_IS, RENAMED_METRICS, SimResult

__all__ = [
    "count_rate",
    "spike_rate",
    "isi_rate",
    "isi_mean",
    "isi_cv",
    "latency",
    "firing_pattern",
    "is_sustained",
    "sustained_rate",
    "window_metrics",
    "spike_reliability",
    "QUIET",
    "TRANSIENT",
    "SUSTAINED",
]

#: Codes of :func:`firing_pattern`.
QUIET, TRANSIENT, SUSTAINED = 0, 1, 2


def count_rate(res: SimResult) -> np.ndarray:
    """Count rate (Hz), per neuron: spikes in the analysis window divided by its duration
    (not 1 / mean ISI: that is :func:`isi_rate`)."""
    C.sim_result("res", res)
    return res.count_rate()


def spike_rate(res: SimResult) -> np.ndarray:
    """Deprecated name of :func:`count_rate` (warns :class:`~hhfast.errors.RenamedWarning`)."""
    warn_renamed("hhfast.analysis.spike_rate", "hhfast.analysis.count_rate", COUNT_RATE_IS)
    return count_rate(res)


def isi_mean(res: SimResult) -> np.ndarray:
    """Mean inter-spike interval (ms) of the spikes inside the window; NaN with < 2 spikes."""
    C.sim_result("res", res)
    c = res.window_count
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c >= 2, (res.window_last - res.window_first) / (c - 1), np.nan)


def isi_rate(res: SimResult) -> np.ndarray:
    """1 / mean ISI (Hz): the rate of the firing inside the window, insensitive to where the
    window cuts the spike train; NaN with fewer than 2 spikes."""
    C.sim_result("res", res)
    return 1e3 / isi_mean(res)


def isi_cv(res: SimResult) -> np.ndarray:
    """Coefficient of variation of the ISIs inside the window; NaN with fewer than 3 spikes
    (one interval has no spread)."""
    C.sim_result("res", res)
    c = res.window_count
    mean = isi_mean(res)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = res.window_isi_sumsq / (c - 1) - mean * mean
        cv = np.sqrt(np.maximum(var, 0.0)) / mean
    return np.where(c >= 3, cv, np.nan)


def _stimulus_onset(res: SimResult) -> np.ndarray:
    """Per neuron, when its current first departs from zero (ms): ``t_start`` where the bias
    is non-zero, else the first breakpoint of its stimulus shape (``t_start`` if it has none)."""
    stims = res.stimulus
    if isinstance(stims, (list, tuple, np.ndarray)):
        first = np.array([s.t[0] if len(s.t) else res.t_start for s in np.ravel(stims)])
    else:
        first = np.array(stims.t[0] if len(stims.t) else res.t_start)
    first = np.broadcast_to(np.maximum(first, res.t_start), res.shape)
    bias = np.broadcast_to(res.params.get("bias", np.zeros(())), res.shape)
    return np.where(bias != 0, res.t_start, first)


def latency(res: SimResult, onset=None) -> np.ndarray:
    """First-spike latency (ms): time of the first spike of the run minus the stimulus onset.

    Parameters
    ----------
    res : SimResult
    onset : float or array, optional
        Stimulus onset (ms).  Default: when each neuron's current first departs from zero
        (``t_start`` for a non-zero bias, else the first breakpoint of its stimulus shape).

    Returns
    -------
    ndarray
        Latency (ms) per neuron; NaN where the neuron never fired.
    """
    C.sim_result("res", res)
    if onset is None:
        onset = _stimulus_onset(res)
    else:
        onset = C.per_neuron_array("onset", onset)
        try:
            fits = np.broadcast_shapes(onset.shape, res.shape) == res.shape
        except ValueError:
            fits = False
        if not fits:
            raise InputValueError(f"onset of shape {onset.shape} does not broadcast with the "
                                  f"batch shape {res.shape}") from None
    return res.first_spike - onset


def firing_pattern(res: SimResult) -> np.ndarray:
    """Classify each neuron's firing in the analysis window: ``QUIET`` (0), ``TRANSIENT`` (1)
    or ``SUSTAINED`` (2).

    *Sustained*: at least ``config.SUSTAINED_MIN_SPIKES`` spikes in the window and the last
    one less than ``config.SUSTAINED_GAP_ISIS`` mean ISIs before the window's end, i.e. still
    firing when the window closes.  *Transient*: some spike in the run, but not sustained (a
    burst at the onset, or firing that died out: the slow passage near a fold of limit cycles,
    a depolarisation block).  *Quiet*: no spike at all in the run.  A diverged neuron is never
    sustained.
    """
    C.sim_result("res", res)
    c = res.window_count
    gap = res.window[0] + res.window_span - res.window_last  # to the end of what was computed
    with np.errstate(invalid="ignore"):
        sustained = (
            (c >= config.SUSTAINED_MIN_SPIKES)
            & (gap < config.SUSTAINED_GAP_ISIS * isi_mean(res))
            & ~res.diverged
        )
    out = np.where(res.spike_count > 0, TRANSIENT, QUIET)
    return np.where(sustained, SUSTAINED, out).astype(np.int8)


def is_sustained(res: SimResult) -> np.ndarray:
    """True where :func:`firing_pattern` is ``SUSTAINED``."""
    C.sim_result("res", res)
    return firing_pattern(res) == SUSTAINED


def sustained_rate(res: SimResult) -> np.ndarray:
    """Steady firing rate (Hz): ``isi_rate`` (1 / mean ISI in the window) where the firing is
    sustained, 0 elsewhere (quiet or transient neurons do not fire repetitively)."""
    C.sim_result("res", res)
    return np.where(is_sustained(res), isi_rate(res), 0.0)


class _Metrics(dict):
    """The dict of :func:`window_metrics`; a renamed key still answers ``m[old]``, warning."""

    def __missing__(self, key):
        if key in RENAMED_METRICS:
            warn_renamed(f"the metric {key!r}", repr(RENAMED_METRICS[key]), COUNT_RATE_IS)
            return self[RENAMED_METRICS[key]]
        raise KeyError(key)


def window_metrics(res: SimResult) -> dict[str, np.ndarray]:
    """The standard per-neuron metrics of a run, each with the batch shape:
    ``spike_count, count_rate, isi_rate, isi_mean, isi_cv, first_spike, latency, pattern,
    sustained_rate, diverged`` (see the module docstring for the rate definitions; the old key
    ``"rate"`` still answers ``m["rate"]``, with a :class:`~hhfast.errors.RenamedWarning`)."""
    C.sim_result("res", res)
    return _Metrics({
        "spike_count": res.spike_count,
        "count_rate": count_rate(res),
        "isi_rate": isi_rate(res),
        "isi_mean": isi_mean(res),
        "isi_cv": isi_cv(res),
        "first_spike": res.first_spike,
        "latency": latency(res),
        "pattern": firing_pattern(res),
        "sustained_rate": sustained_rate(res),
        "diverged": res.diverged,
    })


def spike_reliability(trains, width: float) -> float:
    """Spike-time reliability of repeated trials (Schreiber, Fellous, Whitmer, Tiesinga &
    Sejnowski 2003): the mean, over all pairs of trials, of the cosine similarity of the
    trains smoothed by a Gaussian of standard deviation ``width`` (ms).

    With Gaussian smoothing the inner product of two smoothed trains is, up to a constant,
    ``sum_ij exp(-(t_i - s_j)^2 / (4 width^2))``, so no time grid is needed.  1 for identical
    trains, ``exp(-d^2 / (4 width^2))`` for two single spikes ``d`` ms apart, near 0 for
    unrelated sparse trains.  Typical use: trials with the same frozen noise (the same
    ``trial`` id and ``seed``) from different initial states, ``res.spike_times`` (or its
    NaN-padded ``.array``).

    Silent trials count (the cosine is 0/0 for an empty train, so a rule is needed):

    * a silent and a spiking trial score **0** — the smoothed trains do not overlap at all;
    * two silent trials score **1** — they are identical trains (the empty one), as two equal
      spiking trains score 1, and repeated trials that agree on "no spike" are reproducible.

    Every pair of trials thus enters the mean, and a fraction of silent trials lowers the score
    in proportion to the disagreement: 2 identical spiking trials and 8 silent ones score
    (1 + 28) / 45 = 0.64 (the 16 mixed pairs score 0), not 1.  All trials silent scores 1.
    To measure timing among the spiking trials alone, pass only those.

    Parameters
    ----------
    trains : sequence of 1-D arrays, or 2-D array
        Spike times (ms) of each trial (at least two trials); rows may be NaN-padded, as
        ``SimResult.spike_times.array`` is (NaN entries are no spikes).
    width : float
        Smoothing width (ms), > 0.

    Returns
    -------
    float
        In [0, 1].
    """
    width = C.real("width", width, positive=True)  # ms
    if isinstance(trains, (str, bytes)) or not isinstance(trains, (Sequence, np.ndarray)):
        raise InputTypeError(f"trains must be a sequence of spike-time arrays (ms), got "
                             f"{trains!r}")
    checked = []
    for i, t in enumerate(trains):
        try:
            checked.append(np.asarray(t, dtype=float).reshape(-1))
        except (TypeError, ValueError):
            raise InputTypeError(f"trains[{i}] must be an array of spike times (ms), got "
                                 f"{t!r}") from None
    trains = checked
    if len(trains) < 2:
        raise InputValueError(f"trains must hold at least two trials, got {len(trains)}")
    trains = [t[~np.isnan(t)] for t in trains]  # NaN padding: no spike
    for i, t in enumerate(trains):
        if not np.isfinite(t).all():
            raise InputValueError(f"trains[{i}] holds an infinite spike time: {t!r}")
    c = -1.0 / (4.0 * width * width)

    def dot(a, b):
        return float(np.exp(c * (a[:, None] - b[None, :]) ** 2).sum())

    norms = [np.sqrt(dot(t, t)) for t in trains]
    total, pairs = 0.0, 0
    for i in range(len(trains)):
        for j in range(i + 1, len(trains)):
            si, sj = trains[i].size == 0, trains[j].size == 0
            if si or sj:
                total += 1.0 if si and sj else 0.0  # silent pairs agree; silent vs spiking: 0
            else:
                total += dot(trains[i], trains[j]) / (norms[i] * norms[j])
            pairs += 1
    return total / pairs
