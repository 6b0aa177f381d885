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
metrics, hhfast version, the channel-noise model when there is one); a run against a store
holding another spec is refused.  One sweep
writes a store at a time, tasks check the run's identity around every chunk they mark done,
and chunks carry checksums of their content and position that :func:`verify_sweep` checks,
with the metadata (see ``store.py``).  A ``trial`` axis holds the trial ids of the random
streams; without one a point's trial id is its flat grid index.  The grid is never
materialised: points are made per batch from their flat indices.

Modules: ``grid`` (axes, chunks, stimulus axes), ``spec`` (metrics, validation, attributes,
TOML specs), ``store`` (creation, resume, integrity, reading), ``execute`` (batches, local and
Dask execution, the progress bar).
"""

from .execute import sweep
from .grid import STIM_PREFIX, Grid, LinearAxis, grid
from .spec import DEFAULT_METRICS, METRICS, sweep_from_spec
from .store import (
    DamagedChunk,
    DamagedStoreError,
    SweepStoreError,
    VerifyReport,
    open_sweep,
    verify_sweep,
)

__all__ = ["Grid", "grid", "sweep", "open_sweep", "sweep_from_spec", "METRICS", "DEFAULT_METRICS",
           "verify_sweep", "DamagedChunk", "DamagedStoreError", "VerifyReport", "SweepStoreError",
           "LinearAxis", "STIM_PREFIX"]
