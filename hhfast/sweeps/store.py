"""The sweep store: creation, the check of an existing store against the spec, chunk writes
and ``done`` marking, integrity (one writer at a time, run identity, chunk checksums,
:func:`verify_sweep`), and reading it back.

Integrity model (see ``docs/architecture.md``):

* **One sweep writes a store at a time.**  A local store is guarded by an advisory lock
  (``fcntl.flock`` on the sibling file ``<store>.hhfast-lock``, holding the owner's pid, host
  and start time).  The kernel drops the lock when its process dies, however it dies, so a
  stale lock never needs clearing by hand; a second sweep (or :func:`verify_sweep`) on a
  store in use is refused with :class:`SweepStoreError` naming the owner.  Stores given as
  URLs (``s3://``) cannot be locked and rely on the run identity alone.
* **Run identity.**  Every run writes a fresh random id into the group attribute
  ``hhfast_run`` before it computes anything.  A task checks the store still carries its run's
  id before writing a chunk and again after marking it done; on a mismatch (the store was
  replaced or taken over, e.g. Dask tasks still running after a cancel) it writes nothing,
  or takes its ``done`` marks back, and fails with :class:`SweepStoreError`.  So ``done``
  points always hold the values of the spec in the attributes.
* **Checksums.**  New stores (attribute ``hhfast_store_format`` = 2) compress every chunk
  with zstd *with* its content checksum and write every chunk of every variable, even one
  that is all fill value, so a done chunk whose file is missing, truncated or altered is
  detected by :func:`verify_sweep`, which marks it not done for the next run to recompute.
  A resume runs the same check on the chunks it would skip and recomputes the damaged ones.
* **Atomic files.**  zarr >= 3.1.3 writes each local file to a temporary name and renames it
  into place, so a kill never leaves a half-written chunk or ``zarr.json`` (hence the
  minimum version of the ``sweep`` extra).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import _checks as C
from ..errors import InputValueError
from .grid import Grid, _check_axis_name
from .spec import METRICS, OPTIONAL_ATTRS, _attrs, _layout

try:  # POSIX; elsewhere local stores are guarded by the run identity alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Value of the attribute ``hhfast_store_format`` of stores this version creates: 2 = every
#: chunk written (empty ones too) and zstd with checksums.  Stores without it (format 1) are
#: still read and resumed; :func:`verify_sweep` can then detect unreadable chunks only.
STORE_FORMAT = 2
#: Group attribute holding the id of the run allowed to write the store.
RUN_ATTR = "hhfast_run"
FORMAT_ATTR = "hhfast_store_format"


class SweepStoreError(InputValueError):
    """A sweep store that cannot be used as asked: in use by another sweep, replaced while
    this sweep wrote it, or damaged.  The message names the store and what to do."""


# -- one writer at a time ------------------------------------------------------------------------
class _StoreLock:
    """Exclusive advisory lock on a local store, held for a whole run (see the module doc)."""

    def __init__(self, store: str, purpose: str = "sweep"):
        self.store, self.purpose, self.fd = store, purpose, None
        self.path = None if ("://" in store or fcntl is None) else store.rstrip("/\\") + \
            ".hhfast-lock"

    def __enter__(self):
        if self.path is None:
            return self
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_lock(fd)
                os.close(fd)
                raise SweepStoreError(
                    f"store {self.store!r} is in use by another sweep ({holder}); wait for it "
                    f"to finish or stop it, then run again (a dead owner's lock is released "
                    f"by the system: nothing to clean up)") from None
            try:  # the previous owner may have removed the file between our open and lock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                os.unlink(self.path)  # while still holding it: see the inode check above
            except FileNotFoundError:  # pragma: no cover - removed by hand
                pass
            os.close(self.fd)
            self.fd = None


def _read_lock(fd) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return (f"{info.get('purpose', 'sweep')} by pid {info.get('pid')} on "
                f"{info.get('host')} since {info.get('since')}")
    except (OSError, ValueError):
        return "owner unknown"


def new_run_id() -> str:
    return uuid.uuid4().hex


def _current_run(store: str):
    """The run id the store carries now (None if it cannot be read: removed, being replaced)."""
    import zarr

    try:
        return zarr.open_group(store, mode="r").attrs.get(RUN_ATTR)
    except Exception:
        return None


def _changed_hands(store: str, run_id) -> bool:
    """After an error writing the store: has another run taken it?  Asked for up to ~2 s, for
    a replacement removes the old tree (old run id still readable) before writing its own."""
    if run_id is None:
        return False
    for _ in range(10):
        if _current_run(store) != run_id:
            return True
        time.sleep(0.2)
    return False


def _replaced(store: str) -> SweepStoreError:
    return SweepStoreError(
        f"store {store!r} was replaced or taken over by another sweep while this one was "
        f"writing it; this run stopped and marked nothing done there (its results belong to "
        f"a spec the store no longer holds)")


# -- creation and resume ---------------------------------------------------------------------
def _prepare_store(store: str, grid: Grid, cshape, spec, overwrite: bool, run_id: str):
    """Create the store, or check an existing one against the spec; claim it for ``run_id``;
    return its chunk shape and which chunks remain to compute.  Call with the store's lock
    held."""
    existing = _open_existing(store, overwrite)
    if existing is not None and existing is not _INCOMPLETE and not overwrite:
        diff = _spec_difference(existing, grid, spec)
        if diff:
            raise InputValueError(f"store {store!r} holds a different sweep ({diff}); pass "
                             f"overwrite=True to replace it, or use another store")
        existing.attrs[RUN_ATTR] = run_id  # before reading done: older runs' tasks now stop
        done = existing["done"]
        cshape = tuple(done.chunks)
        bounds = grid._bounds(cshape)
        flags = _read_done(store, grid, done, cshape, bounds)
        if flags.any():
            # a resume trusts its done chunks only once they read back intact (cheap next to
            # computing them): damaged ones are marked not done and recomputed by this run
            damaged = _damaged_chunks(existing)
            if damaged:
                shown = "; ".join(str(d) for d in damaged[:3])
                more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
                warnings.warn(f"store {store!r}: {len(damaged)} done chunks were damaged "
                              f"({shown}{more}); this run recomputes them", stacklevel=3)
                flags = _read_done(store, grid, done, cshape, bounds)
        chunk_done = np.logical_and.reduceat(flags, bounds[:-1])
        return cshape, ~chunk_done

    # "w" replaces only a store recognised above as an hhfast sweep (or its interrupted
    # creation); otherwise "w-" refuses to write over anything that is there
    g = _create_group(store, replace=existing is not None)
    for name, vals in grid.axes.items():
        dim = "point" if grid.is_table else name
        a = g.create_array(name, shape=vals.shape, chunks=vals.shape, dtype="float64",
                           dimension_names=[dim], compressors=_compressors())
        a[...] = vals
    for k, (dims, shape, dtype, fill, attrs) in _layout(grid, spec).items():
        chunks = cshape + ((shape[-1],) if k == "spike_times" else ())
        g.create_array(k, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                       dimension_names=list(dims), attributes=attrs,
                       compressors=_compressors())
    # last: a store without these was never fully created
    g.attrs.update({**_attrs(spec), FORMAT_ATTR: STORE_FORMAT, RUN_ATTR: run_id})
    n = len(grid._bounds(cshape)) - 1
    return cshape, np.ones(n, dtype=bool)


def _compressors():
    from zarr.codecs import ZstdCodec

    return [ZstdCodec(level=0, checksum=True)]  # level 0 = zstd's default (3), as zarr's


def _create_group(store: str, replace: bool):
    import zarr

    for attempt in range(5):
        try:
            return zarr.open_group(store, mode="w" if replace else "w-", zarr_format=3)
        except OSError:  # a task of a replaced run wrote a file while the old tree was removed
            if not replace or attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError  # pragma: no cover


def _read_done(store, grid, done, cshape, bounds) -> np.ndarray:
    """The done flags (flat); an unreadable chunk of ``done`` is named, with the repair."""
    try:
        return np.asarray(done[...]).reshape(-1)
    except Exception:
        pass
    flags = np.zeros(grid.size, dtype=bool)
    for c in range(len(bounds) - 1):
        sl = grid._region(cshape, bounds[c], bounds[c + 1])
        try:
            flags[bounds[c]:bounds[c + 1]] = np.asarray(done[sl]).reshape(-1)
        except Exception as e:
            idx = tuple(s.start // n for s, n in zip(sl, cshape, strict=True))
            raise SweepStoreError(
                f"store {store!r}: chunk {idx} of 'done' (points {bounds[c]}..{bounds[c + 1] - 1}"
                f") is unreadable ({e}); run hhfast.verify_sweep({store!r}) or `hhfast sweep "
                f"--verify {store}` to mark the damaged chunks not done, then run the sweep "
                f"again to recompute them") from None
    return flags


#: _open_existing's answer for an interrupted creation that ``overwrite`` may replace
_INCOMPLETE = object()


def _open_existing(store: str, overwrite: bool = False):
    """The existing hhfast store at ``store``, None if there is nothing there, _INCOMPLETE for
    an interrupted creation when ``overwrite``; ValueError if something else is there (never
    deleted)."""
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
        raise InputValueError(f"store {store!r} exists and is not a Zarr store; refusing to touch "
                         f"it (choose another path)") from None
    if "hhfast_version" not in g.attrs:
        if overwrite and _is_interrupted_creation(g):
            return _INCOMPLETE
        raise InputValueError(f"store {store!r} is a Zarr store but not a complete hhfast sweep; "
                         f"remove it (or pass overwrite=True if it is an interrupted creation)")
    return zarr.open_group(store, mode="r+")


def _is_interrupted_creation(g) -> bool:
    """A group without attributes whose members all have names a sweep store uses: what a
    creation killed (or failing on a full disk) before its last step leaves.  Anything else
    is someone else's data and is never replaced."""
    if dict(g.attrs):
        return False
    names = set(METRICS) | {"done"}
    for name in g.keys():  # an axis is a per-neuron keyword or a stimulus.<key> path
        if name not in names and not _is_axis_name(name):
            return False
    return True


