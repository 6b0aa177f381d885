"""Parameter sweeps at scale: named grids, chunked runs, a resumable Zarr store, Dask.

A sweep runs :func:`hhfast.simulate` at every point of a :class:`Grid` and keeps, per point,
the metrics of :func:`hhfast.analysis.window_metrics` (and optionally the first spike times).
The grid is cut into *store chunks* (the unit that is written, marked done and skipped on
resume) and the work into *batches* of whole chunks (the unit of one kernel call and of one
Dask task); the two sizes are independent.  Results do not depend on either: the kernels
compute every neuron independently of its batch, position and thread count, bitwise.

Store layout (Zarr v3, read with :func:`open_sweep` / ``xarray.open_zarr``): one 1-D array per
grid axis (the coordinates), one array per metric with one dimension per axis (a table grid has
the single dimension ``point``), ``spike_times`` with an extra dimension ``spike``, and the
boolean ``done``.  Every chunk of every variable is a contiguous range of grid points in C
order, written by exactly one task as whole chunks (never a read-modify-write of a chunk
another task owns).  A chunk's ``done`` flags are written only after all its data writes have
returned, so ``done`` — not the presence of chunk files, which Zarr omits when a chunk is all
fill value — is the record of completion.  Unfinished points read as NaN (float metrics),
``-1`` (``spike_count``) and ``False`` (``diverged``); ``done`` tells them apart.  The group
attributes hold the whole spec (stimulus, method, dt, t_stop, window, parameters, fixed values,
metrics, hhfast version); a run against a store holding another spec is refused.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import _checks as C
from . import analysis, config
from ._checks import PER_NEURON
from .analysis import window_metrics
from .engine import simulate
from .kernels import METHODS
from .model import FIELDS, HHParams, check_params
from .noise import check_seed
from .stimulus import Stimulus

__all__ = ["Grid", "grid", "sweep", "open_sweep", "sweep_from_spec", "METRICS", "DEFAULT_METRICS"]

#: Prefix of the grid axes that set a key of the stimulus spec (``stimulus.stop``,
#: ``stimulus.pulses.0.1``: dotted path, list positions as integers).
STIM_PREFIX = "stimulus."

#: metric -> (dtype, store fill value, units, description).  Fill values are what unfinished
#: points read as; ``done`` marks the finished ones.
_ALL_METRICS = {
    "spike_count": ("int64", -1, "1", "upward threshold crossings over the whole run"),
    "rate": ("float64", np.nan, "Hz", "spikes in the analysis window / window duration"),
    "isi_rate": ("float64", np.nan, "Hz", "1 / mean inter-spike interval in the window"),
    "isi_mean": ("float64", np.nan, "ms", "mean inter-spike interval in the window"),
    "isi_cv": ("float64", np.nan, "1", "coefficient of variation of the ISIs in the window"),
    "first_spike": ("float64", np.nan, "ms", "time of the first spike"),
    "latency": ("float64", np.nan, "ms", "first spike time minus stimulus onset"),
    "pattern": ("int8", -1, "1", "firing pattern: 0 quiet, 1 transient, 2 sustained"),
    "sustained_rate": ("float64", np.nan, "Hz", "isi_rate where firing is sustained, else 0"),
    "diverged": ("bool", False, "1", "the state stopped being finite (neuron frozen)"),
    "diverged_time": ("float64", np.nan, "ms", "end of the step where the state blew up"),
    "spike_times": ("float64", np.nan, "ms", "first max_spikes spike times (dimension spike)"),
}
#: Metrics of ``window_metrics`` that the f–I work adds to analysis.py (developed alongside):
#: offered exactly when analysis.py has them, so that the defaults always equal its metrics.
_FI_METRICS = {"latency": "latency", "pattern": "firing_pattern",
               "sustained_rate": "sustained_rate"}
METRICS = {k: v for k, v in _ALL_METRICS.items()
           if k not in _FI_METRICS or hasattr(analysis, _FI_METRICS[k])}
#: The metrics a sweep keeps by default: those of :func:`hhfast.analysis.window_metrics`.
DEFAULT_METRICS = tuple(k for k in METRICS if k not in ("diverged_time", "spike_times"))

#: One kernel at a time per process: ``numba.set_num_threads`` is thread-local and the
#: default workqueue threading layer is not safe under concurrent parallel calls (DESIGN §6).
_KERNEL_LOCK = threading.Lock()


# -- grids -------------------------------------------------------------------------------------
class Grid:
    """Named axes of a sweep: a full product of axes, or a table of explicit points.

    Build with :func:`grid`.  Axis names are per-neuron keywords of :func:`hhfast.simulate`
    (model fields, ``amplitude``, ``bias``, ``V0``..``h0``, ``threshold``) or
    ``stimulus.<key>`` paths into the stimulus spec.

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
            raise ValueError("a grid needs at least one axis, e.g. hh.grid(amplitude=[0, 10, 20])")
        self.axes: dict[str, np.ndarray] = {}
        for name, values in axes.items():
            _check_axis_name(name)
            arr = C.per_neuron_array(name, values)
            if arr.ndim != 1 or arr.size == 0:
                raise ValueError(
                    f"grid axis {name!r} must be a non-empty 1-D list of values, got shape "
                    f"{arr.shape}"
                )
            if not name.startswith(STIM_PREFIX):
                C.range_check(name, arr)
            self.axes[name] = arr.copy()
        self.is_table = bool(table)
        if self.is_table:
            lengths = {k: v.size for k, v in self.axes.items()}
            if len(set(lengths.values())) != 1:
                raise ValueError(f"grid points: every column needs the same length, got {lengths}")

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
        """Axis values at flat point indices (C order over ``shape``)."""
        index = np.asarray(index, dtype=np.int64)
        if self.is_table:
            return {k: v[index] for k, v in self.axes.items()}
        sub = np.unravel_index(index, self.shape)
        return {k: v[i] for (k, v), i in zip(self.axes.items(), sub, strict=True)}

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
        ``bias`` µA/cm², ``V0`` mV, ``n0, m0, h0``, ``threshold`` mV), or ``stimulus.<key>`` to
        set a key of the stimulus spec (e.g. ``stimulus.stop`` ms for a pulse width).
    """
    if points is not None:
        if axes:
            raise ValueError("grid: give either points={...} (a table) or named axes, not both")
        if not isinstance(points, Mapping):
            raise TypeError(f"grid points must be a mapping name -> column, got {points!r}")
        return Grid(points, table=True)
    return Grid(axes)


def _check_axis_name(name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"grid axis names must be strings, got {name!r}")
    if name.startswith(STIM_PREFIX) and len(name) > len(STIM_PREFIX):
        return
    if name == "trial":  # repeated trials: each point's trial id is its grid index anyway
        return
    if name not in PER_NEURON:
        raise ValueError(
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
            raise ValueError(f"grid axis {STIM_PREFIX + '.'.join(map(str, path))!r}: the stimulus "
                             f"spec has no key {where!r} (spec: {json.dumps(spec)})")
        if depth == len(path) - 1:
            old = node[key]
            if isinstance(old, bool) or not isinstance(old, numbers.Real):
                raise ValueError(f"grid axis {where!r} must name a number in the stimulus spec, "
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


# -- one batch: the task a worker runs ------------------------------------------------------------
@dataclass
class _Job:
    """Everything one batch needs (small and picklable: values for its points only)."""

    sim: dict  # simulate() keywords common to every point
    stimulus: object  # Stimulus, or its spec when there are stimulus axes
    values: dict  # axis -> values at this batch's points
    metrics: tuple
    store: str | None
    regions: list  # per chunk: tuple of (start, stop) per dimension
    size: int  # points in the batch


def _worker_threads() -> int | None:
    """Numba threads for a task: the threads of the Dask worker running it (None outside
    Dask: keep this process's setting)."""
    if "distributed" not in sys.modules:  # not inside a Dask worker (and no 0.35 s import)
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    import numba

    n = getattr(getattr(worker, "state", worker), "nthreads", 1)
    return max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))


