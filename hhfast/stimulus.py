"""Stimulus protocols and the one numeric form every kernel reads.

Every protocol here is a piecewise-linear function of time ``shape(t)`` (dimensionless or
µA/cm², as you like: a neuron receives ``I(t) = bias + amplitude * shape(t)`` µA/cm², with
``amplitude = 1`` by default).  The canonical form is a sorted table of breakpoints
``t[k]`` (ms) with, on ``[t[k], t[k+1])``, ``shape(t) = c0[k] + c1[k] * t``; before the first
breakpoint the shape is 0 and the last piece runs to +inf.  The function is right-continuous:
at an edge it takes the value just after the edge.

How kernels read it (the *edge rule*).  A step ``[t, t + dt]`` that lies inside one piece
sees that piece's exact values at every stage (the value just after ``t`` at the start, the
value just before ``t + dt`` at the end), so RK4 keeps its order when edges sit on the time
grid.  A step with a breakpoint strictly inside it sees, at every stage, the *mean* of the
stimulus over the step: the charge delivered is exact whatever dt is, and the timing error of
the edge is at most one step (local error O(dt²)).  An edge within ``config.EDGE_SNAP * dt`` of
a grid point counts as on the grid.  The scipy reference integrates piecewise, restarting at
every breakpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Stimulus", "pulses", "step", "pulse_train", "ramp", "waveform", "as_tables"]


def _finite(name: str, value, allow_inf: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


@dataclass(frozen=True, eq=False)
class Stimulus:
    """A piecewise-linear current shape (see the module docstring for the convention).

    Build one with :func:`pulses`, :func:`step`, :func:`pulse_train`, :func:`ramp` or
    :func:`waveform`; add them with ``+`` and scale them with ``*``.

    Attributes
    ----------
    t : ndarray, shape (K,)
        Breakpoints (ms), strictly increasing, finite.
    c0, c1 : ndarray, shape (K,)
        On ``[t[k], t[k+1])`` the shape is ``c0[k] + c1[k] * t`` (c1 in 1/ms).
    """

    t: np.ndarray
    c0: np.ndarray
    c1: np.ndarray

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def _from_pieces(pieces) -> Stimulus:
        """Sum of linear pieces ``(start, stop, c0, c1)`` (value ``c0 + c1*t`` on [start, stop))."""
        if not pieces:
            return Stimulus(np.zeros(0), np.zeros(0), np.zeros(0))
        bps = sorted({p[0] for p in pieces} | {p[1] for p in pieces if math.isfinite(p[1])})
        t = np.array(bps, dtype=float)
        c0 = np.zeros_like(t)
        c1 = np.zeros_like(t)
        for start, stop, a, b in pieces:
            on = (t >= start) & (t < stop)
            c0[on] += a
            c1[on] += b
        return Stimulus(t, c0, c1)._simplified()

    def _pieces(self):
        stops = np.append(self.t[1:], np.inf)
        return [(a, b, c, d) for a, b, c, d in zip(self.t, stops, self.c0, self.c1)]

    def _simplified(self) -> Stimulus:
        """Drop breakpoints where nothing changes (and a leading run of zeros)."""
        keep = np.ones(len(self.t), dtype=bool)
        prev = (0.0, 0.0)
        for k in range(len(self.t)):
            cur = (self.c0[k], self.c1[k])
            if cur == prev:
                keep[k] = False
            prev = cur
        return Stimulus(self.t[keep].copy(), self.c0[keep].copy(), self.c1[keep].copy())

    def __add__(self, other: Stimulus) -> Stimulus:
        if not isinstance(other, Stimulus):
            return NotImplemented
        return Stimulus._from_pieces(self._pieces() + other._pieces())

    def __mul__(self, factor: float) -> Stimulus:
        f = _finite("factor", factor)
        return Stimulus(self.t.copy(), self.c0 * f, self.c1 * f)._simplified()

    __rmul__ = __mul__

    # -- evaluation -------------------------------------------------------------------------
    def __call__(self, t) -> np.ndarray:
        """Shape at time(s) ``t`` (ms), right-continuous at edges."""
        t = np.asarray(t, dtype=float)
        k = np.searchsorted(self.t, t, side="right") - 1
        kc = np.clip(k, 0, max(len(self.t) - 1, 0))
        if len(self.t) == 0:
            return np.zeros_like(t)
        return np.where(k >= 0, self.c0[kc] + self.c1[kc] * t, 0.0)

    def left(self, t) -> np.ndarray:
        """Shape just before time(s) ``t`` (the left limit)."""
        t = np.asarray(t, dtype=float)
        if len(self.t) == 0:
            return np.zeros_like(t)
        k = np.searchsorted(self.t, t, side="left") - 1
        kc = np.clip(k, 0, len(self.t) - 1)
        return np.where(k >= 0, self.c0[kc] + self.c1[kc] * t, 0.0)

    @property
    def edges(self) -> np.ndarray:
        """Breakpoints (ms) where the shape or its slope changes."""
        return self.t.copy()

    @property
    def is_zero(self) -> bool:
        return len(self.t) == 0

    def max_abs(self) -> float:
        """max |shape(t)| over all t (attained at a breakpoint's limits: it is piecewise linear)."""
        if self.is_zero:
            return 0.0
        ends = np.append(self.t[1:], self.t[-1])
        vals = np.concatenate([self(self.t), self.left(ends), [0.0]])
        if self.c1[-1] != 0.0:
            return math.inf
        return float(np.max(np.abs(vals)))

    # -- description ------------------------------------------------------------------------
    def to_spec(self) -> dict:
        """A JSON/TOML-friendly description (the canonical piecewise form)."""
        return {
            "type": "piecewise",
            "t": self.t.tolist(),
            "c0": self.c0.tolist(),
            "c1": self.c1.tolist(),
        }

    @staticmethod
    def from_spec(spec: dict) -> Stimulus:
        """Build a stimulus from a dict: ``{"type": "step", "start": 0, ...}``; the types are
        ``pulses`` (key ``pulses``: list of [start, stop, amp]), ``step``, ``pulse_train``,
        ``ramp``, ``waveform``, ``piecewise`` and ``sum`` (key ``terms``: list of specs)."""
        if not isinstance(spec, dict) or "type" not in spec:
            raise ValueError(f"stimulus spec must be a table with a 'type' key, got {spec!r}")
        kind = spec["type"]
        args = {k: v for k, v in spec.items() if k != "type"}
        makers = {
            "pulses": lambda a: pulses(a["pulses"]),
            "step": lambda a: step(**a),
            "pulse_train": lambda a: pulse_train(**a),
            "ramp": lambda a: ramp(**a),
            "waveform": lambda a: waveform(a["times"], a["values"]),
            "piecewise": lambda a: Stimulus(
                np.asarray(a["t"], float), np.asarray(a["c0"], float), np.asarray(a["c1"], float)
            ),
            "sum": lambda a: sum((Stimulus.from_spec(s) for s in a["terms"]), Stimulus.zero()),
        }
        if kind not in makers:
            raise ValueError(f"stimulus type {kind!r} is unknown; expected one of {sorted(makers)}")
        try:
            return makers[kind](args)
        except KeyError as e:
            raise ValueError(f"stimulus spec of type {kind!r} lacks key {e.args[0]!r}") from None
        except TypeError as e:
            raise ValueError(f"stimulus spec of type {kind!r}: {e}") from None

    @staticmethod
    def zero() -> Stimulus:
        """No current at all."""
        return Stimulus(np.zeros(0), np.zeros(0), np.zeros(0))

    def __repr__(self) -> str:
        return f"Stimulus(breakpoints={self.t.tolist()}, c0={self.c0.tolist()}, c1={self.c1.tolist()})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Stimulus)
            and np.array_equal(self.t, other.t)
            and np.array_equal(self.c0, other.c0)
            and np.array_equal(self.c1, other.c1)
        )

    def __hash__(self) -> int:
        return hash((self.t.tobytes(), self.c0.tobytes(), self.c1.tobytes()))


