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
* **Checksums.**  Stores of format 2 and later compress every chunk with zstd *with* its
  content checksum and write every chunk of every variable, even one that is all fill value,
  so a done chunk whose file is missing, truncated or altered is detected by
  :func:`verify_sweep`, which marks it not done for the next run to recompute.  A resume runs
  the same check on the chunks it would skip and recomputes the damaged ones.
* **Position checksums** (format 3).  A checksum of the bytes alone cannot tell two valid
  chunk files apart, so a chunk file moved or swapped with another (of the same variable or
  of another one) would read back as valid data of the wrong points.  So every chunk of every
  metric also gets a 64-bit BLAKE2b digest of (variable name, chunk number, dtype, shape,
  values), kept in the array ``chunk_digest`` (one row per store chunk, written by the task
  that writes the chunk, before it marks it done), and the axis values get one digest each in
  the attribute ``hhfast_axis_digests``.  :func:`verify_sweep` recomputes them all.  Stores of
  formats 1 and 2 are verified with their own rule, and the report says so
  (the ``notes`` of :class:`VerifyReport`); they are resumed as before, except a store with a ``trial``
  axis (its trial values were labels then, ids now: refused, see ``execute.py``).
* **Damaged metadata** (a garbled ``zarr.json``, lost attributes, a missing or reshaped array)
  is a :class:`DamagedStoreError` naming each problem and the recovery, from
  :func:`verify_sweep` and from a resume alike, never a decoder's traceback.
* **Atomic files.**  zarr >= 3.1.3 writes each local file to a temporary name and renames it
  into place, so a kill never leaves a half-written chunk or ``zarr.json`` (hence the
  minimum version of the ``sweep`` extra).