def _compute_batch(job: _Job) -> dict[str, np.ndarray]:
    """Simulate one batch and compute its metrics (the kernel releases the GIL)."""
    values = dict(job.values)
    stimulus = job.stimulus
    stim_cols = {k: values.pop(k) for k in list(values) if k.startswith(STIM_PREFIX)}
    if stim_cols:
        stimulus = _stimuli_for(stimulus, stim_cols)
    with _KERNEL_LOCK:
        res = simulate(stimulus, num_threads=_worker_threads(), **job.sim, **values)
    return _metrics(res, job.metrics)


def _run_batch(job: _Job):
    """Simulate one batch, compute its metrics, write them (and then ``done``) to the store,
    or return them when there is no store.  Top-level so Dask workers import it by name."""
    out = _compute_batch(job)
    if job.store is None:
        return out
    _write_chunks(job.store, job.regions, out)
    return None


def _metrics(res, names) -> dict[str, np.ndarray]:
    base = window_metrics(res)
    extra = {"diverged_time": lambda: res.diverged_time,
             "spike_times": lambda: res.spike_times.array}
    out = {}
    for k in names:
        v = np.asarray(base[k] if k in base else extra[k]())
        shape = (res.size, v.shape[-1]) if k == "spike_times" else (res.size,)
        out[k] = np.ascontiguousarray(v.reshape(shape))
    return out


