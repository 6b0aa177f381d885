"""The sweep store: creation, the check of an existing store against the spec, chunk writes
and ``done`` marking, and reading it back."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .grid import Grid
from .spec import _attrs, _layout


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