def _is_axis_name(name) -> bool:
    try:
        _check_axis_name(name)
    except (ValueError, TypeError):
        return False
    return True


def _spec_difference(g, grid: Grid, spec) -> str:
    """'' if the store holds this spec, else a description of the first differences."""
    stored = dict(g.attrs)
    diffs = []
    asked = _attrs(spec)
    asked.update({k: None for k in OPTIONAL_ATTRS if k in stored and k not in asked})
    for k, v in asked.items():
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

    store = C.store_path("store", store)
    if "://" not in store and not os.path.exists(store):
        raise InputValueError(f"store {store!r} does not exist")
    ds = xr.open_zarr(store, consolidated=False)
    if "hhfast_version" not in ds.attrs:
        raise InputValueError(f"store {store!r} is not an hhfast sweep store")
    ds = ds[[*ds.attrs["metrics"], "done"]]  # a stable order (the store lists alphabetically)
    if ds.attrs.get("grid") == "table":  # small non-index coordinates: load them
        ds = ds.assign_coords({k: ds[k].compute() for k in ds.attrs["axes"]})
    return ds


def _full_arrays(g, names):
    """The arrays ``names`` of group ``g`` opened so that every chunk write stores a file, even
    one that is all fill value (format 2: a missing chunk file then means damage)."""
    import zarr

    if g.attrs.get(FORMAT_ATTR, 1) < 2:
        return {k: g[k] for k in names}
    with _CONFIG_LOCK, zarr.config.set({"array.write_empty_chunks": True}):
        return {k: g[k] for k in names}  # the config is read when an array is opened


