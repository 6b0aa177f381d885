"""Electrophysiology features computed inside the kernel, named and defined as eFEL's
(docs/architecture.md §3.2; the guide's page "Features" has the table and the measured
agreement with eFEL).

``simulate(..., features=[names], feature_window=(t0, t1))`` fills ``SimResult.features``:
name -> float64 array of the batch shape (NaN where the feature is undefined, e.g. no spike),
with a trailing window axis when ``feature_window`` is a list of windows.  The kernel keeps
O(1) numbers per neuron and window (streaming moments, per-spike bookkeeping), never a trace.

eFEL's ``stim_start``/``stim_end`` are the window's ``t0``/``t1`` and its ``Threshold`` is the
run's spike threshold.  Spikes are eFEL's: a spike runs from an upward crossing of the
threshold to the next downward one (no hysteresis) and its time is its peak's (the largest
sample), not the engine's threshold-crossing time.  Where eFEL returns one value per spike
(``AP_amplitude``, ``AP_duration_half_width``, ``AHP_depth_abs``, ``AHP_depth``,
``ISI_values``), the feature is the mean over the spikes whose peak lies in the window
(eFEL's ``mean_AP_amplitude`` is that mean for ``AP_amplitude``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import config
from ._values import real
from .errors import InputTypeError, InputValueError
from .kernels import layout as L

#: the features ``simulate(features=...)`` accepts, in the order of the guide's table
NAMES = (
    "Spikecount",
    "mean_frequency",
    "time_to_first_spike",
    "ISI_values",
    "ISI_CV",
    "adaptation_index",
    "AP_amplitude",
    "AP_duration_half_width",
    "AHP_depth_abs",
    "AHP_depth",
    "voltage_base",
    "steady_state_voltage_stimend",
    "voltage_mean",
    "voltage_std",
)

#: one line per feature: what it is (units), and how it relates to eFEL's
DESCRIPTIONS = {
    "Spikecount": "peaks in [t0, t1] (eFEL spike_count_stimint; Spikecount for the whole run)",
    "mean_frequency": "peaks in [t0, t1] × 1000 / (last peak − t0) (Hz; eFEL mean_frequency)",
    "time_to_first_spike": "first peak in [t0, t1] − t0 (ms; eFEL time_to_first_spike)",
    "ISI_values": "mean ISI between peaks in [t0, t1], first ISI dropped (ms; eFEL "
                  "ISI_values, ignore_first_ISI)",
    "ISI_CV": "SD (ddof 1) / mean of those ISIs (eFEL ISI_CV)",
    "adaptation_index": "mean of (ISI_i − ISI_{i−1}) / (ISI_i + ISI_{i−1}) after skipping "
                        "round(0.1 N) ≤ 2 spikes (eFEL adaptation_index)",
    "AP_amplitude": "mean of peak − V at AP begin (mV; eFEL AP_amplitude, mean_AP_amplitude)",
    "AP_duration_half_width": "mean width at half-way from AP begin to peak (ms; eFEL "
                              "AP_duration_half_width)",
    "AHP_depth_abs": "mean AHP minimum after each peak (mV; eFEL AHP_depth_abs)",
    "AHP_depth": "AHP_depth_abs − voltage_base (mV; eFEL AHP_depth)",
    "voltage_base": "mean V over [0.9 t0, t0] (mV; eFEL voltage_base)",
    "steady_state_voltage_stimend": "mean V over [t1 − 0.1 (t1 − t0), t1) (mV; eFEL "
                                    "steady_state_voltage_stimend)",
    "voltage_mean": "mean V over [t0, t1) (mV; no eFEL equivalent)",
    "voltage_std": "population SD (ddof 0) of V over [t0, t1) (mV; no eFEL equivalent)",
}


def check_names(features) -> tuple[str, ...]:
    """``features`` as a tuple of known names (None: none); an unknown name is an
    :class:`~hhfast.errors.InputValueError` listing the valid ones."""
    if features is None:
        return ()
    if isinstance(features, str):
        features = [features]
    try:
        names = list(features)
    except TypeError:
        raise InputTypeError(
            f"features must be a list of feature names, got {features!r}") from None
    for n in names:
        if not isinstance(n, str) or n not in NAMES:
            raise InputValueError(
                f"features: unknown feature {n!r}; choose from {list(NAMES)}")
    return tuple(dict.fromkeys(names))


def check_windows(window, t_start: float, t_end: float) -> tuple[np.ndarray, bool]:
    """The feature windows as ``(win[NW, 2], several)`` (ms): one pair ``(t0, t1)`` (None:
    the whole run), or a list of pairs (``several``: the features get a trailing window
    axis).  Each must satisfy ``t_start <= t0 < t1 <= t_end``."""
    if window is None:
        return np.array([[t_start, t_end]]), False
    if isinstance(window, np.ndarray) and window.ndim == 2 or (
            isinstance(window, Sequence) and not isinstance(window, str) and len(window) > 0
            and all(isinstance(w, (Sequence, np.ndarray)) and not isinstance(w, str)
                    for w in window)):
        pairs, several = list(window), True
    else:
        pairs, several = [window], False
    out = []
    for k, w in enumerate(pairs):
        name = "feature_window" + (f"[{k}]" if several else "")
        try:
            t0, t1 = w
        except (TypeError, ValueError):
            raise InputTypeError(f"{name} must be a pair (t0, t1) in ms, got {w!r}") from None
        t0, t1 = real(f"{name}[0]", t0), real(f"{name}[1]", t1)
        if not t1 > t0:
            raise InputValueError(f"{name} must have t1 > t0, got {w!r}")
        # 1e-9 relative: t_end is t_start + steps * dt, rounded
        slack = 1e-9 * max(1.0, abs(t_end))
        if t0 < t_start - slack or t1 > t_end + slack:
            raise InputValueError(
                f"{name} = {w!r} must lie within the run [{t_start!r}, {t_end!r}] ms")
        out.append((t0, t1))
    if not out:
        raise InputValueError("feature_window: an empty list of windows")
    return np.array(out, dtype=float), several


def window_table(win: np.ndarray) -> np.ndarray:
    """The kernel's window table ``[NW, NWC]`` (columns ``layout.W_*``) of windows
    ``win[NW, 2]``: eFEL's voltage_base and stimulus-end windows derived from each."""
    t0, t1 = win[:, 0], win[:, 1]
    tab = np.empty((win.shape[0], L.NWC))
    tab[:, L.W_T0] = t0
    tab[:, L.W_T1] = t1
    vb0, vb1 = config.FEATURE_VB_START_PERC * t0, config.FEATURE_VB_END_PERC * t0
    # eFEL refuses an empty voltage_base window (t0 <= 0): nothing booked, NaN
    tab[:, L.W_VB0] = np.where(vb0 < vb1, vb0, np.inf)
    tab[:, L.W_VB1] = vb1
    tab[:, L.W_SS0] = t1 - config.FEATURE_SS_FRACTION * (t1 - t0)
    return tab


