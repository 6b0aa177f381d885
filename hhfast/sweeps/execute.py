"""Running a sweep: batches of whole chunks, locally (store writes overlapped with compute)
or as Dask tasks, and the progress bar."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .. import _checks as C
from .. import config
from ..analysis import window_metrics
from ..engine import simulate
from ..errors import InputTypeError
from ..model import HHParams
from ..result import RENAMED_METRICS
from .grid import STIM_PREFIX, Grid, _stimuli_for
from .spec import (
    DEFAULT_METRICS,
    METRICS,
    _check_run_options,
    _check_spec,
    _dataset,
)
from .store import (
    _prepare_store,
    _require_sweep_extra,
    _StoreLock,
    _write_chunks,
    new_run_id,
    open_sweep,
    stored_metrics,
)


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
    run_id: str | None = None  # the run allowed to write the store (see store.py)


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
    # simulate() serialises its kernel launches itself (engine.KERNEL_LOCK): the write of one
    # batch overlaps the next batch's compute, never another kernel
    res = simulate(stimulus, num_threads=_worker_threads(), **job.sim, **values)
    return _metrics(res, job.metrics)


def _run_batch(job: _Job):
    """Simulate one batch, compute its metrics, write them (and then ``done``) to the store,
    or return them when there is no store.  Top-level so Dask workers import it by name."""
    out = _compute_batch(job)
    if job.store is None:
        return out
    _write_chunks(job.store, job.regions, out, job.run_id)
    return None


def _metrics(res, names) -> dict[str, np.ndarray]:
    base = window_metrics(res)
    extra = {"diverged_time": lambda: res.diverged_time,
             "spike_times": lambda: res.spike_times.array,
             # the renamed metric, still stored under its old name when asked for (the
             # warning was given once, when the spec was checked)
             **{old: (lambda new=new: base[new]) for old, new in RENAMED_METRICS.items()}}
    out = {}
    for k in names:
        v = np.asarray(base[k] if k in base else extra[k]())
        shape = (res.size, v.shape[-1]) if k == "spike_times" else (res.size,)
        out[k] = np.ascontiguousarray(v.reshape(shape))
    return out


# -- the sweep -----------------------------------------------------------------------------------
def sweep(
    grid: Grid,
    stimulus,
    t_stop: float,
    dt: float = 0.01,
    method: str | None = None,
    params: HHParams | None = None,
    *,
    channel_noise: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    window: tuple[float, float] | None = None,
    max_spikes: int = config.MAX_SPIKES,
    store=None,
    chunk_size="auto",
    batch_size="auto",
    client=None,
    progress: bool = True,
    overwrite: bool = False,
    backend: str = "cpu",
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
    method : str, optional
        A method of :func:`hhfast.methods` (default ``"rk4"``; ``"euler"``, the only method of
        channel noise, with ``channel_noise``).
    params : HHParams, optional
        Model parameters (default classic); grid axes and ``**fixed`` override fields.
    channel_noise : {None, "channel", "shielding", "subunit"}
        Channel noise of every point (as in :func:`hhfast.simulate`), kept in the store's
        attributes (a resume with another model is refused); the patch ``area`` (µm²) and
        densities ``rho_Na``, ``rho_K`` (channels per µm²) may then be grid axes or fixed
        values.  As for current noise, a point's trial id is its ``trial`` value, else its
        flat grid index.
    rtol, atol : float, optional
        ``method="dopri5"`` only: the tolerances of its step control (as in
        :func:`hhfast.simulate`; default ``config.ADAPTIVE_RTOL``, ``atol = rtol``), kept in
        the store's attributes when given (a resume with others is refused); refused with a
        fixed-step method.
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
        existing store keeps its own chunking.  "auto": about ``config.SWEEP_BATCH_SECONDS``
        of compute (points x steps x the method's cost), at most
        ``config.SWEEP_CHUNK_POINTS``.
    batch_size : int or "auto"
        Points per kernel call / Dask task (rounded to whole chunks); "auto" is sized by work
        like ``chunk_size``.  Memory of the run is bounded by it, not by the grid size.
    client : distributed.Client, optional
        Run the batches as tasks on a Dask cluster (each worker runs its tasks one at a time
        with as many Numba threads as the worker has threads).  With a store, workers write
        to it (it must be reachable from them); without, results are gathered.
    progress : bool
        A tqdm bar over chunks (neuron-steps/s, ETA), shown only in a terminal or notebook.
    overwrite : bool
        Replace a store holding another sweep (or an interrupted creation of one).  A store
        another sweep is writing is never replaced: that is a :class:`SweepStoreError`.
    backend : str
        Where the batches run, as in :func:`hhfast.simulate` (``"cpu"``, or ``"cuda"``: one
        GPU thread per point; "auto" batches are then ``config.CUDA_SWEEP_BATCH_POINTS``).
        Not part of the store's spec: a store may be resumed on another backend.
    **fixed : float
        Per-neuron keywords of :func:`hhfast.simulate` fixed for every point (``bias=2.0``).
        ``seed=`` is the noise seed.  A grid axis ``trial`` sets each point's trial id (the id
        of its random stream, as ``simulate(trial=...)``); without one a point's trial id is
        its flat grid index.

    Returns
    -------
    xarray.Dataset
        Dimensions = the grid's, coordinates = the axis values, one variable per metric plus
        ``done``; attributes hold the spec.  With a store, opened lazily from it.
    """
    if not isinstance(grid, Grid):
        raise InputTypeError(f"grid must be an hhfast Grid (hh.grid(...)), got {grid!r}")
    _require_sweep_extra()
    _check_run_options(client, progress, overwrite)
    if metrics is DEFAULT_METRICS and store is not None and overwrite is False:
        # a store begun before the count rate's rename, resumed with the default metrics:
        # keep its names (its 'rate' is count_rate), so no finished work is refused
        old_default = [{v: k for k, v in RENAMED_METRICS.items()}.get(m, m) for m in metrics]
        if stored_metrics(store) == old_default:
            metrics = tuple(old_default)
    spec = _check_spec(grid, stimulus, t_stop, dt, method, params, metrics, window, max_spikes,
                       fixed, channel_noise, rtol, atol, backend)
    if store is not None and not isinstance(store, str):
        if not isinstance(store, os.PathLike):
            raise InputTypeError(f"store must be a path or URL string, got {store!r}")
        store = os.fspath(store)
    if store is not None and "://" not in store:
        store = os.path.abspath(store)  # workers may run elsewhere: no cwd-relative paths
    if not isinstance(batch_size, str) or batch_size != "auto":
        batch_size = C.integer("batch_size", batch_size, 1)
    work_points = _work_points(spec["method"], spec["_n_steps"], client, channel_noise)
    cshape = grid.chunk_shape(work_points if _is_auto(chunk_size) else chunk_size)

    run_id = new_run_id()
    with _StoreLock(store) if store is not None else contextlib.nullcontext():
        if store is not None:
            cshape, todo_mask = _prepare_store(store, grid, cshape, spec, overwrite, run_id)
        else:
            todo_mask = None
        out = _run(grid, spec, params, window, store, client, cshape, todo_mask, batch_size,
                   work_points, run_id, progress)
    if store is not None:
        return open_sweep(store)
    return _dataset(grid, spec, out)