#: zarr's config is process-global: one thread at a time sets it around opening arrays
_CONFIG_LOCK = threading.Lock()


def _write_chunks(store: str, regions, out: dict[str, np.ndarray], run_id: str | None = None
                  ) -> None:
    """Write a batch's chunks, each marked done after its data, for run ``run_id`` only."""
    import zarr

    try:
        g = zarr.open_group(store, mode="r+")
        if run_id is not None and g.attrs.get(RUN_ATTR) != run_id:
            raise _replaced(store)
        arrays = _full_arrays(g, [*out, "done"])
    except Exception as e:  # a store being removed or rebuilt fails in many ways
        if isinstance(e, SweepStoreError) or _changed_hands(store, run_id):
            raise _replaced(store) from None
        raise
    done = arrays.pop("done")
    off, marked = 0, []
    try:
        for region in regions:
            sl = tuple(slice(a, b) for a, b in region)
            shape = tuple(b - a for a, b in region)
            n = math.prod(shape)
            for k, data in out.items():
                arrays[k][sl] = data[off : off + n].reshape(shape + data.shape[1:])
            done[sl] = True  # only after every data write of the chunk has returned
            marked.append(sl)
            off += n
    except Exception:
        if _changed_hands(store, run_id):
            raise _replaced(store) from None
        raise
    if run_id is not None and _current_run(store) != run_id:
        for sl in marked:  # the store changed hands while we wrote: take our marks back
            try:
                done[sl] = False
            except Exception:  # the store is gone or being rebuilt: nothing left to undo
                break
        raise _replaced(store)


