"""Sweep stores hold one sweep's data, whoever writes: one writer at a time, tasks of a replaced
run cannot mark anything done, damaged chunks are found and recomputed, an interrupted creation
is replaceable, batches are sized by work.

As in test_sweeps.py the yardstick for every number is one plain ``hh.simulate`` call over the
whole grid (sweeps reproduce it bitwise).  Concurrency uses real processes, bounded in time;
damage is done to the chunk files on disk.
"""

from __future__ import annotations

import json
import math
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import hhfast as hh
from hhfast import analysis, config
from hhfast.cli import main
from hhfast.sweeps import SweepStoreError, execute
from hhfast.sweeps import store as sstore

zarr = pytest.importorskip("zarr")

AMPS, GKS = np.linspace(0, 20, 48), np.linspace(30, 42, 32)
RUN = {"t_stop": 80.0, "dt": 0.025, "method": "expeuler"}
STEP = {"X": 2.0, "Y": 5.0}  # two specs that differ by the stimulus onset (ms)


def reference(onset: float) -> dict:
    res = hh.simulate(hh.step(start=onset), amplitude=AMPS[:, None], gK=GKS[None, :], **RUN)
    return analysis.window_metrics(res)


def assert_same(ds, ref):
    for k, v in ref.items():
        assert np.array_equal(np.asarray(ds[k].values), v, equal_nan=True), k


# A sweep of spec X or Y in its own process, slowed to ~3 s (0.05 s per 32-point chunk, 48
# chunks) so that the test acts while it runs.  With "nolock" it writes without taking the
# store's lock: what Dask tasks still running after their client gave the store up do.
WRITER = textwrap.dedent("""
    import contextlib, signal, sys, time, numpy as np, hhfast as hh
    from hhfast.sweeps import execute
    signal.signal(signal.SIGINT, signal.default_int_handler)
    store, onset, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    write = execute._write_chunks
    def slow_write(*args):
        time.sleep(0.05)
        write(*args)
    execute._write_chunks = slow_write
    if mode == "nolock":
        execute._StoreLock = lambda store: contextlib.nullcontext()
    g = hh.grid(amplitude=np.linspace(0, 20, 48), gK=np.linspace(30, 42, 32))
    hh.sweep(g, hh.step(start=onset), t_stop=80.0, dt=0.025, method="expeuler",
             chunk_size=32, batch_size=32, store=store, progress=False)
    print("finished")
""")