def _write_chunks(store: str, regions, out: dict[str, np.ndarray]) -> None:
    import zarr

    g = zarr.open_group(store, mode="r+")
    arrays = {k: g[k] for k in out}
    done = g["done"]
    off = 0
    for region in regions:
        sl = tuple(slice(a, b) for a, b in region)
        shape = tuple(b - a for a, b in region)
        n = math.prod(shape)
        for k, data in out.items():
            arrays[k][sl] = data[off : off + n].reshape(shape + data.shape[1:])
        done[sl] = True  # only after every data write of the chunk has returned
        off += n


# -- the sweep -----------------------------------------------------------------------------------
def sweep(
    grid: Grid,
    stimulus,
    t_stop: float,
    dt: float = 0.01,
    method: str = "rk4",
    params: HHParams | None = None,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    window: tuple[float, float] | None = None,
    max_spikes: int = config.MAX_SPIKES,
    store=None,
    chunk_size="auto",
    batch_size="auto",
    client=None,
    progress: bool = True,
    overwrite: bool = False,
    **fixed,
):
    """Run :func:`hhfast.simulate` at every point of a grid and collect per-point metrics.

    Parameters
    ----------
    grid : Grid
        The points (:func:`hhfast.grid`).
    stimulus : Stimulus or dict
        The current shape, or its spec (:meth:`Stimulus.from_spec`), which ``stimulus.<key>``
        axes modify per point.
    t_stop, dt : float
        Duration and time step (ms).
    method : {"rk4", "euler", "expeuler"}
    params : HHParams, optional
        Model parameters (default classic); grid axes and ``**fixed`` override fields.
    metrics : sequence of str
        Names from :data:`METRICS` (default :data:`DEFAULT_METRICS`); ``"spike_times"`` adds the
        first ``max_spikes`` spike times (ms) on a dimension ``spike``.
    window : (float, float), optional
        Analysis window (ms) of ``rate``, ``isi_*`` (default the whole run).
    max_spikes : int
        Spike times kept per point when ``"spike_times"`` is asked for.
    store : str or path, optional
        Zarr store (local path or any URL zarr accepts).  Written chunk by chunk; re-running
        the same call resumes (finished chunks are skipped).  A store holding another spec is
        refused unless ``overwrite=True``.
    chunk_size : int or "auto"
        Points per store chunk (the unit written, marked done and skipped on resume); an
        existing store keeps its own chunking.
    batch_size : int or "auto"
        Points per kernel call / Dask task (rounded to whole chunks).  Memory of the run is
        bounded by it, not by the grid size.
    client : distributed.Client, optional
        Run the batches as tasks on a Dask cluster (each worker runs its tasks one at a time
        with as many Numba threads as the worker has threads).  With a store, workers write
        to it (it must be reachable from them); without, results are gathered.
    progress : bool
        A tqdm bar over chunks (neuron-steps/s, ETA), shown only in a terminal or notebook.
    overwrite : bool
        Replace a store holding another sweep.
    **fixed : float
        Per-neuron keywords of :func:`hhfast.simulate` fixed for every point (``bias=2.0``).

    Returns
    -------
    xarray.Dataset
        Dimensions = the grid's, coordinates = the axis values, one variable per metric plus
        ``done``; attributes hold the spec.  With a store, opened lazily from it.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hhfast Grid (hh.grid(...)), got {grid!r}")
    _require_sweep_extra()
    spec = _check_spec(grid, stimulus, t_stop, dt, method, params, metrics, window, max_spikes,
                       fixed)
    if store is not None and not isinstance(store, str):
        if not isinstance(store, os.PathLike):
            raise TypeError(f"store must be a path or URL string, got {store!r}")
        store = os.fspath(store)
    if store is not None and "://" not in store:
        store = os.path.abspath(store)  # workers may run elsewhere: no cwd-relative paths
    if not isinstance(batch_size, str) or batch_size != "auto":
        batch_size = C.integer("batch_size", batch_size, 1)
    cshape = grid.chunk_shape(chunk_size)

    if store is not None:
        cshape, todo_mask = _prepare_store(store, grid, cshape, spec, overwrite)
    else:
        todo_mask = None
    bounds = grid._bounds(cshape)
    n_chunks = len(bounds) - 1
    todo = np.arange(n_chunks) if todo_mask is None else np.flatnonzero(todo_mask)

    out = None
    if store is None:
        out = {k: np.full((grid.size,) + ((spec["max_spikes"],) if k == "spike_times" else ()),
                          METRICS[k][1], dtype=METRICS[k][0]) for k in spec["metrics"]}

    n_workers = 1
    if client is not None:
        n_workers = max(1, len(client.nthreads()))
    chunk_points = math.prod(cshape)
    if batch_size == "auto":
        todo_points = int(np.sum(bounds[todo + 1] - bounds[todo])) if todo.size else 0
        per = config.SWEEP_BATCH_POINTS
        if client is not None:
            per = min(per, -(-todo_points // (config.SWEEP_TASKS_PER_WORKER * n_workers)))
        batch_size = max(per, 1)
    per_batch = max(1, round(batch_size / chunk_points))

    sim = {"t_stop": spec["t_stop"], "dt": spec["dt"], "method": spec["method"],
           "params": params if params is not None else HHParams.classic(),
           "window": window, "max_spikes": spec["max_spikes"], "seed": int(spec["seed"]),
           **spec["_fixed"]}
    stim_arg = spec["_stimulus"]

    def jobs() -> Iterator[tuple[_Job, np.ndarray]]:
        for i in range(0, todo.size, per_batch):
            ids = todo[i : i + per_batch]
            idx = np.concatenate([np.arange(bounds[c], bounds[c + 1]) for c in ids])
            regions = [tuple((s.start, s.stop) for s in grid._region(cshape, bounds[c],
                                                                      bounds[c + 1]))
                       for c in ids]
            # trial id = the grid-point index: the noise of a point does not depend on the
            # chunking, batching, resume point or worker (README, "Noise")
            values = {**grid.values(idx), "trial": idx}
            yield _Job(sim, stim_arg, values, tuple(spec["metrics"]), store, regions,
                       idx.size), idx

    def collect(job_idx, result):
        if out is not None:
            for k, v in result.items():
                out[k][job_idx] = v

    n_steps = spec["_n_steps"]
    bar = _progress_bar(progress, n_chunks, n_chunks - todo.size)
    t0 = time.perf_counter()
    done_points = 0
    try:
        for job, idx, result in _execute(jobs(), client, n_workers):
            collect(idx, result)
            done_points += job.size
            if bar is not None:
                rate = done_points * n_steps / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix_str(f"{rate:.3g} neuron-steps/s", refresh=False)
                bar.update(len(job.regions))
    finally:
        if bar is not None:
            bar.close()

    if store is not None:
        return open_sweep(store)
    return _dataset(grid, spec, out)


def _execute(jobs, client, n_workers):
    """Yield ``(job, idx, result)`` as batches finish, locally or as Dask tasks (a bounded
    number in flight so that memory does not grow with the grid)."""
    if client is None:
        yield from _execute_local(jobs)
        return
    from distributed import as_completed

    inflight = max(2, config.SWEEP_INFLIGHT_PER_THREAD * sum(client.nthreads().values()))
    pending = {}
    ac = as_completed()

    def submit() -> bool:
        nxt = next(jobs, None)
        if nxt is None:
            return False
        fut = client.submit(_run_batch, nxt[0], pure=False)
        pending[fut.key] = nxt
        ac.add(fut)
        return True

    for _ in range(inflight):
        if not submit():
            break
    try:
        for fut in ac:
            result = fut.result()  # re-raises the task's error; a dead worker's task is rerun
            job, idx = pending.pop(fut.key)
            fut.release()
            yield job, idx, result
            submit()
    finally:
        if pending:
            client.cancel(list(ac.futures))


def _execute_local(jobs):
    """Run batches in this process, writing batch k to the store on a writer thread while the
    kernel (which releases the GIL) computes batch k + 1.  A write is waited for before the
    next one starts and before returning, also on an exception or Ctrl-C, so a chunk is marked
    done exactly when its data is on disk and nothing computed is dropped on the floor."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hhfast-sweep-writer") as pool:
        pending = None
        for job, idx in jobs:
            out = _compute_batch(job)
            if pending is not None:
                yield pending[0], pending[1], pending[2].result()
            if job.store is None:
                pending = None
                yield job, idx, out
            else:
                pending = (job, idx, pool.submit(_write_chunks, job.store, job.regions, out))
        if pending is not None:
            yield pending[0], pending[1], pending[2].result()


