"""Spikes -> rates, inter-spike-interval statistics (and, built on these, f–I analysis).

Everything here works on the O(1)-per-neuron window statistics a run accumulates (spike count,
first and last spike time and sum of squared ISIs inside the analysis window), so it never needs
the stored spike times and is exact whatever the number of spikes.
"""

from __future__ import annotations

import numpy as np

from .result import SimResult

__all__ = ["spike_rate", "isi_rate", "isi_mean", "isi_cv", "window_metrics"]


def spike_rate(res: SimResult) -> np.ndarray:
    """Spikes in the analysis window divided by its duration (Hz), per neuron."""
    return res.rate()


def isi_mean(res: SimResult) -> np.ndarray:
    """Mean inter-spike interval (ms) of the spikes inside the window; NaN with < 2 spikes."""
    c = res.window_count
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c >= 2, (res.window_last - res.window_first) / (c - 1), np.nan)


def isi_rate(res: SimResult) -> np.ndarray:
    """1 / mean ISI (Hz): the rate of the firing inside the window, insensitive to where the
    window cuts the spike train; NaN with fewer than 2 spikes."""
    return 1e3 / isi_mean(res)


def isi_cv(res: SimResult) -> np.ndarray:
    """Coefficient of variation of the ISIs inside the window; NaN with fewer than 3 spikes
    (one interval has no spread)."""
    c = res.window_count
    mean = isi_mean(res)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = res.window_isi_sumsq / (c - 1) - mean * mean
        cv = np.sqrt(np.maximum(var, 0.0)) / mean
    return np.where(c >= 3, cv, np.nan)


def window_metrics(res: SimResult) -> dict[str, np.ndarray]:
    """The standard per-neuron metrics of a run, each with the batch shape:
    ``spike_count, rate, isi_rate, isi_mean, isi_cv, first_spike, diverged``."""
    return {
        "spike_count": res.spike_count,
        "rate": spike_rate(res),
        "isi_rate": isi_rate(res),
        "isi_mean": isi_mean(res),
        "isi_cv": isi_cv(res),
        "first_spike": res.first_spike,
        "diverged": res.diverged,
    }
