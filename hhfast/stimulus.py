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
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _values as C
from . import config
from .errors import InputError, InputTypeError, InputValueError

__all__ = ["Stimulus", "pulses", "step", "pulse_train", "ramp", "waveform", "as_tables"]


def _finite(name: str, value, allow_inf: bool = False) -> float:
    """A real number (not a bool, not a string), finite unless ``allow_inf``."""
    return C.real(name, value, allow_inf=allow_inf)


def _real_array(name: str, value) -> np.ndarray:
    """A 1-D array of finite real numbers (not bools, not strings)."""
    try:
        arr = np.asarray(value)
    except Exception:  # pragma: no cover - exotic objects (ragged nested lists...)
        raise InputTypeError(f"{name} must be an array of numbers, got {value!r}") from None
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputTypeError(f"{name} must be an array of real numbers, got {value!r}")
    if arr.ndim != 1:
        raise InputValueError(f"{name} must be 1-D, got shape {arr.shape}")
    arr = arr.astype(float, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InputValueError(f"{name} must be finite, got {arr[j].item()!r} at index {j}")
    return arr


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

    def __post_init__(self):
        """Check the table where it is made: 1-D finite real arrays of one length, strictly
        increasing breakpoints (the kernels and the reference rely on all of it)."""
        for name in ("t", "c0", "c1"):
            object.__setattr__(self, name, _real_array(f"Stimulus {name}", getattr(self, name)))
        if not len(self.c0) == len(self.c1) == len(self.t):
            raise InputValueError(
                f"Stimulus c0 and c1 need one value per breakpoint: len(t)={len(self.t)}, "
                f"len(c0)={len(self.c0)}, len(c1)={len(self.c1)}"
            )
        down = np.diff(self.t) <= 0
        if down.any():
            k = int(np.flatnonzero(down)[0])
            raise InputValueError(
                f"Stimulus breakpoints t must be strictly increasing, got t[{k}]="
                f"{self.t[k].item()!r} then t[{k + 1}]={self.t[k + 1].item()!r}"
            )

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def _from_pieces(pieces) -> Stimulus:
        """Sum of linear pieces ``(start, stop, c0, c1)`` (value ``c0 + c1*t`` on [start, stop))."""
        if not pieces:
            return Stimulus(np.zeros(0), np.zeros(0), np.zeros(0))
        cols = np.array(pieces, dtype=float).reshape(-1, 4)
        return Stimulus._from_arrays(cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3])

    @staticmethod
    def _from_arrays(start, stop, a, b) -> Stimulus:
        """:meth:`_from_pieces` on columns.  On every piece of the result the coefficients are
        the sum, in input order, of the pieces covering it.  Disjoint pieces (the common case:
        pulses, trains, waveforms) take a vectorised O(n log n) path; overlapping ones a sweep
        over the breakpoints that touches only the pieces active there."""
        if len(start) == 0:
            return Stimulus(np.zeros(0), np.zeros(0), np.zeros(0))
        t = np.unique(np.concatenate([start, stop[np.isfinite(stop)]]))
        i0 = np.searchsorted(t, start)
        i1 = np.searchsorted(t, stop)  # len(t) for stop = inf
        c0 = np.zeros_like(t)
        c1 = np.zeros_like(t)
        order = np.argsort(start, kind="stable")
        disjoint = np.all(stop[order][:-1] <= start[order][1:])
        if disjoint:  # each piece covers exactly the breakpoint where it starts
            c0[i0] = 0.0 + a  # 0.0 + x, as the general sum below (turns -0.0 into 0.0)
            c1[i0] = 0.0 + b
        else:
            on_at = [[] for _ in range(len(t) + 1)]
            off_at = [[] for _ in range(len(t) + 1)]
            for k in range(len(start)):
                on_at[i0[k]].append(k)
                off_at[i1[k]].append(k)
            a, b = a.tolist(), b.tolist()  # Python floats: an overflow is inf, refused below
            active: set[int] = set()
            for j in range(len(t)):
                active.difference_update(off_at[j])
                active.update(on_at[j])
                s0 = s1 = 0.0
                for k in sorted(active):
                    s0 += a[k]
                    s1 += b[k]
                c0[j], c1[j] = s0, s1
        return Stimulus(t, c0, c1)._simplified()

    def _pieces(self):
        stops = np.append(self.t[1:], np.inf)
        return [(a, b, c, d) for a, b, c, d in zip(self.t, stops, self.c0, self.c1)]

    def _simplified(self) -> Stimulus:
        """Drop breakpoints where nothing changes (and a leading run of zeros)."""
        prev0 = np.concatenate([[0.0], self.c0[:-1]])
        prev1 = np.concatenate([[0.0], self.c1[:-1]])
        keep = ~((self.c0 == prev0) & (self.c1 == prev1))
        return Stimulus(self.t[keep].copy(), self.c0[keep].copy(), self.c1[keep].copy())

    def __add__(self, other: Stimulus) -> Stimulus:
        if not isinstance(other, Stimulus):
            return NotImplemented
        return Stimulus._from_pieces(self._pieces() + other._pieces())

    def __mul__(self, factor: float) -> Stimulus:
        f = _finite("factor", factor)
        with np.errstate(over="ignore"):  # an overflow to inf is refused by the constructor
            c0, c1 = self.c0 * f, self.c1 * f
        return Stimulus(self.t.copy(), c0, c1)._simplified()

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
            raise InputValueError(f"stimulus spec must be a table with a 'type' key, got {spec!r}")
        kind = spec["type"]
        if not isinstance(kind, str) or kind not in _SPEC_KEYS:
            raise InputValueError(
                f"stimulus type {kind!r} is unknown; expected one of {sorted(_SPEC_KEYS)}"
            )
        args = {k: v for k, v in spec.items() if k != "type"}
        required, optional = _SPEC_KEYS[kind]
        unknown = sorted(set(args) - required - optional, key=str)
        if unknown:
            raise InputValueError(
                f"stimulus spec of type {kind!r} has unknown key(s) {unknown}; its keys are "
                f"{sorted(required | optional)}"
            )
        missing = sorted(required - set(args))
        if missing:
            raise InputValueError(f"stimulus spec of type {kind!r} lacks key {missing[0]!r}")
        makers = {
            "pulses": lambda a: pulses(a["pulses"]),
            "step": lambda a: step(**a),
            "pulse_train": lambda a: pulse_train(**a),
            "ramp": lambda a: ramp(**a),
            "waveform": lambda a: waveform(a["times"], a["values"]),
            "piecewise": lambda a: Stimulus(a["t"], a["c0"], a["c1"]),
            "sum": lambda a: _sum_spec(a["terms"]),
        }
        try:
            return makers[kind](args)
        except InputError as e:  # say where in the spec; same class, so callers still match
            raise type(e)(f"stimulus spec of type {kind!r}: {e}") from None

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