def _progress_bar(progress, total: int, initial: int):
    if not progress:
        return None
    notebook = "ipykernel" in sys.modules
    if not (notebook or sys.stderr.isatty()):
        return None
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit="chunk", desc="sweep", dynamic_ncols=True)


# -- spec: validation and attributes ---------------------------------------------------------------
def _check_spec(grid, stimulus, t_stop, dt, method, params, metrics, window, max_spikes, fixed):
    """Validate everything before any store is touched or kernel compiled; return the spec
    (``_``-prefixed entries are for the run, the others become store attributes)."""
    from . import __version__

    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    dt = C.real("dt", dt, positive=True)
    t_stop = C.real("t_stop", t_stop)
    if t_stop < dt * (1 - 1e-9):
        raise ValueError(f"t_stop ({t_stop!r} ms) must be at least one step (dt={dt!r} ms)")
    if params is None:
        params = HHParams.classic()
    if not isinstance(params, HHParams):
        raise TypeError(f"params must be an HHParams, got {params!r}")
    check_params(params)
    n_steps = max(1, math.ceil(t_stop / dt * (1 - 1e-9)))  # as simulate() counts them
    t_end = n_steps * dt
    w0, w1 = C.window(window, 0.0)
    win = [w0, min(w1, t_end)]  # as the SimResult reports it: equal windows, equal metrics

    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise TypeError(f"metrics must be a non-empty list of names from {list(METRICS)}, "
                        f"got {metrics!r}")
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"metrics: unknown metric {m!r}; choose from {list(METRICS)}")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics names a metric twice: {list(metrics)!r}")
    max_spikes = C.integer("max_spikes", max_spikes, 1) if "spike_times" in metrics else 0

    fixed = dict(fixed)
    seed = check_seed(fixed.pop("seed", 0))  # the noise seed (simulate's seed=)
    for k, v in fixed.items():
        if k not in PER_NEURON:
            raise TypeError(f"sweep() got an unexpected keyword argument {k!r}; fixed per-neuron "
                            f"values are {list(PER_NEURON)}")
        if k in grid.axes:
            raise ValueError(f"{k!r} is both a grid axis and a fixed value")
        arr = C.per_neuron_array(k, v)
        if arr.ndim:
            raise ValueError(f"fixed value {k} must be a scalar (make it a grid axis), got "
                             f"shape {arr.shape}")
        C.range_check(k, arr)
    fixed = {k: float(v) for k, v in fixed.items()}

    stim_axes = [n for n in grid.names if n.startswith(STIM_PREFIX)]
    if isinstance(stimulus, Stimulus):
        stim_spec = stimulus.to_spec()
    elif isinstance(stimulus, Mapping):
        stim_spec = json.loads(json.dumps(dict(stimulus)))  # plain data, and a deep copy
        Stimulus.from_spec(stim_spec)  # raises ValueError naming the problem
    else:
        raise TypeError(f"stimulus must be a Stimulus or a stimulus spec dict, got {stimulus!r}")
    for name in stim_axes:  # every value of every stimulus axis must give a valid stimulus
        for v in np.unique(grid.axes[name]):
            Stimulus.from_spec(_set_path(stim_spec, _path(name), v))
    stim_arg = stim_spec if stim_axes else (
        stimulus if isinstance(stimulus, Stimulus) else Stimulus.from_spec(stim_spec))

    return {
        "hhfast_version": __version__,
        "method": method,
        "dt": dt,
        "t_stop": t_stop,
        "window": win,
        "stimulus": json.dumps(stim_spec, sort_keys=True),
        "params": json.dumps(params.as_dict(), sort_keys=True),
        "fixed": json.dumps(fixed, sort_keys=True),
        "metrics": list(metrics),
        "max_spikes": max_spikes,
        "seed": str(seed),  # a string: 64 bits survive JSON
        "axes": list(grid.names),
        "grid": "table" if grid.is_table else "product",
        "_fixed": fixed,
        "_stimulus": stim_arg,
        "_n_steps": n_steps,
    }