def accumulators(n: int, n_windows: int) -> np.ndarray:
    """Fresh accumulators ``A[NA, NW, n]`` (float64) for ``n`` neurons."""
    return np.zeros((L.NA, n_windows, n))


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def from_accumulators(A: np.ndarray, win: np.ndarray, names: Sequence[str]) -> dict:
    """Feature name -> float64 array ``[NW, N]`` from the kernel's accumulators ``A[NA, NW,
    N]`` and the windows ``win[NW, 2]`` (module docstring; NaN where undefined)."""
    t0 = win[:, 0:1]
    N = A[L.A_N]
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        vb = _div(A[L.A_VBS], A[L.A_VBN])
        for name in names:
            if name == "Spikecount":
                v = N.copy()
            elif name == "mean_frequency":
                span = A[L.A_LAST] - t0
                v = np.where((N > 0) & (span > 0), N * 1000.0 / span, np.nan)
            elif name == "time_to_first_spike":
                v = np.where(N > 0, A[L.A_FIRST] - t0, np.nan)
            elif name == "ISI_values":
                v = np.where(A[L.A_ISIN] > 0, A[L.A_ISIMEAN], np.nan)
            elif name == "ISI_CV":
                n = A[L.A_ISIN]
                v = np.where(n >= 2, np.sqrt(A[L.A_ISIM2] / (n - 1)) / A[L.A_ISIMEAN], np.nan)
            elif name == "adaptation_index":
                v = _adaptation(A)
            elif name == "AP_amplitude":
                v = _div(A[L.A_AMPS], A[L.A_AMPN])
            elif name == "AP_duration_half_width":
                v = _div(A[L.A_HWS], A[L.A_HWN])
            elif name == "AHP_depth_abs":
                v = _div(A[L.A_AHPS], A[L.A_AHPN])
            elif name == "AHP_depth":
                v = _div(A[L.A_AHPS], A[L.A_AHPN]) - vb
            elif name == "voltage_base":
                v = vb
            elif name == "steady_state_voltage_stimend":
                v = _div(A[L.A_SSS], A[L.A_SSN])
            elif name == "voltage_mean":
                v = np.where(A[L.A_VN] > 0, A[L.A_VMEAN], np.nan)
            elif name == "voltage_std":
                v = np.sqrt(_div(A[L.A_VM2], A[L.A_VN]))
            else:  # pragma: no cover - names are checked before any run
                raise InputValueError(f"unknown feature {name!r}")
            out[name] = np.asarray(v, dtype=np.float64)
    return out


def _adaptation(A: np.ndarray) -> np.ndarray:
    """eFEL's adaptation_index from the streamed sums: with N peaks in the window it skips
    s = min(int(0.1 N + 0.5), 2) spikes, and the sum of the ratios from the (s + 2)-th ISI on
    is the whole sum less r_2 (s >= 1) and r_3 (s = 2); defined for N − s >= 4."""
    N = A[L.A_N]
    s = np.minimum((N * config.FEATURE_SPIKE_SKIPF + 0.5).astype(np.int64),
                   config.FEATURE_MAX_SPIKE_SKIP)
    total = A[L.A_ADI] - np.where(s >= 1, A[L.A_R2], 0.0) - np.where(s >= 2, A[L.A_R3], 0.0)
    pairs = N - s - 2
    return np.where(N - s >= 4, total / np.where(pairs > 0, pairs, 1.0), np.nan)

