"""Sweeps: grids, chunked runs, the resumable Zarr store, spec checks, progress.

The yardstick for every result is one plain ``hh.simulate`` call over the whole broadcast grid
(a single batch, no chunking, no store): the kernels compute each neuron independently of its
batch and position, so a sweep must reproduce it *bitwise* whatever its chunking, resumption or
stimulus axes.  Grids are small and runs short (tens of ms of model time) to keep this fast.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hhfast as hh
from hhfast import analysis, sweeps

zarr = pytest.importorskip("zarr")

AMPS = np.linspace(0.0, 20.0, 23)
GKS = np.array([30.0, 36.0, 42.0])
RUN = {"t_stop": 30.0, "dt": 0.025, "method": "expeuler"}


def reference(amps=AMPS, gks=GKS, stimulus=None, **kw):
    """Metrics of one simulate() call over the whole product grid (amplitude x gK)."""
    res = hh.simulate(stimulus or hh.step(start=2.0), amplitude=amps[:, None],
                      gK=gks[None, :], **{**RUN, **kw})
    return analysis.window_metrics(res)


def assert_same(ds, ref):
    for k, v in ref.items():
        got = np.asarray(ds[k].values)
        assert got.dtype == np.asarray(v).dtype, k
        assert np.array_equal(got, v, equal_nan=True), k


# -- grids ---------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 12), min_size=1, max_size=3).map(tuple),
       chunk=st.integers(1, 200))
def test_chunks_tile_the_grid_as_contiguous_boxes(shape, chunk):
    g = hh.grid(**{n: np.arange(s, dtype=float) for n, s in zip(("gK", "gNa", "gL"), shape,
                                                                 strict=False)})
    assert g.shape == shape and g.size == int(np.prod(shape))
    cs = g.chunk_shape(chunk)
    assert int(np.prod(cs)) <= chunk or cs == shape  # at most chunk points, unless all fit
    chunks = g.chunks(chunk)
    assert chunks[0][0] == 0 and chunks[-1][1] == g.size
    for (lo, hi), (lo2, _) in zip(chunks[:-1], chunks[1:], strict=True):
        assert hi == lo2 and hi > lo
    for lo, hi in chunks:  # each chunk is an n-D box whose flat indices are exactly [lo, hi)
        box = g._region(cs, lo, hi)
        idx = np.ravel_multi_index(np.meshgrid(*[np.arange(s.start, s.stop) for s in box],
                                               indexing="ij"), shape).reshape(-1)
        assert np.array_equal(np.sort(idx), np.arange(lo, hi))
        assert all(s.stop - s.start <= c for s, c in zip(box, cs, strict=True))


def test_grid_values_follow_c_order_and_tables():
    g = hh.grid(amplitude=[1.0, 2.0], gK=[10.0, 20.0, 30.0])
    A, G = np.meshgrid([1.0, 2.0], [10.0, 20.0, 30.0], indexing="ij")
    v = g.values(np.arange(6))
    assert np.array_equal(v["amplitude"], A.ravel()) and np.array_equal(v["gK"], G.ravel())
    t = hh.grid(points={"amplitude": [1.0, 5.0, 9.0], "gK": [30.0, 36.0, 30.0]})
    assert t.dims == ("point",) and t.shape == (3,)
    assert np.array_equal(t.values([2, 0])["amplitude"], [9.0, 1.0])


@pytest.mark.parametrize("call,match", [
    (lambda: hh.grid(gk=[1.0]), "'gk'"),
    (lambda: hh.grid(gK=[1.0, np.nan]), "gK must be finite"),
    (lambda: hh.grid(gK=[-1.0]), "gK must be >= 0"),
    (lambda: hh.grid(gK=[]), "'gK' must be a non-empty"),
    (lambda: hh.grid(points={"gK": [1.0, 2.0], "gNa": [1.0]}), "same length"),
    (lambda: hh.grid(gK=[[1.0, 2.0]]), "1-D"),
])
def test_bad_grids_name_the_axis(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_default_metrics_are_those_of_window_metrics():
    res = hh.simulate(hh.step(), t_stop=1.0, dt=0.025, method="expeuler")
    assert set(analysis.window_metrics(res)) == set(sweeps.DEFAULT_METRICS)
    assert set(sweeps.DEFAULT_METRICS) <= set(sweeps.METRICS)


# -- in memory -----------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk,batch", [("auto", "auto"), (7, 7), (5, 31), (1, 3)])
def test_sweep_is_bitwise_one_simulate_call_whatever_the_chunking(chunk, batch):
    ref = reference()
    ds = hh.sweep(hh.grid(amplitude=AMPS, gK=GKS), hh.step(start=2.0), **RUN, chunk_size=chunk,
                  batch_size=batch, progress=False)
    assert ds.count_rate.dims == ("amplitude", "gK")
    assert np.array_equal(ds.amplitude, AMPS) and np.array_equal(ds.gK, GKS)
    assert_same(ds, ref)
    assert bool(ds.done.all())
    assert ds.attrs["method"] == "expeuler" and ds.attrs["dt"] == 0.025
    assert json.loads(ds.attrs["stimulus"])["type"] == "piecewise"
    assert ds.spike_count.max() > 0  # the grid spans quiet and firing points


def test_table_grid_matches_simulate_at_those_points():
    amps, gks = np.array([3.0, 8.0, 15.0, 15.0]), np.array([36.0, 30.0, 36.0, 45.0])
    res = hh.simulate(hh.step(start=2.0), amplitude=amps, gK=gks, **RUN)
    ds = hh.sweep(hh.grid(points={"amplitude": amps, "gK": gks}), hh.step(start=2.0), **RUN,
                  chunk_size=3, progress=False)
    assert ds.count_rate.dims == ("point",)
    assert np.array_equal(ds.gK.values, gks)
    assert_same(ds, analysis.window_metrics(res))


def test_stimulus_axis_sets_a_pulse_width():
    widths = np.array([0.2, 0.5, 1.0, 2.0])
    amps = np.array([5.0, 20.0])
    # independent construction: one hh.step(stop=w) object per neuron
    stims = [hh.step(start=1.0, stop=w + 1.0) for _ in amps for w in widths]
    res = hh.simulate(stims, amplitude=np.repeat(amps, widths.size), max_spikes=4, **RUN)
    g = hh.grid(amplitude=amps, **{"stimulus.stop": widths + 1.0})
    ds = hh.sweep(g, {"type": "step", "start": 1.0, "stop": 2.0}, **RUN, chunk_size=3,
                  metrics=["spike_count", "first_spike", "spike_times"], max_spikes=4,
                  progress=False)
    assert np.array_equal(ds.spike_count.values.reshape(-1), res.spike_count)
    assert np.array_equal(ds.first_spike.values.reshape(-1), res.first_spike, equal_nan=True)
    assert ds.spike_times.dims == ("amplitude", "stimulus.stop", "spike")
    assert np.array_equal(ds.spike_times.values.reshape(-1, 4), res.spike_times.array,
                          equal_nan=True)
    assert 0 < res.spike_count.sum() < res.size  # short pulses fail, long ones fire


@pytest.mark.parametrize("kw,match", [
    ({"method": "rk5"}, "method"),
    ({"dt": -1.0}, "dt"),
    ({"metrics": ["rates"]}, "'rates'"),
    ({"window": (10.0, 5.0)}, "window"),
    ({"window": (100.0, 200.0)}, r"window \(t0, t1\) = \(100.0, 200.0\) ms must lie within the run"),
    ({"window": (-1.0, 20.0)}, "within the run"),
    ({"window": (10.0, 31.0)}, "within the run"),  # t_stop is 30 ms
    ({"gk": 3.0}, "'gk'"),
    ({"gK": 3.0}, "both a grid axis"),
    ({"bias": [1.0, 2.0]}, "scalar"),
])
def test_bad_sweep_arguments_are_refused_first(kw, match, tmp_path):
    args = {**RUN, "progress": False, "store": str(tmp_path / "s.zarr"), **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        hh.sweep(hh.grid(amplitude=AMPS, gK=GKS), hh.step(), **args)
    assert not (tmp_path / "s.zarr").exists()  # refused before the store was touched


def test_bad_stimulus_axis_names_the_key():
    with pytest.raises(ValueError, match="stimulus.stopp"):
        hh.sweep(hh.grid(**{"stimulus.stopp": [1.0]}), {"type": "step", "stop": 2.0}, **RUN,
                 progress=False)
    with pytest.raises(ValueError, match="stop"):  # stop before start: an invalid stimulus
        hh.sweep(hh.grid(**{"stimulus.stop": [0.5]}), {"type": "step", "start": 1.0}, **RUN,
                 progress=False)


# -- the store -----------------------------------------------------------------------------------
def store_files(path: Path, var: str) -> dict:
    root = path / var / "c"
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def test_store_resumes_only_unfinished_chunks(tmp_path):
    path = tmp_path / "s.zarr"
    g = hh.grid(amplitude=AMPS, gK=GKS)
    args = dict(**RUN, chunk_size=6, batch_size=12, progress=False, store=str(path))
    ds = hh.sweep(g, hh.step(start=2.0), **args)
    ref = reference()
    assert_same(ds, ref)
    # un-finish two chunks by hand and put wrong numbers in them
    before = store_files(path, "done")
    z = zarr.open_group(str(path), mode="r+")
    assert tuple(z["done"].chunks) == (2, 3)
    z["done"][4:8] = False
    z["count_rate"][4:8] = -5.0
    z["spike_count"][4:8] = 99
    untouched = {k: v for k, v in before.items() if not k.endswith(("/2/0", "/3/0"))}
    assert len(untouched) == len(before) - 2 > 0
    partial = hh.open_sweep(path)
    assert not bool(partial.done[4:8].any()) and bool(partial.done[:4].all())
    ds = hh.sweep(g, hh.step(start=2.0), **args)
    assert_same(ds, ref)
    after = store_files(path, "done")
    assert all(after[k] == v for k, v in untouched.items())  # finished chunks not rewritten
    assert all(after[k] != before[k] for k in set(before) - set(untouched))


def test_store_refuses_another_spec_unless_overwrite(tmp_path):
    path = str(tmp_path / "s.zarr")
    g = hh.grid(amplitude=AMPS, gK=GKS)
    hh.sweep(g, hh.step(start=2.0), **RUN, store=path, progress=False)
    with pytest.raises(ValueError, match="dt: stored 0.025, asked 0.02"):
        hh.sweep(g, hh.step(start=2.0), **{**RUN, "dt": 0.02}, store=path, progress=False)
    with pytest.raises(ValueError, match="stimulus"):
        hh.sweep(g, hh.step(start=3.0), **RUN, store=path, progress=False)
    g2 = hh.grid(amplitude=AMPS + 1.0, gK=GKS)
    with pytest.raises(ValueError, match="values of axis 'amplitude'"):
        hh.sweep(g2, hh.step(start=2.0), **RUN, store=path, progress=False)
    ds = hh.sweep(g2, hh.step(start=2.0), **RUN, store=path, progress=False, overwrite=True)
    assert_same(ds, reference(amps=AMPS + 1.0))


def test_store_never_clobbers_a_foreign_directory(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    for ow in (False, True):
        with pytest.raises(ValueError, match="not a Zarr store"):
            hh.sweep(hh.grid(gK=GKS), hh.step(), **RUN, store=str(d), overwrite=ow,
                     progress=False)
    assert (d / "precious.txt").read_text() == "keep me"


def test_unfinished_points_read_as_fill_values(tmp_path):
    path = tmp_path / "s.zarr"
    g = hh.grid(amplitude=AMPS, gK=GKS)
    hh.sweep(g, hh.step(start=2.0), **RUN, chunk_size=6, store=str(path), progress=False)
    zarr.open_group(str(path), mode="r+")["done"][0:2] = False
    ds = hh.open_sweep(path)
    assert ds.spike_count.dtype == np.int64  # not promoted to float64 by a fill value
    masked = ds.where(ds.done)
    assert np.isnan(masked.count_rate[0:2]).all() and not np.isnan(masked.count_rate[2:]).any()


KILL_SCRIPT = textwrap.dedent("""
    import signal, sys, time, numpy as np, hhfast as hh
    from hhfast.sweeps import execute
    # a job started in the background by a non-interactive shell (as CI runners do) inherits
    # SIGINT *ignored*, and Python then installs no Ctrl-C handler: restore it, as a terminal has
    signal.signal(signal.SIGINT, signal.default_int_handler)
    write = execute._write_chunks
    def slow_write(*args):  # a slow file system: the whole sweep takes ~2.5 s, not ~0.3 s,
        time.sleep(0.05)    # so the test's signal reliably lands mid-sweep
        write(*args)
    execute._write_chunks = slow_write
    g = hh.grid(amplitude=np.linspace(0, 20, 48), gK=np.linspace(30, 42, 32))
    hh.sweep(g, hh.step(start=2.0), t_stop=80.0, dt=0.025, method="expeuler",
             chunk_size=32, batch_size=32, store=sys.argv[1], progress=False)
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_kill_mid_sweep_then_resume_is_identical(tmp_path, sig):
    path = tmp_path / "k.zarr"
    amps, gks = np.linspace(0, 20, 48), np.linspace(30, 42, 32)
    run = {**RUN, "t_stop": 80.0}
    ref = analysis.window_metrics(hh.simulate(hh.step(start=2.0), amplitude=amps[:, None],
                                              gK=gks[None, :], **run))  # also warms the cache
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)],
                            stderr=subprocess.PIPE, text=True)
    n_chunks, done_chunks = 48, 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done_chunks = int(zarr.open_group(str(path), mode="r")["done"][...].sum()) // 32
            except Exception:  # the store is still being created
                done_chunks = 0
            if done_chunks >= 3:
                break
            time.sleep(0.01)
        proc.send_signal(sig)  # SIGINT is Ctrl-C: KeyboardInterrupt between two writes
    finally:
        err = proc.communicate()[1]
    assert proc.returncode in (-sig, 1), f"the sweep ended before it was killed: {err}"
    assert sig == signal.SIGKILL or "KeyboardInterrupt" in err
    assert 3 <= done_chunks < n_chunks
    before = store_files(path, "done")
    partial = hh.open_sweep(path)  # readable as it was left
    finished = partial.done.values
    assert finished.any() and not finished.all()
    assert np.array_equal(partial.count_rate.values[finished], ref["count_rate"][finished], equal_nan=True)
    ds = hh.sweep(hh.grid(amplitude=amps, gK=gks), hh.step(start=2.0), **run, chunk_size=32,
                  batch_size=32, store=str(path), progress=False)
    assert_same(ds, ref)
    assert bool(ds.done.all())
    after = store_files(path, "done")
    assert all(after[k] == v for k, v in before.items())  # chunks done before the kill kept