def _attrs(spec) -> dict:
    return {k: v for k, v in spec.items() if not k.startswith("_")}


def _layout(grid: Grid, spec) -> dict:
    """variable -> (dims, shape, dtype, fill, attrs) for every metric and ``done``."""
    lay = {}
    for k in spec["metrics"]:
        dtype, fill, units, desc = METRICS[k]
        dims, shape = grid.dims, grid.shape
        if k == "spike_times":
            dims, shape = dims + ("spike",), shape + (spec["max_spikes"],)
        lay[k] = (dims, shape, dtype, fill, {"units": units, "long_name": desc})
    lay["done"] = (grid.dims, grid.shape, "bool", False,
                   {"long_name": "the point's results are written"})
    if grid.is_table:
        for v in lay.values():
            v[4]["coordinates"] = " ".join(grid.names)
    return lay


def _dataset(grid: Grid, spec, out: dict):
    import xarray as xr

    lay = _layout(grid, spec)
    data = {}
    for k, (dims, shape, _dtype, _fill, attrs) in lay.items():
        arr = out[k] if k != "done" else np.ones(grid.size, dtype=bool)
        attrs = {a: b for a, b in attrs.items() if a != "coordinates"}
        data[k] = xr.Variable(dims, arr.reshape(shape), attrs)
    if grid.is_table:
        coords = {k: ("point", v) for k, v in grid.axes.items()}
    else:
        coords = {k: (k, v) for k, v in grid.axes.items()}
    return xr.Dataset(data, coords=coords, attrs=_attrs(spec))