# -- protocols --------------------------------------------------------------------------------
def pulses(spec: Sequence[tuple[float, float, float]]) -> Stimulus:
    """Rectangular pulses ``[(start ms, stop ms, amplitude), ...]``; overlapping pulses add.

    ``pulses([(0, 1, 150), (10, 11, 50)])`` is the gist's two-pulse protocol (µA/cm² when
    ``amplitude = 1``).  ``stop`` may be ``inf``.
    """
    pieces = []
    try:
        items = list(spec)
    except TypeError:
        raise TypeError(f"pulses expects a list of (start, stop, amplitude), got {spec!r}") from None
    for i, item in enumerate(items):
        try:
            start, stop, amp = item
        except (TypeError, ValueError):
            raise ValueError(f"pulses[{i}] must be (start, stop, amplitude), got {item!r}") from None
        start = _finite(f"pulses[{i}].start", start)
        stop = _finite(f"pulses[{i}].stop", stop, allow_inf=True)
        amp = _finite(f"pulses[{i}].amplitude", amp)
        if not stop > start:
            raise ValueError(f"pulses[{i}]: stop ({stop!r}) must be greater than start ({start!r})")
        pieces.append((start, stop, amp, 0.0))
    return Stimulus._from_pieces(pieces)


#: The gist's two-pulse protocol: 150 µA/cm² for 0 < t < 1 ms, 50 µA/cm² for 10 < t < 11 ms
#: (start ms, stop ms, µA/cm²).  Its one definition: demo, ``hhfast run``, validation, tests.
GIST_PULSES = ((0.0, 1.0, 150.0), (10.0, 11.0, 50.0))