# -- progress ------------------------------------------------------------------------------------
class FakeTTY:
    def __init__(self):
        self.text = []

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_only_when_interactive(monkeypatch):
    g = hh.grid(amplitude=AMPS, gK=GKS)
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    hh.sweep(g, hh.step(), **RUN, chunk_size=6, progress=True)
    out = "".join(tty.text)
    assert "12/12" in out and "neuron-steps/s" in out
    tty.text.clear()
    hh.sweep(g, hh.step(), **RUN, chunk_size=6, progress=False)
    assert "".join(tty.text) == ""
    monkeypatch.setattr(tty, "isatty", lambda: False)
    hh.sweep(g, hh.step(), **RUN, chunk_size=6, progress=True)
    assert "".join(tty.text) == ""


# -- TOML spec as data ---------------------------------------------------------------------------
def test_spec_builds_the_same_sweep():
    spec = {"t_stop": 30.0, "dt": 0.025, "method": "expeuler", "stimulus": {"type": "step",
            "start": 2.0}, "axes": {"amplitude": {"start": 0.0, "stop": 20.0, "num": 23},
            "gK": [30.0, 36.0, 42.0]}, "params": {"preset": "classic"}, "fixed": {"bias": 0.0}}
    g, kw = sweeps.sweep_from_spec(spec)
    assert np.array_equal(g.axes["amplitude"], AMPS) and np.array_equal(g.axes["gK"], GKS)
    ds = hh.sweep(g, progress=False, **kw)
    assert_same(ds, reference())