def _prepare_store(store: str, grid: Grid, cshape, spec, overwrite: bool):
    """Create the store, or check an existing one against the spec; return its chunk shape
    and which chunks remain to compute."""
    import zarr

    existing = _open_existing(store)
    if existing is not None and not overwrite:
        diff = _spec_difference(existing, grid, spec)
        if diff:
            raise ValueError(f"store {store!r} holds a different sweep ({diff}); pass "
                             f"overwrite=True to replace it, or use another store")
        done = existing["done"]
        cshape = tuple(done.chunks)
        bounds = grid._bounds(cshape)
        flags = np.asarray(done[...]).reshape(-1)
        chunk_done = np.logical_and.reduceat(flags, bounds[:-1])
        return cshape, ~chunk_done

    # "w" replaces only a store recognised above as an hhfast sweep; otherwise "w-" refuses
    # to write over anything that is there (e.g. a URL prefix holding other objects)
    g = zarr.open_group(store, mode="w" if existing is not None else "w-", zarr_format=3)
    for name, vals in grid.axes.items():
        dim = "point" if grid.is_table else name
        a = g.create_array(name, shape=vals.shape, chunks=vals.shape, dtype="float64",
                           dimension_names=[dim])
        a[...] = vals
    for k, (dims, shape, dtype, fill, attrs) in _layout(grid, spec).items():
        chunks = cshape + ((shape[-1],) if k == "spike_times" else ())
        g.create_array(k, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                       dimension_names=list(dims), attributes=attrs)
    g.attrs.update(_attrs(spec))  # last: a store without these was never fully created
    n = len(grid._bounds(cshape)) - 1
    return cshape, np.ones(n, dtype=bool)