# -- verification ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DamagedChunk:
    """A done chunk of a sweep store that failed :func:`verify_sweep`.

    Attributes
    ----------
    index : tuple of int
        The chunk's position in the chunk grid of ``done``.
    points : (int, int)
        Its flat grid points ``lo .. hi - 1`` (C order).
    problems : dict[str, str]
        Variable -> what is wrong (``"missing"``, ``"unreadable: ..."``).
    """

    index: tuple
    points: tuple
    problems: dict = field(default_factory=dict)

    def __str__(self) -> str:
        what = "; ".join(f"{k}: {v}" for k, v in self.problems.items())
        return f"chunk {self.index} (points {self.points[0]}..{self.points[1] - 1}): {what}"


def verify_sweep(store) -> list[DamagedChunk]:
    """Read every done chunk of a sweep store; mark the damaged ones not done.

    A chunk is damaged when a variable's chunk cannot be decoded (truncated or altered file:
    zstd's checksum fails) or, in stores this version created, its file is missing.  Its
    ``done`` flags are set to False, so the next run of the same sweep recomputes exactly
    those chunks.  Refused while a sweep writes the store.

    Parameters
    ----------
    store : str or path
        The sweep store (local path or URL).

    Returns
    -------
    list of DamagedChunk
        The damaged chunks, empty if the store is sound.
    """
    _require_sweep_extra()
    import zarr

    store = C.store_path("store", store)
    if "://" not in store:
        store = os.path.abspath(store)
        if not os.path.exists(store):
            raise InputValueError(f"store {store!r} does not exist")
    with _StoreLock(store, purpose="verify_sweep"):
        try:
            g = zarr.open_group(store, mode="r+")
        except Exception as e:
            raise InputValueError(f"store {store!r} is not a Zarr store ({e})") from None
        if "hhfast_version" not in g.attrs:
            raise InputValueError(f"store {store!r} is not a complete hhfast sweep store")
        return _damaged_chunks(g)


def _damaged_chunks(g) -> list[DamagedChunk]:
    """The done chunks of sweep group ``g`` (open r+) that are damaged, marked not done there.
    Call with the store's lock held."""
    from zarr.core.sync import sync

    full = g.attrs.get(FORMAT_ATTR, 1) >= 2
    arrays = _full_arrays(g, [*g.attrs["metrics"], "done"])
    done = arrays.pop("done")
    shape, cshape = tuple(done.shape), tuple(done.chunks)
    counts = tuple(-(-s // c) for s, c in zip(shape, cshape, strict=True))
    damaged = []
    for index in np.ndindex(*counts):
        sl = tuple(slice(i * c, min((i + 1) * c, s))
                   for i, c, s in zip(index, cshape, shape, strict=True))
        lo = int(np.ravel_multi_index(tuple(x.start for x in sl), shape)) if shape else 0
        hi = lo + math.prod(x.stop - x.start for x in sl)
        problems = {}
        try:
            claimed = bool(np.asarray(done[sl]).any())
        except Exception as e:
            claimed, problems["done"] = True, f"unreadable: {e}"
        if not claimed:
            continue
        for k, a in arrays.items():
            key = f"{a.path}/{a.metadata.encode_chunk_key(index + (0,) * (a.ndim - len(index)))}"
            if full and not sync(g.store.exists(key)):
                problems[k] = "missing"
                continue
            try:
                a[sl]
            except Exception as e:
                problems[k] = f"unreadable: {e}"
        if problems:
            done[sl] = False  # written whole: replaces a damaged chunk of done too
            damaged.append(DamagedChunk(tuple(int(i) for i in index), (lo, hi), problems))
    return damaged