"""

from __future__ import annotations

import hashlib
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
from .. import config
from ..errors import InputValueError
from .grid import Grid, _check_axis_name, axis_blocks
from .spec import METRICS, OPTIONAL_ATTRS, _attrs, _layout

try:  # POSIX; elsewhere local stores are guarded by the run identity alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Value of the attribute ``hhfast_store_format`` of stores this version creates: 3 = chunk
#: digests that cover each chunk's position (``chunk_digest``, ``hhfast_axis_digests``) and
#: trial axes whose values are the trial ids; 2 = every chunk written (empty ones too) and
#: zstd with checksums.  Stores without it (format 1) are still read and resumed;
#: :func:`verify_sweep` can then detect unreadable chunks only.
STORE_FORMAT = 3
#: Group attribute holding the id of the run allowed to write the store.
RUN_ATTR = "hhfast_run"
FORMAT_ATTR = "hhfast_store_format"
#: The array of per-chunk digests (format 3): row = store chunk number, column = metric.
DIGEST_ARRAY = "chunk_digest"
#: Group attribute: axis name -> digest of its values (format 3).
AXIS_DIGEST_ATTR = "hhfast_axis_digests"
#: Group attributes every hhfast sweep store holds (those of the spec; see spec._attrs).
REQUIRED_ATTRS = ("hhfast_version", "method", "dt", "t_stop", "window", "stimulus", "params",
                  "fixed", "metrics", "max_spikes", "seed", "axes", "grid")


class SweepStoreError(InputValueError):
    """A sweep store that cannot be used as asked: in use by another sweep, replaced while
    this sweep wrote it, or damaged.  The message names the store and what to do."""


class DamagedStoreError(SweepStoreError):
    """A sweep store whose metadata is damaged (its ``zarr.json`` files, attributes, arrays or
    axis values), so that none of its chunks can be trusted or attributed to points.

    Attributes
    ----------
    store : str
        The store.
    problems : list of str
        What is damaged, one entry per problem.
    recovery : str
        How to recover.
    """

    def __init__(self, store: str, problems: list[str], recovery: str):
        self.store, self.problems, self.recovery = store, list(problems), recovery
        super().__init__(f"store {store!r} is damaged: {'; '.join(self.problems)}. {recovery}")


#: Recovery from damaged metadata when the spec in the attributes is intact.
_RECOVER_OVERWRITE = ("Its spec (the group attributes) is intact: run the same sweep again with "
                      "overwrite=True (hhfast sweep SPEC.toml --overwrite) to recompute it in "
                      "place, or into a new store")
#: ... when it is damaged but still marks the store as an hhfast sweep.
_RECOVER_RESPEC = ("Its spec (the group attributes) is damaged, but the store is still marked as "
                   "an hhfast sweep: run the sweep again from its spec with overwrite=True "
                   "(hhfast sweep SPEC.toml --overwrite) to recompute it in place")
#: ... and when it is not: hhfast never replaces what it cannot recognise as its own.
_RECOVER_REMOVE = ("Its spec cannot be read back, so hhfast will not replace it: remove the "
                   "store yourself (rm -r it) and run the sweep again from its spec")


class VerifyReport(list):
    """What :func:`verify_sweep` found: a list of :class:`DamagedChunk` (empty when sound), with

    Attributes
    ----------
    store : str
        The store.
    format : int
        Its store format (``hhfast_store_format``; 1 when absent).
    notes : list of str
        What the check could not cover (older formats), to show beside the result.
    """

    def __init__(self, chunks=(), store: str = "", format: int = STORE_FORMAT, notes=()):
        super().__init__(chunks)
        self.store, self.format, self.notes = store, format, list(notes)


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
        fmt = existing.attrs.get(FORMAT_ATTR, 1)
        if fmt < 3 and "trial" in grid.axes:
            raise SweepStoreError(
                f"store {store!r} (format {fmt}, written by an older hhfast) has a 'trial' axis "
                f"whose values were labels only: its points took their noise from their grid "
                f"index, while this version takes it from the trial value, so a resume would "
                f"mix two noises; pass overwrite=True to recompute it, or finish it with the "
                f"hhfast version that started it")
        existing.attrs[RUN_ATTR] = run_id  # before reading done: older runs' tasks now stop
        done = existing["done"]
        cshape = tuple(done.chunks)
        bounds = grid._bounds(cshape)
        chunk_done = _chunks_done(store, grid, done, cshape, bounds)
        if chunk_done.any():
            # a resume trusts its done chunks only once they read back intact (cheap next to
            # computing them): damaged ones are marked not done and recomputed by this run
            damaged = _damaged_chunks(existing)
            if damaged:
                shown = "; ".join(str(d) for d in damaged[:3])
                more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
                warnings.warn(f"store {store!r}: {len(damaged)} done chunks were damaged "
                              f"({shown}{more}); this run recomputes them", stacklevel=3)
                chunk_done = _chunks_done(store, grid, done, cshape, bounds)
        return cshape, ~chunk_done

    # "w" replaces only a store recognised above as an hhfast sweep (or its interrupted
    # creation); otherwise "w-" refuses to write over anything that is there
    g = _create_group(store, replace=existing is not None)
    digests = {}
    for name, vals in grid.axes.items():  # written block by block: never the whole axis
        dim = "point" if grid.is_table else name
        n = vals.size
        a = g.create_array(name, shape=(n,), chunks=(min(n, config.SWEEP_AXIS_BLOCK),),
                           dtype="float64", dimension_names=[dim], compressors=_compressors())
        h = _axis_hash(name)
        for lo, block in axis_blocks(vals):
            block = np.ascontiguousarray(block, dtype=np.float64)
            a[lo : lo + block.size] = block
            h.update(block.view(np.uint8))
        digests[name] = h.hexdigest()
    metrics = list(spec["metrics"])
    for k, (dims, shape, dtype, fill, attrs) in _layout(grid, spec).items():
        chunks = cshape + ((shape[-1],) if k == "spike_times" else ())
        g.create_array(k, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                       dimension_names=list(dims), attributes=attrs,
                       compressors=_compressors())
    n = len(grid._bounds(cshape)) - 1
    g.create_array(DIGEST_ARRAY, shape=(n, len(metrics)), chunks=(1, len(metrics)),
                   dtype="uint64", fill_value=0, compressors=_compressors(),
                   dimension_names=["store_chunk", "digest_variable"],
                   attributes={"variables": metrics, "long_name": "BLAKE2b-64 of (variable, "
                               "chunk number, dtype, shape, values) per store chunk; 0 = none"})
    # last: a store without these was never fully created
    g.attrs.update({**_attrs(spec), FORMAT_ATTR: STORE_FORMAT, RUN_ATTR: run_id,
                    AXIS_DIGEST_ATTR: digests})
    return cshape, np.ones(n, dtype=bool)


def _axis_hash(name: str):
    h = hashlib.blake2b(digest_size=16)
    h.update(f"axis\0{name}\0".encode())
    return h


def chunk_digest(name: str, chunk: int, values: np.ndarray) -> int:
    """The digest of store chunk number ``chunk`` of variable ``name`` holding ``values``: 64
    bits of BLAKE2b over all four, so equal bytes at another position or in another variable
    give another digest (never 0, the mark of a chunk without one)."""
    a = np.ascontiguousarray(values)
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{name}\0{int(chunk)}\0{a.dtype.str}\0{a.shape}\0".encode())
    h.update(a.view(np.uint8).reshape(-1))
    return int.from_bytes(h.digest(), "little") or 1


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


def _chunks_done(store, grid, done, cshape, bounds) -> np.ndarray:
    """Per store chunk: are all its points done?  Read in slabs of whole rows of the first
    dimension, about ``config.SWEEP_AXIS_BLOCK`` points each and aligned to the chunks (a
    chunk never straddles two slabs), so a resume of a huge grid costs a slab, not the grid.
    An unreadable chunk of ``done`` is named, with the repair."""
    shape, c0 = grid.shape, cshape[0]
    inner = math.prod(shape[1:])
    rows = max(c0, config.SWEEP_AXIS_BLOCK // max(inner, 1) // c0 * c0)
    out = np.zeros(len(bounds) - 1, dtype=bool)
    for a in range(0, shape[0], rows):
        b = min(a + rows, shape[0])
        first, last = np.searchsorted(bounds[:-1], [a * inner, b * inner])
        try:
            flags = np.asarray(done[a:b]).reshape(-1)
        except Exception:
            flags = _read_done(store, grid, done, cshape, bounds, range(first, last), a * inner)
        out[first:last] = np.logical_and.reduceat(flags, bounds[first:last] - a * inner)
    return out


def _read_done(store, grid, done, cshape, bounds, chunks, offset) -> np.ndarray:
    """The done flags of store chunks ``chunks`` (consecutive; flat, from point ``offset``),
    read chunk by chunk to name the one that is unreadable, with the repair."""
    flags = np.zeros(bounds[chunks[-1] + 1] - offset, dtype=bool)
    for c in chunks:
        sl = grid._region(cshape, bounds[c], bounds[c + 1])
        try:
            flags[bounds[c] - offset:bounds[c + 1] - offset] = np.asarray(done[sl]).reshape(-1)
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


def stored_metrics(store) -> list | None:
    """The metrics an existing hhfast store at ``store`` holds (its ``metrics`` attribute), or
    None where there is none to read (nothing there, not a store, unreadable: the checks of
    the run that follows say why)."""
    import zarr

    try:
        if isinstance(store, os.PathLike):
            store = os.fspath(store)
        if not isinstance(store, str) or ("://" not in store and not os.path.exists(store)):
            return None
        metrics = zarr.open_group(store, mode="r").attrs.get("metrics")
    except Exception:  # noqa: BLE001 - anything unreadable is the run's checks' to report
        return None
    return list(metrics) if isinstance(metrics, list) else None


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
    except Exception as e:
        if "://" in store:
            return None
        if os.path.exists(os.path.join(store, "zarr.json")):  # ours or not: never replaced
            raise DamagedStoreError(store, [_unreadable_group(e)], _RECOVER_REMOVE) from None
        raise InputValueError(f"store {store!r} exists and is not a Zarr store; refusing to touch "
                         f"it (choose another path)") from None
    if "hhfast_version" not in g.attrs:
        if overwrite and _is_interrupted_creation(g):
            return _INCOMPLETE
        raise InputValueError(f"store {store!r} is a Zarr store but not a complete hhfast sweep; "
                         f"remove it (or pass overwrite=True if it is an interrupted creation)")
    if not overwrite:  # a resume: the metadata must be whole before anything is trusted
        _check_metadata(store, g)
    return zarr.open_group(store, mode="r+")


def _unreadable_group(e: Exception) -> str:
    return (f"its zarr.json (the group metadata holding the sweep's spec) is unreadable "
            f"({type(e).__name__}: {e})")


def _open_checked(store: str, mode: str):
    """The sweep group at ``store`` with whole metadata (:func:`_check_metadata`); a
    :class:`DamagedStoreError` naming the damage otherwise, InputValueError if it is not a sweep
    store at all."""
    import zarr

    try:
        g = zarr.open_group(store, mode=mode)
    except Exception as e:
        absent = (isinstance(e, (FileNotFoundError, zarr.errors.NodeNotFoundError))
                  if "://" in store else not os.path.exists(os.path.join(store, "zarr.json")))
        if absent:
            raise InputValueError(f"store {store!r} is not a Zarr store ({e})") from None
        raise DamagedStoreError(store, [_unreadable_group(e)], _RECOVER_REMOVE) from None
    if "hhfast_version" not in g.attrs:
        if not any(k in g.attrs for k in REQUIRED_ATTRS) and not _is_interrupted_creation(g):
            raise InputValueError(f"store {store!r} is not a complete hhfast sweep store")
        recovery = (("It looks like an interrupted creation (or one whose attributes were "
                     "lost): run the sweep again with overwrite=True (--overwrite) to replace "
                     "it") if _is_interrupted_creation(g) else _RECOVER_REMOVE)
        raise DamagedStoreError(store, ["its attributes (the sweep's spec) are missing "
                                        "'hhfast_version'"], recovery)
    _check_metadata(store, g)
    return g


def _check_metadata(store: str, g) -> None:
    """Refuse, naming every problem and the recovery, a sweep group whose metadata is damaged:
    attributes missing or of the wrong kind, arrays missing or unreadable, shapes or chunks
    that disagree, axis values that no longer match their digests (format 3)."""
    attrs = dict(g.attrs)
    problems = [f"attribute {k!r} is missing" for k in REQUIRED_ATTRS if k not in attrs]
    metrics, axes = attrs.get("metrics"), attrs.get("axes")
    if not (isinstance(metrics, list) and metrics and all(m in METRICS for m in metrics)):
        metrics = None
        if "metrics" in attrs:
            problems.append(f"attribute 'metrics' is not a list of metrics: {attrs['metrics']!r}")
    if not (isinstance(axes, list) and axes and all(isinstance(a, str) for a in axes)):
        axes = None
        if "axes" in attrs:
            problems.append(f"attribute 'axes' is not a list of axis names: {attrs['axes']!r}")
    fmt = attrs.get(FORMAT_ATTR, 1)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or not 1 <= fmt <= STORE_FORMAT:
        problems.append(f"attribute {FORMAT_ATTR!r} is {fmt!r}, not a store format of this "
                        f"version (1..{STORE_FORMAT})")
        fmt = STORE_FORMAT
    names = [*(axes or []), *(metrics or []), "done"] + ([DIGEST_ARRAY] if fmt >= 3 else [])
    arrays = {}
    for name in names:
        try:
            arrays[name] = g[name]
        except KeyError:
            problems.append(f"array {name!r} is missing")
        except Exception as e:  # its zarr.json garbled, truncated, emptied
            problems.append(f"array {name!r} has unreadable metadata ({type(e).__name__}: {e})")
    if axes is not None and all(a in arrays for a in axes) and "done" in arrays:
        lengths = [arrays[a].shape for a in axes]
        table = attrs.get("grid") == "table"
        if any(len(s) != 1 for s in lengths) or (table and len(set(lengths)) != 1):
            problems.append(f"the axis arrays have shapes {lengths}, not those of a "
                            f"{'table' if table else 'product'} grid")
        else:
            shape = lengths[0] if table else tuple(s[0] for s in lengths)
            done = arrays["done"]
            if tuple(done.shape) != shape:
                problems.append(f"array 'done' has shape {tuple(done.shape)}, the axes give "
                                f"{shape}")
            for m in metrics or []:
                if m in arrays and (tuple(arrays[m].shape[: len(shape)]) != shape
                                    or tuple(arrays[m].chunks[: len(shape)]) != done.chunks):
                    problems.append(f"array {m!r} has shape {tuple(arrays[m].shape)} and chunks "
                                    f"{tuple(arrays[m].chunks)}, not those of 'done' "
                                    f"({shape}, {tuple(done.chunks)})")
            if fmt >= 3 and DIGEST_ARRAY in arrays and metrics is not None:
                n = math.prod(-(-s // c) for s, c in zip(shape, done.chunks, strict=True))
                if tuple(arrays[DIGEST_ARRAY].shape) != (n, len(metrics)):
                    problems.append(f"array {DIGEST_ARRAY!r} has shape "
                                    f"{tuple(arrays[DIGEST_ARRAY].shape)}, not ({n}, "
                                    f"{len(metrics)}) (store chunks, metrics)")
    if fmt >= 3 and axes is not None:
        digests = attrs.get(AXIS_DIGEST_ATTR)
        if not isinstance(digests, dict):
            problems.append(f"attribute {AXIS_DIGEST_ATTR!r} is missing")
        else:
            for a in axes:
                if a in arrays and len(arrays[a].shape) == 1:
                    problems += _axis_problems(a, arrays[a], digests.get(a))
    if problems:
        intact = not any(p.startswith("attribute") for p in problems)
        raise DamagedStoreError(store, problems, _RECOVER_OVERWRITE if intact
                                else _RECOVER_RESPEC)


def _axis_problems(name: str, array, digest) -> list[str]:
    """Read axis ``name`` block by block and compare it with its digest."""
    h = _axis_hash(name)
    n = array.shape[0]
    try:
        for lo in range(0, n, config.SWEEP_AXIS_BLOCK):
            block = np.ascontiguousarray(array[lo : lo + config.SWEEP_AXIS_BLOCK],
                                         dtype=np.float64)
            h.update(block.view(np.uint8))
    except Exception as e:
        return [f"the values of axis {name!r} are unreadable ({type(e).__name__}: {e})"]
    if h.hexdigest() != digest:
        return [f"the values of axis {name!r} do not match their digest (altered, or chunk "
                f"files moved)"]
    return []


def _is_interrupted_creation(g) -> bool:
    """A group without attributes whose members all have names a sweep store uses: what a
    creation killed (or failing on a full disk) before its last step leaves.  Anything else
    is someone else's data and is never replaced."""
    if dict(g.attrs):
        return False
    names = set(METRICS) | {"done", DIGEST_ARRAY}
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
            if not _same_axis(g, name, vals):
                diffs.append(f"values of axis {name!r}")
    return "; ".join(diffs[:3])