def _open_existing(store: str):
    """The existing hhfast store at ``store``, None if there is nothing there; ValueError if
    something else is there (never deleted)."""
    import zarr

    if "://" not in store and not os.path.exists(store):
        return None
    if "://" not in store and os.path.isdir(store) and not os.listdir(store):
        return None
    try:
        g = zarr.open_group(store, mode="r")
    except Exception:
        if "://" in store:
            return None
        raise ValueError(f"store {store!r} exists and is not a Zarr store; refusing to touch "
                         f"it (choose another path)") from None
    if "hhfast_version" not in g.attrs:
        raise ValueError(f"store {store!r} is a Zarr store but not a complete hhfast sweep; "
                         f"remove it (or pass overwrite=True if it is an interrupted creation)")
    return zarr.open_group(store, mode="r+")


def _spec_difference(g, grid: Grid, spec) -> str:
    """'' if the store holds this spec, else a description of the first differences."""
    stored = dict(g.attrs)
    diffs = []
    for k, v in _attrs(spec).items():
        if json.dumps(stored.get(k), sort_keys=True) != json.dumps(v, sort_keys=True):
            diffs.append(f"{k}: stored {stored.get(k)!r}, asked {v!r}")
    if not diffs:
        for name, vals in grid.axes.items():
            if name not in g or not np.array_equal(np.asarray(g[name][...]), vals):
                diffs.append(f"values of axis {name!r}")
    return "; ".join(diffs[:3])


def _require_sweep_extra() -> None:
    """Fail early, with the install line, when the optional store/Dask stack is missing."""
    import importlib.util

    missing = [m for m in ("zarr", "xarray") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"hhfast sweeps need {' and '.join(missing)}: pip install 'hhfast[sweep]'"
        )


def open_sweep(store):
    """Open a sweep store lazily as an ``xarray.Dataset`` (readable while a sweep writes it).

    ``done`` marks the finished points; unfinished ones read as NaN (float metrics), -1
    (``spike_count``) or False (``diverged``): ``ds.where(ds.done)`` masks them all.
    """
    _require_sweep_extra()
    import xarray as xr

    if not isinstance(store, str):
        store = os.fspath(store)
    if "://" not in store and not os.path.exists(store):
        raise ValueError(f"store {store!r} does not exist")
    ds = xr.open_zarr(store, consolidated=False)
    if "hhfast_version" not in ds.attrs:
        raise ValueError(f"store {store!r} is not an hhfast sweep store")
    ds = ds[[*ds.attrs["metrics"], "done"]]  # a stable order (the store lists alphabetically)
    if ds.attrs.get("grid") == "table":  # small non-index coordinates: load them
        ds = ds.assign_coords({k: ds[k].compute() for k in ds.attrs["axes"]})
    return ds


# -- a spec as data (TOML) ---------------------------------------------------------------------
_SPEC_KEYS = {"t_stop", "dt", "method", "window", "metrics", "max_spikes", "chunk_size",
              "batch_size", "store", "stimulus", "params", "fixed", "axes", "points", "seed"}