@pytest.mark.parametrize("change,key", [
    ({"dtt": 0.1}, "'dtt'"),
    ({"t_stop": "long"}, "'t_stop'"),
    ({"axes": {"gK": {"start": 1, "stop": 2, "num": 2.5}}}, "'axes.gK.num'"),
    ({"axes": {"gK": {"start": 1, "stop": 2}}}, "'axes.gK'"),
    ({"axes": {"gk": [1.0]}}, "'axes.gk'"),
    ({"params": {"gk": 1.0}}, "'params.gk'"),
    ({"params": {"preset": "weird"}}, "'params.preset'"),
    ({"fixed": {"gK": 1.0}}, "'fixed.gK'"),
    ({"stimulus": {"type": "sine"}}, "'stimulus'"),
    ({"window": [1.0]}, "'window'"),
    ({"window": [20.0, 30.0]}, "'window'.*within the run"),  # t_stop is 10 ms
    ({"stimulus": {"type": "step", "strat": 1.0}}, "'strat'"),
    ({"fixed": {"biass": 1.0}}, "'fixed.biass'"),
    ({"axes": {"gK": {"start": 1, "stop": 2, "num": 2, "step": 1}}}, "'axes.gK'"),
])
def test_bad_spec_names_the_key(change, key):
    spec = {"t_stop": 10.0, "stimulus": {"type": "step"}, "axes": {"gK": [36.0]}, **change}
    with pytest.raises(ValueError, match=key):
        sweeps.sweep_from_spec(spec)


def test_example_spec_is_valid():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    path = Path(__file__).parents[1] / "examples" / "sweep.toml"
    g, kw = sweeps.sweep_from_spec(tomllib.loads(path.read_text()))
    assert g.size > 100 and kw["store"].endswith(".zarr")
