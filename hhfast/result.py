"""SimResult: the arrays a run produced, with the per-neuron values that made them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _values as C
from .errors import InputValueError, warn_renamed


class SpikeTimes:
    """Per-neuron spike times (ms), the first ``max_spikes`` of each neuron.

    ``spikes[i]`` is a 1-D array of neuron ``i``'s stored spike times (``i`` a flat index or a
    tuple into the batch shape); ``spikes.array`` the padded ``(N, max_spikes)`` array (NaN
    where no spike); ``spikes.overflow`` how many spikes per neuron were counted but not stored.
    """

    def __init__(self, array: np.ndarray, count: np.ndarray, shape: tuple[int, ...]):
        self.array = array
        self._count = count.reshape(-1)
        self.shape = shape

    def _flat(self, i) -> int:
        if isinstance(i, tuple):
            return int(np.ravel_multi_index(i, self.shape))
        i = int(i)
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"neuron index {i} out of range for {n} neurons")
        return i % n

    def __getitem__(self, i) -> np.ndarray:
        j = self._flat(i)
        return self.array[j, : min(self._count[j], self.array.shape[1])]

    def __len__(self) -> int:
        return self.array.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def overflow(self) -> np.ndarray:
        """Spikes counted but not stored, per neuron (reshaped to the batch shape)."""
        return np.maximum(self._count - self.array.shape[1], 0).reshape(self.shape)

    def __repr__(self) -> str:
        return f"SpikeTimes({len(self)} neurons, up to {self.array.shape[1]} each{self._cut()})"

    def _cut(self) -> str:
        """``"; N truncated: first K of up to M spikes stored"`` when not all were stored."""
        k = self.array.shape[1]
        over = self._count > k
        if not over.any():
            return ""
        return (f"; {int(over.sum())} truncated: first {k} of up to {int(self._count.max())} "
                f"spikes stored")


#: metric names renamed in issue 18 -> their new names: a sweep's metrics, the keys of
#: ``analysis.window_metrics`` (docs/architecture.md §5)
RENAMED_METRICS = {"rate": "count_rate"}
#: what tells the count rate from the ISI rate, for the renamed names' warnings
COUNT_RATE_IS = "spikes in the window / its duration, beside isi_rate = 1 / mean ISI"


@dataclass
class SimResult:
    """The outcome of :func:`hhfast.simulate`.

    Per-neuron arrays have the batch shape (the broadcast shape of the per-neuron values).

    Attributes
    ----------
    t : ndarray, shape (S,)
        Times (ms) of the recorded samples (empty without recording).
    traces : dict[str, ndarray]
        Recorded state variables, each of shape (M, S): ``traces["V"][j]`` is the V (mV) trace
        of neuron ``recorded[j]``.  Also reachable as ``res.V``, ``res.n``, ``res.m``, ``res.h``.
    recorded : ndarray of int
        Flat indices of the recorded neurons.
    spike_count : ndarray of int
        Upward threshold crossings per neuron over the whole run.
    spike_times : SpikeTimes
        The first ``max_spikes`` spike times per neuron (ms, cubic-Hermite interpolated).
    first_spike : ndarray
        Time of the first spike (ms), NaN if none.
    diverged : ndarray of bool
        Neurons whose state stopped being finite; they were frozen at their last finite state.
    diverged_time : ndarray
        End time (ms) of the step where the state stopped being finite, NaN if it never did.
    final_state : dict[str, ndarray]
        ``V, n, m, h`` at the end of the run (or at the freeze, for diverged neurons).
    window : tuple[float, float]
        The analysis window ``[t0, t1)`` (ms) of the ``window_*`` statistics.
    window_count, window_first, window_last, window_isi_sumsq : ndarray
        Spikes in the window, first and last spike time in it (ms, NaN if none), and the sum
        of squared inter-spike intervals inside it (ms²): O(1) memory per neuron whatever the
        number of spikes.
    params : dict[str, ndarray]
        Every per-neuron value of the run (model fields, ``amplitude``, ``bias``, ``threshold``,
        ``V0, n0, m0, h0``), broadcast to the batch shape (read-only views, no copies).
    t_stop : float
        End time of the run (ms): the last step's end for fixed-step methods, exactly the
        requested ``t_stop`` for adaptive ones.
    n_steps : int
        Steps per neuron (fixed-step); for adaptive methods the most accepted steps of any
        neuron.
    steps_accepted, steps_rejected : ndarray of int or None
        Adaptive methods: steps each neuron accepted and rejected (None for fixed-step).
    step_limited : ndarray of bool or None
        Adaptive methods: neurons stopped by the ``max_steps`` guard (frozen at that point; a
        :class:`~hhfast.errors.StepLimitWarning` says so).
    stop_time : ndarray or None
        Adaptive methods: the time (ms) at which the ``max_steps`` guard stopped each neuron,
        NaN for neurons it did not stop.  The window statistics of a stopped neuron
        (:meth:`count_rate`, :attr:`window_span`, the ``hhfast.analysis`` metrics) cover only the
        window up to it.
    rtol, atol : float or None
        Adaptive methods: the tolerances of the run.
    noise_current : ndarray or None
        The Ornstein–Uhlenbeck noise current (µA/cm²) at the end of a noisy run (0 for
        white-noise and noiseless neurons); None for a noiseless run.
    channel_noise : str or None
        The channel-noise model of the run (``simulate(channel_noise=...)``), None without.
    spike_armed : ndarray of bool or None
        The spike detector's state at the end of the run per neuron (armed: the next upward
        threshold crossing counts; disarmed: V has not yet fallen below the re-arm level
        since the last spike; docs/guide/simulate.md), passed on by :meth:`continuation`.  None
        for the Markov reference.
    features : dict[str, ndarray]
        The electrophysiology features asked for with ``simulate(features=...)``: name ->
        float64 array of the batch shape (a trailing window axis when ``feature_window`` was
        a list of windows), NaN where undefined (:mod:`hhfast.features`); empty without.
    """

    t: np.ndarray
    traces: dict
    recorded: np.ndarray
    spike_count: np.ndarray
    spike_times: SpikeTimes
    first_spike: np.ndarray
    diverged: np.ndarray
    diverged_time: np.ndarray
    final_state: dict
    window: tuple
    window_count: np.ndarray
    window_first: np.ndarray
    window_last: np.ndarray
    window_isi_sumsq: np.ndarray
    params: dict
    method: str
    dt: float
    t_start: float
    t_stop: float
    n_steps: int
    stimulus: object = None
    info: dict = field(default_factory=dict)
    steps_accepted: np.ndarray | None = None
    steps_rejected: np.ndarray | None = None
    step_limited: np.ndarray | None = None
    stop_time: np.ndarray | None = None
    rtol: float | None = None
    atol: float | None = None
    noise_current: np.ndarray | None = None
    channel_noise: str | None = None
    spike_armed: np.ndarray | None = None
    features: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape."""
        return self.spike_count.shape

    @property
    def size(self) -> int:
        return int(self.spike_count.size)

    def __getattr__(self, name):
        traces = self.__dict__.get("traces", {})
        if name in ("V", "n", "m", "h"):
            if name in traces:
                return traces[name]
            raise AttributeError(
                f"{name!r} was not recorded; pass record='{name}' (or 'V,n,m,h') to simulate"
            )
        raise AttributeError(name)

    def _computed_until(self, t1: float) -> np.ndarray | float:
        """``t1`` (ms), or per neuron the earlier ``stop_time`` of neurons the ``max_steps``
        guard stopped (nothing after it was computed)."""
        if self.stop_time is None or not self.step_limited.any():
            return t1
        return np.where(self.step_limited, np.minimum(self.stop_time, t1), t1)

    @property
    def window_span(self) -> np.ndarray:
        """Per neuron, the duration (ms) of the analysis window that was computed:
        ``window[1] - window[0]``, less for neurons stopped by ``max_steps`` before the window's
        end (0 if stopped before it began)."""
        w0, w1 = self.window
        return np.broadcast_to(np.maximum(self._computed_until(w1) - w0, 0.0), self.shape)

    def rate(self, t0: float | None = None, t1: float | None = None) -> np.ndarray:
        """Deprecated name of :meth:`count_rate` (warns :class:`~hhfast.errors.RenamedWarning`)."""
        warn_renamed("SimResult.rate", "SimResult.count_rate", COUNT_RATE_IS)
        return self.count_rate(t0, t1)

    def count_rate(self, t0: float | None = None, t1: float | None = None) -> np.ndarray:
        """Count rate (Hz) per neuron: spikes in ``[t0, t1)`` divided by its duration
        (not 1 / mean ISI: that is :func:`hhfast.analysis.isi_rate`; docs/architecture.md §5).

        Without arguments, the run's analysis window (exact whatever the spike count).  With
        another window, the stored spike times are used; neurons whose stored times may miss
        spikes in it (more spikes than ``max_spikes``) raise ``ValueError`` — pass
        ``window=(t0, t1)`` to :func:`hhfast.simulate` or a larger ``max_spikes``.  The window
        must lie within the run ``[t_start, t_stop]`` (``t1 = inf`` means its end): spikes
        outside it were never simulated.  For neurons stopped by the ``max_steps`` guard
        (``step_limited``) the window ends at their ``stop_time``: NaN if it ends before it
        begins.
        """
        if t0 is None and t1 is None:
            span = self.window_span
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(span > 0, self.window_count / (span * 1e-3), np.nan)
        t0 = self.window[0] if t0 is None else C.real("t0", t0)
        t1 = self.window[1] if t1 is None else C.real("t1", t1, allow_inf=True)
        if not t1 > t0:
            raise InputValueError(f"rate window needs t1 > t0, got t0={t0!r}, t1={t1!r}")
        C.window_within(t0, t1, self.t_start, self.t_stop, name="rate window (t0, t1)")
        t1 = min(t1, self.t_stop)
        arr = self.spike_times.array
        count = self.spike_count.reshape(-1)
        full = arr.shape[1]
        incomplete = (count > full) & ~(arr[:, full - 1] >= t1) if full else count > 0
        if np.any(incomplete):
            raise InputValueError(
                f"{int(incomplete.sum())} neurons fired more than max_spikes={full} spikes before "
                f"t1={t1} ms, so their rate over [{t0}, {t1}) is not known from stored times; "
                f"pass window=({t0}, {t1}) to simulate (exact, O(1) memory) or raise max_spikes"
            )
        with np.errstate(invalid="ignore"):
            n = np.sum((arr >= t0) & (arr < t1), axis=1)
        span = np.broadcast_to(self._computed_until(t1) - t0, self.shape).reshape(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(span > 0, n / (span * 1e-3), np.nan).reshape(self.shape)

    def continuation(self) -> dict:
        """Keyword arguments that continue this run: ``simulate(..., **res.continuation())``
        (final state as initial values, the spike detector's state as ``spike_armed``,
        ``t_start`` at this run's end): the continued run counts the spikes the unbroken run
        would have counted.

        Refused (``InputValueError``) when the ``max_steps`` guard stopped some neuron before
        ``t_stop``: its state belongs to its ``stop_time``, not to ``t_stop``, and one call
        has one ``t_start``.

        Not for channel-noise runs (nor the Markov reference): their state includes the
        channel occupancies, which ``simulate`` does not take as initial values; run the
        whole span in one call instead (memory does not grow with it)."""
        if self.step_limited is not None and self.step_limited.any():
            k = int(self.step_limited.sum())
            raise InputValueError(
                f"continuation() cannot continue this run: {k} of {self.size} neurons were "
                f"stopped by the max_steps guard before t_stop={self.t_stop} ms (earliest at "
                f"t={float(np.nanmin(self.stop_time)):.6g} ms, see stop_time), so their final "
                f"state is not the state at t_stop; rerun with a larger max_steps or looser "
                f"rtol/atol")
        if self.channel_noise is not None or self.method == "markov":
            raise InputValueError(
                "continuation() cannot continue a channel-noise run: its state includes the "
                "channel occupancies, which simulate does not take as initial values; run the "
                "whole span in one call (memory does not grow with t_stop)")
        out = {
            "t_start": self.t_stop,  # t_start + n_steps * dt for fixed-step runs
            **{f"{k}0": v for k, v in self.final_state.items()},
        }
        if self.noise_current is not None:  # a noisy run: its OU current is state too
            out["noise_I0"] = self.noise_current
        if self.spike_armed is not None:  # disarmed between a spike and V's fall below re-arm
            out["spike_armed"] = self.spike_armed
        return out

    def __repr__(self) -> str:
        rec = ",".join(self.traces) or "none"
        return (
            f"SimResult({self.size} neurons, method={self.method!r}, dt={self.dt} ms, "
            f"t=[{self.t_start}, {self.t_stop}] ms, recorded={rec}, "
            f"spikes={int(self.spike_count.sum())}, diverged={int(self.diverged.sum())}"
            f"{self.spike_times._cut()})"
        )