def _same_axis(g, name: str, vals) -> bool:
    """Does the store's axis ``name`` hold ``vals``?  Compared block by block."""
    if name not in g or tuple(g[name].shape) != (vals.size,):
        return False
    a = g[name]
    return all(np.array_equal(np.asarray(a[lo : lo + len(block)]), block)
               for lo, block in axis_blocks(vals))


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
        positional = g.attrs.get(FORMAT_ATTR, 1) >= 3
        arrays = _full_arrays(g, [*out, "done"] + ([DIGEST_ARRAY] if positional else []))
    except Exception as e:  # a store being removed or rebuilt fails in many ways
        if isinstance(e, SweepStoreError) or _changed_hands(store, run_id):
            raise _replaced(store) from None
        raise
    done = arrays.pop("done")
    digest = arrays.pop(DIGEST_ARRAY, None)
    columns = list(digest.attrs["variables"]) if digest is not None else []
    cshape = tuple(done.chunks)
    counts = tuple(-(-s // c) for s, c in zip(done.shape, cshape, strict=True))
    off, marked = 0, []
    try:
        for region in regions:
            sl = tuple(slice(a, b) for a, b in region)
            shape = tuple(b - a for a, b in region)
            n = math.prod(shape)
            chunk = int(np.ravel_multi_index(tuple(a // c for (a, _), c in
                                                   zip(region, cshape, strict=True)), counts))
            row = {}
            for k, data in out.items():
                block = np.ascontiguousarray(data[off : off + n].reshape(shape + data.shape[1:]),
                                             dtype=arrays[k].dtype)
                arrays[k][sl] = block
                row[k] = chunk_digest(k, chunk, block)
            if digest is not None:  # the chunk's digests, then (last) its done marks
                digest[chunk : chunk + 1, :] = np.array([[row[k] for k in columns]],
                                                        dtype=np.uint64)
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


def verify_sweep(store) -> VerifyReport:
    """Check a sweep store's metadata, read every done chunk, mark the damaged ones not done.

    First the metadata: the group's ``zarr.json`` and the spec in its attributes, every array
    (axes, metrics, ``done``, ``chunk_digest``) with consistent shapes and chunks, the axis
    values against their digests.  Damage there is a :class:`DamagedStoreError` naming each
    problem and the recovery (no chunk can be trusted without it).  Then every done chunk: it
    is damaged when a variable's chunk cannot be decoded (truncated or altered file: zstd's
    checksum fails), its file is missing, or (format 3) its values do not match the digest of
    its variable and position (a chunk file moved or swapped with another, or altered).  Its
    ``done`` flags are set to False, so the next run of the same sweep recomputes exactly
    those chunks.  Stores of older formats are checked with their own, weaker rule, which the
    report's ``notes`` state.  Refused while a sweep writes the store.

    Parameters
    ----------
    store : str or path
        The sweep store (local path or URL).

    Returns
    -------
    VerifyReport
        A list of the damaged chunks (:class:`DamagedChunk`, empty if the store is sound),
        with the store's ``format`` and ``notes`` on what its format lets the check cover.

    Raises
    ------
    DamagedStoreError
        The metadata is damaged (what, and how to recover, in the message).
    """
    _require_sweep_extra()

    store = C.store_path("store", store)
    if "://" not in store:
        store = os.path.abspath(store)
        if not os.path.exists(store):
            raise InputValueError(f"store {store!r} does not exist")
    with _StoreLock(store, purpose="verify_sweep"):
        g = _open_checked(store, mode="r+")
        fmt = g.attrs.get(FORMAT_ATTR, 1)
        notes = []
        if fmt < 3:
            notes.append(
                f"store format {fmt} (written by an older hhfast): checked with that format's "
                f"rule, the chunks' own content checksums" + ("" if fmt >= 2 else
                " (and only chunks that cannot be decoded: format 1 omits all-fill chunks)")
                + "; a chunk file moved or swapped with another valid one cannot be detected. "
                "Recompute it (overwrite=True, or a new store) for position checksums")
        return VerifyReport(_damaged_chunks(g), store=store, format=fmt, notes=notes)


def _damaged_chunks(g) -> list[DamagedChunk]:
    """The done chunks of sweep group ``g`` (open r+) that are damaged, marked not done there.
    Call with the store's lock held."""
    from zarr.core.sync import sync

    fmt = g.attrs.get(FORMAT_ATTR, 1)
    full = fmt >= 2
    arrays = _full_arrays(g, [*g.attrs["metrics"], "done"] + ([DIGEST_ARRAY] if fmt >= 3 else []))
    done = arrays.pop("done")
    digest = arrays.pop(DIGEST_ARRAY, None)
    columns = list(digest.attrs.get("variables", [])) if digest is not None else []
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
        chunk = int(np.ravel_multi_index(index, counts)) if counts else 0
        expected = None
        if digest is not None:
            try:
                expected = dict(zip(columns, np.asarray(digest[chunk]).tolist(), strict=True))
            except Exception as e:
                problems[DIGEST_ARRAY] = f"unreadable: {e}"
        for k, a in arrays.items():
            key = f"{a.path}/{a.metadata.encode_chunk_key(index + (0,) * (a.ndim - len(index)))}"
            if full and not sync(g.store.exists(key)):
                problems[k] = "missing"
                continue
            try:
                values = np.asarray(a[sl])
            except Exception as e:
                problems[k] = f"unreadable: {e}"
                continue
            if expected is None:
                continue
            want = expected.get(k, 0)
            if want == 0:
                problems[k] = "no checksum recorded for this chunk"
            elif chunk_digest(k, chunk, values) != want:
                problems[k] = ("checksum mismatch: the file holds other data than was written at "
                               "this position (a chunk file moved, swapped or altered)")
        if problems:
            done[sl] = False  # written whole: replaces a damaged chunk of done too
            damaged.append(DamagedChunk(tuple(int(i) for i in index), (lo, hi), problems))
    return damaged