#: Keys of each stimulus spec type: (required, optional).  Any other key is refused, so a typo
#: or a key of another type (``amplitude`` in a ``pulses`` table) is never silently ignored.
_SPEC_KEYS = {
    "pulses": ({"pulses"}, set()),
    "step": (set(), {"start", "stop", "amplitude"}),
    "pulse_train": (set(), {"start", "width", "period", "count", "amplitude"}),
    "ramp": (set(), {"start", "stop", "begin", "end", "hold"}),
    "waveform": ({"times", "values"}, set()),
    "piecewise": ({"t", "c0", "c1"}, set()),
    "sum": ({"terms"}, set()),
}


def _sum_spec(terms) -> Stimulus:
    if isinstance(terms, (str, dict)) or not isinstance(terms, Sequence):
        raise InputTypeError(f"terms must be a list of stimulus specs, got {terms!r}")
    total = Stimulus.zero()
    for i, term in enumerate(terms):
        try:
            total = total + Stimulus.from_spec(term)
        except InputError as e:
            raise type(e)(f"terms[{i}]: {e}") from None
    return total


# -- protocols --------------------------------------------------------------------------------
def pulses(spec: Sequence[tuple[float, float, float]]) -> Stimulus:
    """Rectangular pulses ``[(start ms, stop ms, amplitude), ...]``; overlapping pulses add.

    ``pulses([(0, 1, 150), (10, 11, 50)])`` is the gist's two-pulse protocol (µA/cm² when
    ``amplitude = 1``).  ``stop`` may be ``inf``.
    """
    pieces = []
    refused = InputTypeError(f"pulses expects a list of (start, stop, amplitude), got {spec!r}")
    if isinstance(spec, (str, bytes)):
        raise refused
    try:
        items = list(spec)
    except TypeError:
        raise refused from None
    for i, item in enumerate(items):
        try:
            start, stop, amp = item
        except (TypeError, ValueError):
            raise InputValueError(f"pulses[{i}] must be (start, stop, amplitude), got {item!r}") from None
        start = _finite(f"pulses[{i}].start", start)
        stop = _finite(f"pulses[{i}].stop", stop, allow_inf=True)
        amp = _finite(f"pulses[{i}].amplitude", amp)
        if not stop > start:
            raise InputValueError(f"pulses[{i}]: stop ({stop!r}) must be greater than start ({start!r})")
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
    """``count`` rectangular pulses of ``width`` ms every ``period`` ms from ``start``.

    Built in O(count) (vectorised); at most ``config.MAX_PULSES`` pulses.  Pulse ``k``
    is ``[start + k * period, start + k * period + width)``; pulses that touch (``width ==
    period``) merge into one.
    """
    width = _finite("width", width)
    period = _finite("period", period)
    if width <= 0:
        raise InputValueError(f"width must be > 0 ms, got {width!r}")
    if period < width:
        raise InputValueError(f"period ({period!r}) must be >= width ({width!r})")
    if isinstance(count, bool) or not isinstance(count, numbers.Integral):
        raise InputTypeError(f"count must be an integer, got {count!r}")
    if count < 0:
        raise InputValueError(f"count must be >= 0, got {count!r}")
    if count > config.MAX_PULSES:
        raise InputValueError(
            f"count={count!r} pulses is above the limit of {config.MAX_PULSES} "
            f"(config.MAX_PULSES); use a longer width/period or a step for a sustained drive"
        )
    start = _finite("start", start)
    amplitude = _finite("amplitude", amplitude)
    count = int(count)
    with np.errstate(over="ignore"):  # an overflow is refused just below
        on = start + np.arange(count, dtype=float) * period  # as start + k * period
        off = on + width
    if count and not np.isfinite(off[-1]):
        raise InputValueError(
            f"pulse_train: the last pulse ends at {off[-1]!r} ms (start={start!r}, "
            f"period={period!r}, count={count}): beyond the float range"
        )
    if count and width < period:  # gaps between pulses: the table directly, in O(count)
        t = np.empty(2 * count)
        t[0::2], t[1::2] = on, off
        if np.all(t[1:] > t[:-1]):  # not merged by rounding at huge start/period ratios
            c0 = np.zeros(2 * count)
            c0[0::2] = 0.0 + amplitude  # as the sum of pieces in _from_arrays
            return Stimulus(t, c0, np.zeros(2 * count))._simplified()
    return Stimulus._from_arrays(on, off, np.full(count, amplitude), np.zeros(count))


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
    if not isinstance(hold, (bool, np.bool_)):
        raise InputTypeError(f"hold must be True or False, got {hold!r}")
    if not stop > start:
        raise InputValueError(f"ramp stop ({stop!r}) must be greater than start ({start!r})")
    slope = (end - begin) / (stop - start)
    if not (math.isfinite(slope) and math.isfinite(begin - slope * start)):
        raise InputValueError(
            f"ramp from {begin!r} at {start!r} ms to {end!r} at {stop!r} ms: its slope or "
            f"intercept overflows float64"
        )
    pieces = [(start, stop, begin - slope * start, slope)]
    if hold:
        pieces.append((stop, math.inf, end, 0.0))
    return Stimulus._from_pieces(pieces)


def waveform(times, values) -> Stimulus:
    """A sampled current, linearly interpolated between samples, 0 outside ``[times[0], times[-1])``."""
    times = _real_array("waveform times", times)
    values = _real_array("waveform values", values)
    if values.shape != times.shape or len(times) < 2:
        raise InputValueError(
            f"waveform needs times and values of the same length >= 2, got lengths "
            f"{len(times)} and {len(values)}"
        )
    down = np.diff(times) <= 0
    if down.any():
        k = int(np.flatnonzero(down)[0])
        raise InputValueError(
            f"waveform times must be strictly increasing, got times[{k}]={times[k].item()!r} "
            f"then times[{k + 1}]={times[k + 1].item()!r}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        slope = np.diff(values) / np.diff(times)
        c0 = values[:-1] - slope * times[:-1]
    if not (np.all(np.isfinite(slope)) and np.all(np.isfinite(c0))):
        raise InputValueError("waveform: a slope between samples overflows float64")
    return Stimulus._from_arrays(times[:-1], times[1:], c0, slope)


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