def _is_auto(size) -> bool:
    return isinstance(size, str) and size == "auto"


def _work_points(method: str, n_steps: int, client, channel_noise: str | None = None) -> int:
    """Points per batch (and per store chunk) for ``chunk_size``/``batch_size="auto"``: about
    ``config.SWEEP_BATCH_SECONDS`` of compute, estimated from neuron-steps x the method's
    per-core cost (the channel model's with channel noise) and the Numba threads a batch gets
    (one per Dask task: conservative), within ``[SWEEP_MIN_BATCH_POINTS, SWEEP_CHUNK_POINTS]``."""
    import numba

    ns = config.SWEEP_CORE_NS_PER_NEURON_STEP
    cost = ns.get(method, max(ns.values()))
    if channel_noise is not None:
        from ..kernels import CHANNELS

        cost = CHANNELS[channel_noise].cost_ns
    threads = 1 if client is not None else numba.get_num_threads()
    points = config.SWEEP_BATCH_SECONDS * 1e9 * threads / (cost * max(n_steps, 1))
    return int(min(config.SWEEP_CHUNK_POINTS, max(config.SWEEP_MIN_BATCH_POINTS, points)))


def _run(grid, spec, params, window, store, client, cshape, todo_mask, batch_size, work_points,
         run_id, progress):
    """Compute the chunks still to do (``todo_mask``; all without a store); return the
    gathered results without a store."""
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
        per = min(config.SWEEP_BATCH_POINTS, work_points)
        if spec["_backend"] == "cuda":  # a card wants ~1e6 threads per launch
            per = config.CUDA_SWEEP_BATCH_POINTS
        if client is not None:
            per = min(per, -(-todo_points // (config.SWEEP_TASKS_PER_WORKER * n_workers)))
        batch_size = max(per, 1)
    per_batch = max(1, round(batch_size / chunk_points))

    sim = {"t_stop": spec["t_stop"], "dt": spec["dt"], "method": spec["method"],
           "params": params if params is not None else HHParams.classic(),
           "window": window, "max_spikes": spec["max_spikes"], "seed": int(spec["seed"]),
           "backend": spec["_backend"],
           **({"channel_noise": spec["channel_noise"]} if "channel_noise" in spec else {}),
           **{k: spec[k] for k in ("rtol", "atol") if k in spec},
           **spec["_fixed"]}
    stim_arg = spec["_stimulus"]

    def jobs() -> Iterator[tuple[_Job, np.ndarray]]:
        for i in range(0, todo.size, per_batch):
            ids = todo[i : i + per_batch]
            idx = np.concatenate([np.arange(bounds[c], bounds[c + 1]) for c in ids])
            regions = [tuple((s.start, s.stop) for s in grid._region(cshape, bounds[c],
                                                                      bounds[c + 1]))
                       for c in ids]
            # trial id = the point's value on a `trial` axis (so trials 100..199 extend a run
            # of 0..99 bitwise), else its grid index: either way the noise of a point does not
            # depend on the chunking, batching, resume point or worker (docs/guide/sweeps.md)
            values = grid.values(idx)
            values["trial"] = (values["trial"].astype(np.uint64) if "trial" in values
                               else idx)
            yield _Job(sim, stim_arg, values, tuple(spec["metrics"]), store, regions,
                       idx.size, run_id), idx

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
    return out


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
                pending = (job, idx, pool.submit(_write_chunks, job.store, job.regions, out,
                                                      job.run_id))
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