def start_writer(path, onset, mode="lock"):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(onset), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_done_chunks(path, proc, n=3, timeout=120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = int(zarr.open_group(str(path), mode="r")["done"][...].sum()) // 32
        except Exception:  # still being created
            done = 0
        if done >= n:
            return done
        time.sleep(0.01)
    raise AssertionError(f"the writer did not reach {n} done chunks: {proc.communicate()}")


def sweep_of(path, onset, **kw):
    return hh.sweep(hh.grid(amplitude=AMPS, gK=GKS), hh.step(start=onset), **RUN, chunk_size=32,
                    batch_size=32, store=str(path), progress=False, **kw)


@pytest.fixture(scope="module")
def refs():
    return {k: reference(v) for k, v in STEP.items()}  # also compiles/loads the kernel


# -- one writer at a time ------------------------------------------------------------------------
# slow: the tests that run a sweep in a second process and kill or replace it (3-5 CPU-s each:
# every process imports hhfast and loads its kernels); the damage checks below stay fast
@pytest.mark.slow
def test_second_sweep_on_a_store_in_use_is_refused_then_a_killed_owner_frees_it(tmp_path, refs):
    path = tmp_path / "s.zarr"
    proc = start_writer(path, STEP["X"])
    try:
        wait_for_done_chunks(path, proc)
        # same spec, another spec with overwrite, verification, the CLI: all refused, naming
        # the owner (today: the overwrite succeeds and the two runs mix their values)
        for kw in ({"onset": STEP["X"]}, {"onset": STEP["Y"], "overwrite": True}):
            with pytest.raises(SweepStoreError, match=f"in use by another sweep.*pid {proc.pid}"):
                sweep_of(path, kw.pop("onset"), **kw)
        with pytest.raises(SweepStoreError, match="in use"):
            hh.verify_sweep(path)
        proc.send_signal(signal.SIGKILL)  # a stale lock: its owner is gone
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert Path(str(path) + ".hhfast-lock").exists()  # left behind by the killed owner ...
    ds = sweep_of(path, STEP["X"])  # ... and no obstacle: the kernel released the lock
    assert_same(ds, refs["X"])
    assert bool(ds.done.all())
    assert not Path(str(path) + ".hhfast-lock").exists()  # a finished run removes its lock


@pytest.mark.slow
def test_cli_refuses_a_store_in_use_in_one_line(tmp_path, capsys, refs):
    path = tmp_path / "s.zarr"
    spec = tmp_path / "s.toml"
    spec.write_text(textwrap.dedent(f"""
        t_stop = 80.0
        dt = 0.025
        method = "expeuler"
        chunk_size = 32
        [stimulus]
        type = "step"
        start = {STEP['X']}
        [axes]
        amplitude = {{ start = 0.0, stop = 20.0, num = 48 }}
        gK = {{ start = 30.0, stop = 42.0, num = 32 }}
    """))
    proc = start_writer(path, STEP["X"])
    try:
        wait_for_done_chunks(path, proc)
        assert main(["sweep", str(spec), "--store", str(path), "--no-progress"]) == 2
        assert main(["sweep", "--verify", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 2 and all("in use by another sweep" in e for e in err), err
        assert "Traceback" not in "".join(err)
    finally:
        proc.communicate(timeout=120)
    assert proc.returncode == 0


# -- a replaced run's tasks ----------------------------------------------------------------------
@pytest.mark.slow
def test_tasks_of_a_replaced_run_mark_nothing_done(tmp_path, refs):
    """Spec X writes without the lock (Dask tasks after a cancel); meanwhile spec Y replaces
    the store.  Today X's tasks keep writing X's values into Y's store and mark them done."""
    path = tmp_path / "s.zarr"
    proc = start_writer(path, STEP["X"], mode="nolock")
    try:
        wait_for_done_chunks(path, proc)
        ds = sweep_of(path, STEP["Y"], overwrite=True)  # X has ~2 s of writing left
    finally:
        out, err = proc.communicate(timeout=120)
    # X was stopped by Y's replacement (not finished first), by the check of its run id
    assert proc.returncode == 1 and "replaced or taken over by another sweep" in err, err
    assert "finished" not in out
    # Every done point holds Y's value.  At most the one chunk X was writing when Y took over
    # may be not done (X takes its marks back if it passed its first check before the switch).
    done = ds.done.values
    assert done.sum() >= done.size - 32
    for k, v in refs["Y"].items():
        assert np.array_equal(ds[k].values[done], v[done], equal_nan=True), k
    assert hh.verify_sweep(path) == []  # every chunk intact
    ds = sweep_of(path, STEP["Y"])  # a resume completes it
    assert_same(ds, refs["Y"])
    assert bool(ds.done.all())


def test_marks_are_taken_back_when_the_store_changes_hands_mid_write(tmp_path, monkeypatch):
    """The check after marking done: if the run id changed while a task wrote (it passed the
    check before), its done marks are undone.  The change of hands is simulated here."""
    path = tmp_path / "s.zarr"
    g = hh.grid(amplitude=AMPS[:8], gK=GKS[:2])
    hh.sweep(g, hh.step(start=2.0), **RUN, chunk_size=4, store=str(path), progress=False)
    grp = zarr.open_group(str(path), mode="r+")
    grp["done"][...] = False
    run_id = grp.attrs[sstore.RUN_ATTR]
    monkeypatch.setattr(sstore, "_current_run", lambda store: "another run")
    out = {"spike_count": np.arange(4), "count_rate": np.ones(4)}
    out = {k: out.get(k, np.zeros(4, dtype=sstore.METRICS[k][0]))
           for k in grp.attrs["metrics"]}
    with pytest.raises(SweepStoreError, match="replaced or taken over"):
        sstore._write_chunks(str(path), [((0, 2), (0, 2))], out, run_id)
    assert not bool(np.asarray(zarr.open_group(str(path))["done"][...]).any())
    with pytest.raises(SweepStoreError, match="replaced or taken over"):  # checked first too
        sstore._write_chunks(str(path), [((0, 2), (0, 2))], out, "an old run")


# -- damaged chunks ------------------------------------------------------------------------------
def chunk_file(path, var, index) -> Path:
    return Path(path) / var / "c" / Path(*map(str, index))


def test_damaged_chunks_are_reported_marked_and_recomputed(tmp_path, refs):
    path = tmp_path / "s.zarr"
    ds = sweep_of(path, STEP["X"])  # chunks (1, 32): chunk (i, 0) holds amplitude row i
    assert bool(ds.done.all())
    codecs = json.loads((path / "count_rate" / "zarr.json").read_text())["codecs"]
    assert any(c["name"] == "zstd" and c["configuration"]["checksum"] for c in codecs)
    f = chunk_file(path, "count_rate", (3, 0))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # truncated
    chunk_file(path, "spike_count", (7, 0)).unlink()  # deleted
    chunk_file(path, "diverged", (8, 0)).unlink()  # deleted, though it is all fill (False)
    for var, index in (("isi_mean", (11, 0)), ("done", (20, 0))):  # one bit flipped
        f = chunk_file(path, var, index)
        b = bytearray(f.read_bytes())
        b[len(b) // 2] ^= 0x04
        f.write_bytes(bytes(b))
    before = {p: p.stat().st_mtime_ns for p in path.rglob("c/*/*")}

    damaged = hh.verify_sweep(path)
    got = {d.index: d.problems for d in damaged}
    assert set(got) == {(3, 0), (7, 0), (8, 0), (11, 0), (20, 0)}
    assert set(got[(3, 0)]) == {"count_rate"} and got[(3, 0)]["count_rate"].startswith("unreadable")
    assert got[(7, 0)] == {"spike_count": "missing"} and got[(8, 0)] == {"diverged": "missing"}
    assert set(got[(11, 0)]) == {"isi_mean"} and "checksum" in got[(11, 0)]["isi_mean"]
    assert set(got[(20, 0)]) == {"done"}
    assert {d.points for d in damaged} >= {(96, 128), (640, 672)}  # rows 3 and 20 of 32 points
    done = hh.open_sweep(path).done.values
    assert not done[[3, 7, 8, 11, 20]].any() and done.sum() == (48 - 5) * 32

    ds = sweep_of(path, STEP["X"])  # recomputes exactly those five chunks
    assert_same(ds, refs["X"])
    assert bool(ds.done.all())
    after = {p: p.stat().st_mtime_ns for p in path.rglob("c/*/*")}
    rewritten = {p.parts[-3:-1] for p in after if before.get(p) != after[p]}
    assert {int(r[1]) for r in rewritten} == {3, 7, 8, 11, 20}
    assert hh.verify_sweep(path) == []


def test_resume_names_an_unreadable_done_chunk_and_the_repair(tmp_path, refs):
    path = tmp_path / "s.zarr"
    sweep_of(path, STEP["X"])
    f = chunk_file(path, "done", (5, 0))
    f.write_bytes(f.read_bytes()[:5])
    with pytest.raises(SweepStoreError, match=r"chunk \(5, 0\) of 'done' \(points 160\.\.191\)"
                       r".*verify_sweep"):
        sweep_of(path, STEP["X"])
    assert [d.index for d in hh.verify_sweep(path)] == [(5, 0)]
    assert_same(sweep_of(path, STEP["X"]), refs["X"])


def test_resume_recomputes_damaged_chunks_it_would_skip(tmp_path, refs):
    """A resume without verify_sweep first: the done chunks it would skip are checked, the
    damaged ones recomputed (said in a warning naming them), the values are the right ones.
    Before, the resume skipped them and reading the dataset raised zarr's RuntimeError (an
    altered chunk) or returned the fill value as a done result (a deleted one)."""
    path = tmp_path / "s.zarr"
    sweep_of(path, STEP["X"])
    f = chunk_file(path, "count_rate", (4, 0))
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x04
    f.write_bytes(bytes(b))
    chunk_file(path, "spike_count", (9, 0)).unlink()
    with pytest.warns(UserWarning, match=r"2 done chunks were damaged \(chunk \(4, 0\) "
                      r"\(points 128\.\.159\): count_rate: unreadable.*chunk \(9, 0\).*missing"):
        ds = sweep_of(path, STEP["X"])
    assert_same(ds, refs["X"])
    assert bool(ds.done.all())
    assert hh.verify_sweep(path) == []


def test_cli_verify_prints_damaged_chunks_and_exits_nonzero(tmp_path, capsys, refs):
    path = tmp_path / "s.zarr"
    sweep_of(path, STEP["X"])
    assert main(["sweep", "--verify", str(path)]) == 0
    assert "no damaged chunks" in capsys.readouterr().out
    chunk_file(path, "count_rate", (2, 0)).unlink()
    assert main(["sweep", "--verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "chunk (2, 0) (points 64..95): count_rate: missing" in out and "1 damaged" in out
    assert main(["sweep", "--verify", str(path)]) == 0  # marked not done: nothing claimed
    assert main(["sweep", "--verify", str(tmp_path / "nowhere.zarr")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- interrupted creation ------------------------------------------------------------------------
CREATE = textwrap.dedent("""
    import errno, os, signal, sys, numpy as np, hhfast as hh, zarr
    how = sys.argv[2]
    if how == "kill":  # killed right after the group's zarr.json, before any array
        orig = zarr.Group.create_array
        def create_array(self, *a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        zarr.Group.create_array = create_array
    else:  # the disk fills up when the attributes (the creation's last step) are written
        from zarr.storage import LocalStore
        orig = LocalStore.set
        async def full(self, key, value, *a, **k):
            if key == "zarr.json" and b"hhfast_version" in value.to_bytes():
                raise OSError(errno.ENOSPC, "No space left on device")
            return await orig(self, key, value, *a, **k)
        LocalStore.set = full
    g = hh.grid(amplitude=np.linspace(0, 20, 48), gK=np.linspace(30, 42, 32))
    hh.sweep(g, hh.step(start=2.0), t_stop=80.0, dt=0.025, method="expeuler", chunk_size=32,
             store=sys.argv[1], progress=False)
""")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "disk-full"])
def test_interrupted_creation_is_replaced_with_overwrite(tmp_path, how, refs):
    path = tmp_path / "s.zarr"
    r = subprocess.run([sys.executable, "-c", CREATE, str(path), how], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == (-signal.SIGKILL if how == "kill" else 1), r.stderr
    assert (path / "zarr.json").exists()
    with pytest.raises(ValueError, match="overwrite=True if it is an interrupted creation"):
        sweep_of(path, STEP["X"])
    ds = sweep_of(path, STEP["X"], overwrite=True)
    assert_same(ds, refs["X"])


def test_overwrite_still_never_replaces_other_zarr_data(tmp_path):
    path = tmp_path / "other.zarr"
    g = zarr.open_group(str(path), mode="w-")
    g.create_array("temperature_map", shape=(3,), dtype="float64")[...] = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="not a complete hhfast sweep"):
        sweep_of(path, STEP["X"], overwrite=True)
    assert list(zarr.open_group(str(path))["temperature_map"][...]) == [1.0, 2.0, 3.0]


# -- batches sized by work -----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["euler", "expeuler", "rk4"])
@pytest.mark.parametrize("n_steps", [10, 4_000, 100_000, 10_000_000])
def test_auto_batches_are_sized_by_work(method, n_steps):
    """The estimated compute of an auto batch is within the budget (unless at the floor) and
    its size never exceeds the write-efficient chunk; longer runs get fewer points."""
    import numba

    pts = execute._work_points(method, n_steps, None)
    seconds = pts * n_steps * config.SWEEP_CORE_NS_PER_NEURON_STEP[method] * 1e-9 / \
        numba.get_num_threads()
    assert config.SWEEP_MIN_BATCH_POINTS <= pts <= config.SWEEP_CHUNK_POINTS
    assert seconds <= config.SWEEP_BATCH_SECONDS or pts == config.SWEEP_MIN_BATCH_POINTS
    if pts < config.SWEEP_CHUNK_POINTS and pts > config.SWEEP_MIN_BATCH_POINTS:
        assert seconds > 0.9 * config.SWEEP_BATCH_SECONDS  # not needlessly small
    assert execute._work_points(method, 10 * n_steps, None) <= pts


def test_long_runs_get_small_store_chunks(tmp_path, monkeypatch):
    """With a budget of ~1 ms per batch, a 2000-point sweep is cut into work-sized chunks
    (not one 2000-point chunk) and still equals one simulate() call bitwise."""
    monkeypatch.setattr(config, "SWEEP_BATCH_SECONDS", 1e-3)
    path = tmp_path / "s.zarr"
    amps, gks = np.linspace(0, 20, 100), np.linspace(30, 42, 20)
    run = {"t_stop": 20.0, "dt": 0.025, "method": "expeuler"}
    ds = hh.sweep(hh.grid(amplitude=amps, gK=gks), hh.step(start=2.0), **run, store=str(path),
                  progress=False)
    n = math.prod(zarr.open_group(str(path))["done"].chunks)
    budget = execute._work_points("expeuler", 800, None)  # points, < 2000
    assert budget - 20 < n <= budget < 2000  # whole rows of the 20-point gK axis
    ref = analysis.window_metrics(hh.simulate(hh.step(start=2.0), amplitude=amps[:, None],
                                              gK=gks[None, :], **run))
    assert_same(ds, ref)


def test_zarr_writes_local_files_atomically(tmp_path, monkeypatch):
    """The reason for zarr >= 3.1.3: a chunk file is written under a temporary name and then
    renamed into place, so a write that fails (kill, full disk) leaves the old chunk intact."""
    a = zarr.open_group(str(tmp_path / "a.zarr"), mode="w-").create_array(
        "x", shape=(4,), chunks=(4,), dtype="float64")
    a[...] = [1.0, 2.0, 3.0, 4.0]
    f = tmp_path / "a.zarr" / "x" / "c" / "0"
    old = f.read_bytes()

    def fail(self, target):
        raise OSError("simulated failure before the rename")

    monkeypatch.setattr(pathlib.Path, "replace", fail)
    with pytest.raises(OSError, match="simulated"):
        a[...] = [5.0, 6.0, 7.0, 8.0]
    monkeypatch.undo()
    assert f.read_bytes() == old and list(a[...]) == [1.0, 2.0, 3.0, 4.0]
    assert [p.name for p in f.parent.iterdir()] == ["0"]  # no temporary file left behind


def test_stores_of_the_previous_format_are_resumed_and_verified(tmp_path, refs):
    """A store written before checksums (no format attribute, no run id, all-fill chunks not
    written): resumed and verified without false alarms; an undecodable chunk is still found."""
    path = tmp_path / "old.zarr"
    sweep_of(path, STEP["X"])
    g = zarr.open_group(str(path), mode="r+")
    for a in (sstore.FORMAT_ATTR, sstore.RUN_ATTR):
        del g.attrs[a]
    g["done"][40:48] = False  # an unfinished tail
    chunk_file(path, "diverged", (3, 0)).unlink()  # all False: the old code never wrote it
    assert hh.verify_sweep(path) == []
    f = chunk_file(path, "count_rate", (5, 0))
    f.write_bytes(f.read_bytes()[:7])
    assert [d.index for d in hh.verify_sweep(path)] == [(5, 0)]
    ds = sweep_of(path, STEP["X"])
    assert_same(ds, refs["X"])
    assert bool(ds.done.all())


def test_verify_covers_spike_times_and_table_grids(tmp_path):
    path = tmp_path / "t.zarr"
    pts = hh.grid(points={"amplitude": np.linspace(0, 20, 12), "gK": np.linspace(30, 42, 12)})
    run = {"t_stop": 30.0, "dt": 0.025, "method": "expeuler"}
    ds = hh.sweep(pts, hh.step(start=2.0), **run, metrics=["spike_count", "spike_times"],
                  max_spikes=3, chunk_size=4, store=str(path), progress=False)
    ref = hh.simulate(hh.step(start=2.0), amplitude=np.linspace(0, 20, 12),
                      gK=np.linspace(30, 42, 12), max_spikes=3, **run)
    assert np.array_equal(ds.spike_times.values, ref.spike_times.array, equal_nan=True)
    chunk_file(path, "spike_times", (1, 0)).unlink()  # points 4..7
    damaged = hh.verify_sweep(path)
    assert [(d.index, d.points, d.problems) for d in damaged] == [
        ((1,), (4, 8), {"spike_times": "missing"})]
    ds = hh.sweep(pts, hh.step(start=2.0), **run, metrics=["spike_count", "spike_times"],
                  max_spikes=3, chunk_size=4, store=str(path), progress=False)
    assert np.array_equal(ds.spike_times.values, ref.spike_times.array, equal_nan=True)
    assert bool(ds.done.all()) and hh.verify_sweep(path) == []
