"""Sweep grids: named axes (a full product or a table of points), their store chunks, and
``stimulus.<key>`` axes that modify the stimulus spec per point."""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Mapping

import numpy as np

from .. import _checks as C
from .. import config
from .._checks import PER_NEURON
from ..errors import InputTypeError, InputValueError
from ..stimulus import Stimulus

#: Prefix of the grid axes that set a key of the stimulus spec (``stimulus.stop``,
#: ``stimulus.pulses.0.1``: dotted path, list positions as integers).
STIM_PREFIX = "stimulus."


# -- grids -------------------------------------------------------------------------------------
class Grid:
    """Named axes of a sweep: a full product of axes, or a table of explicit points.

    Build with :func:`grid`.  Axis names are per-neuron keywords of :func:`hhfast.simulate`
    (model fields, ``amplitude``, ``bias``, ``V0``..``h0``, ``threshold``, the noise and
    channel values) or ``stimulus.<key>`` paths into the stimulus spec.

    Attributes
    ----------
    axes : dict[str, ndarray]
        Axis name -> 1-D float values (for a table, the columns).
    is_table : bool
        True for a table of points (one dimension ``point``), False for a product.
    dims : tuple[str, ...]
        Dimension names of the result (the axis names, or ``("point",)``).
    shape : tuple[int, ...]
        Lengths of the dimensions; ``size`` is their product (the number of points).
    """

    def __init__(self, axes: Mapping[str, object], *, table: bool = False):
        if not isinstance(axes, Mapping) or not axes:
            raise InputValueError("a grid needs at least one axis, e.g. hh.grid(amplitude=[0, 10, 20])")
        self.axes: dict[str, np.ndarray | LinearAxis] = {}
        for name, values in axes.items():
            _check_axis_name(name)
            if isinstance(values, Mapping):  # {start, stop, num}: values made per index
                values = LinearAxis.from_mapping(name, values)
            if isinstance(values, LinearAxis):
                for _lo, block in values.blocks():  # every value checked, O(block) memory
                    _check_axis_block(name, block)
                self.axes[name] = values
                continue
            arr = C.per_neuron_array(name, values)
            if arr.ndim != 1 or arr.size == 0:
                raise InputValueError(
                    f"grid axis {name!r} must be a non-empty 1-D list of values, got shape "
                    f"{arr.shape}"
                )
            _check_axis_block(name, arr)
            self.axes[name] = arr.copy()
        self.is_table = bool(table)
        if self.is_table:
            lengths = {k: v.size for k, v in self.axes.items()}
            if len(set(lengths.values())) != 1:
                raise InputValueError(f"grid points: every column needs the same length, got {lengths}")
        if "trial" in self.axes and not self.is_table:
            _check_distinct_trials(self.axes["trial"])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.axes)

    @property
    def dims(self) -> tuple[str, ...]:
        return ("point",) if self.is_table else self.names

    @property
    def shape(self) -> tuple[int, ...]:
        if self.is_table:
            return (next(iter(self.axes.values())).size,)
        return tuple(v.size for v in self.axes.values())

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        return self.size

    def values(self, index) -> dict[str, np.ndarray]:
        """Axis values at flat point indices (C order over ``shape``), made for those points
        only: the grid is never materialised (a chunk of a 1e9-point sweep costs a chunk)."""
        index = np.asarray(index, dtype=np.int64)
        if self.is_table:
            return {k: axis_take(v, index) for k, v in self.axes.items()}
        sub = np.unravel_index(index, self.shape)
        return {k: axis_take(v, i) for (k, v), i in zip(self.axes.items(), sub, strict=True)}

    def chunk_shape(self, chunk_size="auto") -> tuple[int, ...]:
        """Shape of the store chunks for about ``chunk_size`` points each.

        The chunk is ``(1, .., 1, b, full, .., full)``: every chunk (edge chunks included) is
        then a contiguous range of flat indices, so a batch of consecutive chunks is one range
        and one chunk is written by one task as a whole.
        """
        if isinstance(chunk_size, str) and chunk_size == "auto":
            target = config.SWEEP_CHUNK_POINTS
        else:
            target = C.integer("chunk_size", chunk_size, 1)
        shape, inner = self.shape, 1
        for k in range(len(shape) - 1, -1, -1):
            if inner * shape[k] > target:
                return (1,) * k + (max(1, target // inner),) + shape[k + 1 :]
            inner *= shape[k]
        return shape

    def chunks(self, chunk_size="auto") -> list[tuple[int, int]]:
        """The store chunks as flat index ranges ``[(lo, hi), ...]`` in order (they tile the
        grid: each ``lo`` is the previous ``hi``)."""
        b = self._bounds(self.chunk_shape(chunk_size))
        return list(zip(b[:-1].tolist(), b[1:].tolist(), strict=True))

    def _bounds(self, cshape) -> np.ndarray:
        counts = tuple(-(-s // c) for s, c in zip(self.shape, cshape, strict=True))
        idx = np.array(np.unravel_index(np.arange(math.prod(counts)), counts))
        starts = idx * np.array(cshape)[:, None]
        lo = np.ravel_multi_index(tuple(starts), self.shape)
        return np.append(lo, self.size).astype(np.int64)

    def _region(self, cshape, lo: int, hi: int) -> tuple[slice, ...]:
        """The n-D box of the chunk covering flat range [lo, hi)."""
        start = np.unravel_index(lo, self.shape)
        last = np.unravel_index(hi - 1, self.shape)
        return tuple(slice(int(a), int(b) + 1) for a, b in zip(start, last, strict=True))

    def __repr__(self) -> str:
        kind = "table" if self.is_table else "product"
        ax = ", ".join(f"{k}[{v.size}]" for k, v in self.axes.items())
        return f"Grid({kind}: {ax}; {self.size} points)"


class LinearAxis:
    """``num`` evenly spaced values from ``start`` to ``stop`` (both included), computed per
    index exactly as :func:`numpy.linspace` computes them (bitwise), never all at once.

    The axis form ``{start, stop, num}`` of :func:`grid` and of a TOML spec.  ``np.asarray``
    of it materialises the values (only ever asked for small axes or by the user).
    """

    def __init__(self, start: float, stop: float, num: int):
        self.start, self.stop = float(start), float(stop)
        self.num = int(num)
        self._div = self.num - 1
        with np.errstate(all="ignore"):
            self._step = (self.stop - self.start) / self._div if self._div > 0 else math.nan

    @classmethod
    def from_mapping(cls, name: str, spec: Mapping) -> LinearAxis:
        if set(spec) != {"start", "stop", "num"}:
            raise InputValueError(f"grid axis {name!r} given as a mapping must have exactly the "
                                  f"keys start, stop, num, got {dict(spec)!r}")
        start = C.real(f"{name}.start", spec["start"])
        stop = C.real(f"{name}.stop", spec["stop"])
        num = C.integer(f"{name}.num", spec["num"], 1)
        return cls(start, stop, num)

    size = property(lambda self: self.num)
    shape = property(lambda self: (self.num,))
    ndim = 1
    dtype = np.dtype("float64")

    def __len__(self) -> int:
        return self.num

    def take(self, index) -> np.ndarray:
        """The values at integer indices (any shape), as numpy.linspace has them."""
        i = np.asarray(index, dtype=np.int64)
        x = i.astype(np.float64)
        with np.errstate(all="ignore"):
            if self._div <= 0:
                y = x * (self.stop - self.start)
            elif self._step == 0:
                y = x / self._div * (self.stop - self.start)
            else:
                y = x * self._step
        y = y + self.start
        if self._div > 0:
            y = np.where(i == self._div, self.stop, y)
        return y

    __getitem__ = take

    def blocks(self, n: int | None = None):
        """``(lo, values[lo:lo + n])`` over the axis (n = ``config.SWEEP_AXIS_BLOCK``)."""
        n = n or config.SWEEP_AXIS_BLOCK
        for lo in range(0, self.num, n):
            yield lo, self.take(np.arange(lo, min(lo + n, self.num)))

    def __array__(self, dtype=None, copy=None):
        return self.take(np.arange(self.num)).astype(dtype or np.float64, copy=False)

    def __repr__(self) -> str:
        return f"LinearAxis(start={self.start!r}, stop={self.stop!r}, num={self.num})"


def axis_take(axis, index) -> np.ndarray:
    """Values of a grid axis (array or :class:`LinearAxis`) at integer indices."""
    return axis.take(index) if isinstance(axis, LinearAxis) else axis[index]


def axis_blocks(axis, n: int | None = None):
    """``(lo, values)`` blocks of a grid axis, at most ``n`` values each."""
    if isinstance(axis, LinearAxis):
        yield from axis.blocks(n)
        return
    n = n or config.SWEEP_AXIS_BLOCK
    for lo in range(0, axis.size, n):
        yield lo, axis[lo : lo + n]


def _check_axis_block(name: str, values) -> None:
    """The checks every value of axis ``name`` gets when the grid is built (finite numbers,
    the model's ranges, trial ids); simulate's remaining checks run in ``spec._check_spec``
    (``_checks.simulate_call``, the check behind every face)."""
    arr = C.per_neuron_array(name, values)
    if name == "trial":
        _check_trial_values(arr)
    elif not name.startswith(STIM_PREFIX):
        C.range_check(name, arr)


#: Largest trial id a grid axis holds exactly (axis values are stored as float64).
MAX_AXIS_TRIAL = 2**53


def _check_trial_values(arr: np.ndarray) -> None:
    bad = (arr < 0) | (arr != np.floor(arr)) | (arr > MAX_AXIS_TRIAL)
    if bad.any():
        v = arr.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]].item()
        raise InputValueError(
            f"grid axis 'trial' must hold whole numbers in [0, 2^53], got {v!r}: a trial value "
            f"is the id of the point's random stream (as simulate's trial=), and the store keeps "
            f"axis values as float64, exact for whole numbers up to 2^53")


def _check_distinct_trials(axis) -> None:
    """A product's trial axis names each stream once: a repeated id would repeat a trial's
    numbers exactly, not add a trial."""
    if isinstance(axis, LinearAxis):
        dup = axis.num > 1 and axis.start == axis.stop
    else:
        dup = np.unique(axis).size != axis.size
    if dup:
        raise InputValueError(
            "grid axis 'trial' repeats a trial id: each value is the id of a random stream, so a "
            "repeated id gives the same numbers again, not another trial; give distinct ids")


def grid(points: Mapping[str, object] | None = None, **axes) -> Grid:
    """Named axes of a sweep.

    ``hh.grid(amplitude=np.linspace(0, 20, 201), gK=[30, 36, 42])`` is the full product
    (201 x 3 points, dimensions ``amplitude, gK``); ``hh.grid(points={"amplitude": [...],
    "gK": [...]})`` is an explicit table of points (equal-length columns, one dimension
    ``point``).

    Parameters
    ----------
    points : mapping of str to 1-D array, optional
        Columns of an explicit table of points (instead of ``**axes``).
    **axes : 1-D array
        Axis name -> values.  Names: any per-neuron keyword of :func:`hhfast.simulate`
        (``gNa, gK, gL, ENa, EK, EL, Cm, V_rest, temperature`` in their units, ``amplitude``,
        ``bias`` µA/cm², ``V0`` mV, ``n0, m0, h0``, ``threshold`` mV, ``noise_sigma``,
        ``noise_tau``, and with channel noise ``area`` µm², ``rho_Na``, ``rho_K`` channels per
        µm²), ``trial`` (the trial ids of the random streams: whole numbers, distinct in a
        product), or ``stimulus.<key>`` to set a key of the stimulus spec (e.g.
        ``stimulus.stop`` ms for a pulse width).  An axis may be given as
        ``{"start": a, "stop": b, "num": n}``: the values of ``np.linspace(a, b, n)``, made per
        index and never all at once (:class:`LinearAxis`).
    """
    if points is not None:
        if axes:
            raise InputValueError("grid: give either points={...} (a table) or named axes, not both")
        if not isinstance(points, Mapping):
            raise InputTypeError(f"grid points must be a mapping name -> column, got {points!r}")
        return Grid(points, table=True)
    return Grid(axes)


def _check_axis_name(name) -> None:
    if not isinstance(name, str):
        raise InputTypeError(f"grid axis names must be strings, got {name!r}")
    if name.startswith(STIM_PREFIX) and len(name) > len(STIM_PREFIX):
        return
    if name == "trial":  # the trial ids of the random streams (see execute.py)
        return
    if name not in PER_NEURON:
        raise InputValueError(
            f"grid axis {name!r} is not a per-neuron value of simulate ({', '.join(PER_NEURON)}) "
            f"nor a stimulus key ('stimulus.stop', ...)"
        )


# -- stimulus axes ------------------------------------------------------------------------------
def _path(name: str) -> list:
    return [int(p) if p.lstrip("-").isdigit() else p for p in name[len(STIM_PREFIX):].split(".")]


def _set_path(spec, path: list, value):
    """A copy of ``spec`` with the key at ``path`` set to ``value`` (ValueError if absent)."""
    spec = copy.deepcopy(spec)
    node = spec
    for depth, key in enumerate(path):
        where = STIM_PREFIX + ".".join(map(str, path[: depth + 1]))
        if isinstance(node, dict) and key in node:
            pass
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            pass
        else:
            raise InputValueError(f"grid axis {STIM_PREFIX + '.'.join(map(str, path))!r}: the stimulus "
                             f"spec has no key {where!r} (spec: {json.dumps(spec)})")
        if depth == len(path) - 1:
            old = node[key]
            if isinstance(old, bool) or not isinstance(old, numbers.Real):
                raise InputValueError(f"grid axis {where!r} must name a number in the stimulus spec, "
                                 f"found {old!r}")
            value = float(value)
            node[key] = int(value) if isinstance(old, int) and value.is_integer() else value
        else:
            node = node[key]
    return spec


def _stimuli_for(spec: dict, columns: dict[str, np.ndarray]) -> np.ndarray:
    """One Stimulus per point for the stimulus axes (identical points share one object)."""
    names = list(columns)
    paths = [_path(n) for n in names]
    n = len(next(iter(columns.values())))
    rows = np.stack([columns[k] for k in names], axis=1)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    made = []
    for row in uniq:
        s = spec
        for p, v in zip(paths, row, strict=True):
            s = _set_path(s, p, v)
        made.append(Stimulus.from_spec(s))
    out = np.empty(n, dtype=object)
    for i, j in enumerate(np.asarray(inverse).reshape(-1)):
        out[i] = made[j]
    return out