def gist() -> Stimulus:
    """The gist's two-pulse protocol (:data:`GIST_PULSES`), run for 50 ms in the gist."""
    return pulses(GIST_PULSES)


def step(start: float = 0.0, stop: float = math.inf, amplitude: float = 1.0) -> Stimulus:
    """A step of ``amplitude`` from ``start`` to ``stop`` (ms; default: on at 0, never off)."""
    return pulses([(start, stop, amplitude)])


def pulse_train(
    start: float = 0.0,
    width: float = 1.0,
    period: float = 10.0,
    count: int = 1,
    amplitude: float = 1.0,
) -> Stimulus:
    """``count`` rectangular pulses of ``width`` ms every ``period`` ms from ``start``."""
    width = _finite("width", width)
    period = _finite("period", period)
    if width <= 0:
        raise ValueError(f"width must be > 0 ms, got {width!r}")
    if period < width:
        raise ValueError(f"period ({period!r}) must be >= width ({width!r})")
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    start = _finite("start", start)
    return pulses([(start + k * period, start + k * period + width, amplitude) for k in range(count)])


def ramp(
    start: float = 0.0,
    stop: float = 100.0,
    begin: float = 0.0,
    end: float = 1.0,
    hold: bool = False,
) -> Stimulus:
    """Linear ramp from ``begin`` at ``start`` to ``end`` at ``stop`` (ms).

    After ``stop`` the shape drops to 0, or stays at ``end`` with ``hold=True``.
    """
    start, stop = _finite("start", start), _finite("stop", stop)
    begin, end = _finite("begin", begin), _finite("end", end)
    if not stop > start:
        raise ValueError(f"ramp stop ({stop!r}) must be greater than start ({start!r})")
    slope = (end - begin) / (stop - start)
    pieces = [(start, stop, begin - slope * start, slope)]
    if hold:
        pieces.append((stop, math.inf, end, 0.0))
    return Stimulus._from_pieces(pieces)


def waveform(times, values) -> Stimulus:
    """A sampled current, linearly interpolated between samples, 0 outside ``[times[0], times[-1])``."""
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if times.ndim != 1 or values.shape != times.shape or len(times) < 2:
        raise ValueError(
            f"waveform needs 1-D times and values of the same length >= 2, got shapes "
            f"{times.shape} and {values.shape}"
        )
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(values))):
        raise ValueError("waveform times and values must be finite (found NaN or inf)")
    if np.any(np.diff(times) <= 0):
        raise ValueError("waveform times must be strictly increasing")
    slope = np.diff(values) / np.diff(times)
    c0 = values[:-1] - slope * times[:-1]
    pieces = list(zip(times[:-1], times[1:], c0, slope))
    return Stimulus._from_pieces(pieces)


# -- the kernels' form ------------------------------------------------------------------------
def as_tables(stimuli: Sequence[Stimulus]):
    """Stack distinct stimuli into padded tables for the kernels.

    Returns ``(tb, c0, c1, index)``: ``tb[j]`` are the breakpoints of table ``j`` preceded by
    ``-inf`` (shape 0 before the first edge) and padded with ``+inf``; ``c0``, ``c1`` the
    matching coefficients; ``index[i]`` the table of stimulus ``i``.  Identical stimuli share
    a table.
    """
    uniq: dict[Stimulus, int] = {}
    index = np.empty(len(stimuli), dtype=np.int64)
    for i, s in enumerate(stimuli):
        index[i] = uniq.setdefault(s, len(uniq))
    tabs = list(uniq)
    width = 1 + max(len(s.t) for s in tabs)
    tb = np.full((len(tabs), width + 1), np.inf)
    c0 = np.zeros((len(tabs), width + 1))
    c1 = np.zeros((len(tabs), width + 1))
    for j, s in enumerate(tabs):
        k = len(s.t)
        tb[j, 0] = -np.inf
        tb[j, 1 : k + 1] = s.t
        c0[j, 1 : k + 1] = s.c0
        c1[j, 1 : k + 1] = s.c1
    return tb, c0, c1, index