def sweep_from_spec(spec: Mapping) -> tuple[Grid, dict]:
    """A parsed TOML/JSON sweep spec -> ``(grid, keyword arguments of sweep)``.

    Keys: ``t_stop`` (required), ``dt``, ``method``, ``window = [t0, t1]``, ``metrics``,
    ``max_spikes``, ``chunk_size``, ``batch_size``, ``store``, ``seed`` (of the noise: give
    ``noise_sigma``, ``noise_tau`` in ``[fixed]`` or as axes); tables ``[stimulus]`` (a
    stimulus spec, required), ``[params]`` (``preset = "classic"|"modern"`` and model field
    overrides), ``[fixed]`` (other per-neuron values), and either ``[axes]`` (each axis a list
    of values or ``{start, stop, num}``, a full product) or ``[points]`` (equal-length
    columns).  Everything is checked as data; errors name the key.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"sweep spec must be a table, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise ValueError(f"sweep spec: unknown key {unknown[0]!r}; known keys are "
                         f"{sorted(_SPEC_KEYS)}")
    if "t_stop" not in spec:
        raise ValueError("sweep spec: missing key 't_stop' (ms)")
    if "stimulus" not in spec or not isinstance(spec["stimulus"], Mapping):
        raise ValueError("sweep spec: missing table 'stimulus' (e.g. [stimulus] type = 'step')")
    if ("axes" in spec) == ("points" in spec):
        raise ValueError("sweep spec: give exactly one of the tables 'axes' (a product grid) "
                         "or 'points' (a table of points)")

    def num(key, value, kind=float):
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and (kind is float or isinstance(value, numbers.Integral)))
        if not ok:
            raise ValueError(f"sweep spec: key {key!r} must be "
                             f"{'a number' if kind is float else 'an integer'}, got {value!r}")
        return kind(value)

    def numlist(key, value):
        if not isinstance(value, list) or not value:
            raise ValueError(f"sweep spec: key {key!r} must be a non-empty list of numbers, "
                             f"got {value!r}")
        return [num(f"{key}[{i}]", v) for i, v in enumerate(value)]

    kw: dict = {"t_stop": num("t_stop", spec["t_stop"])}
    for key in ("dt",):
        if key in spec:
            kw[key] = num(key, spec[key])
    for key in ("max_spikes", "chunk_size", "batch_size", "seed"):
        if key in spec:
            kw[key] = num(key, spec[key], int)
    for key in ("method", "store"):
        if key in spec:
            if not isinstance(spec[key], str):
                raise ValueError(f"sweep spec: key {key!r} must be a string, got {spec[key]!r}")
            kw[key] = spec[key]
    if "window" in spec:
        w = numlist("window", spec["window"])
        if len(w) != 2:
            raise ValueError(f"sweep spec: key 'window' must be [t0, t1], got {spec['window']!r}")
        kw["window"] = tuple(w)
    if "metrics" in spec:
        m = spec["metrics"]
        if not isinstance(m, list) or not all(isinstance(x, str) for x in m):
            raise ValueError(f"sweep spec: key 'metrics' must be a list of names, got {m!r}")
        kw["metrics"] = m
    try:
        Stimulus.from_spec(dict(spec["stimulus"]))
    except (ValueError, TypeError) as e:
        raise ValueError(f"sweep spec: key 'stimulus': {e}") from None
    kw["stimulus"] = dict(spec["stimulus"])

    p = dict(spec.get("params", {}))
    preset = p.pop("preset", "classic")
    if preset not in ("classic", "modern"):
        raise ValueError(f"sweep spec: key 'params.preset' must be 'classic' or 'modern', "
                         f"got {preset!r}")
    for k in p:
        if k not in FIELDS:
            raise ValueError(f"sweep spec: key 'params.{k}' is not a model field {FIELDS}")
    fields = {k: num(f"params.{k}", v) for k, v in p.items()}
    kw["params"] = getattr(HHParams, preset)(**fields)
    for k, v in dict(spec.get("fixed", {})).items():
        if k not in PER_NEURON or k in FIELDS:
            raise ValueError(f"sweep spec: key 'fixed.{k}' must be one of "
                             f"{[n for n in PER_NEURON if n not in FIELDS]} (model fields go in "
                             f"[params])")
        kw[k] = num(f"fixed.{k}", v)

    table = "points" in spec
    section = spec["points" if table else "axes"]
    if not isinstance(section, Mapping) or not section:
        raise ValueError(f"sweep spec: table {'points' if table else 'axes'!r} must name at "
                         f"least one axis")
    axes = {}
    for name, v in section.items():
        key = f"{'points' if table else 'axes'}.{name}"
        if isinstance(v, Mapping) and not table:
            extra = sorted(set(v) - {"start", "stop", "num"})
            if extra or len(v) != 3:
                raise ValueError(f"sweep spec: key {key!r} must be a list of values or "
                                 f"{{start, stop, num}}, got {dict(v)!r}")
            n = num(f"{key}.num", v["num"], int)
            if n < 1:
                raise ValueError(f"sweep spec: key '{key}.num' must be >= 1, got {n}")
            axes[name] = np.linspace(num(f"{key}.start", v["start"]),
                                     num(f"{key}.stop", v["stop"]), n)
        else:
            axes[name] = np.asarray(numlist(key, v))
        try:
            _check_axis_name(name)
        except (ValueError, TypeError) as e:
            raise ValueError(f"sweep spec: key {key!r}: {e}") from None
    try:
        g = grid(points=axes) if table else grid(**axes)
    except (ValueError, TypeError) as e:
        raise ValueError(f"sweep spec: table {'points' if table else 'axes'!r}: {e}") from None
    return g, kw
