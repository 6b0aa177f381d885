"""Sweep stores whose damage cannot hide, trial axes that are trial ids, grids that are never
materialised, and axis values checked before any store exists (issue 22, part 5).

As in test_sweeps.py the yardstick for every number is one plain ``hh.simulate`` call over the
whole grid (sweeps reproduce it bitwise); damage is done to the files on disk.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import hhfast as hh
from hhfast import analysis
from hhfast.cli import main
from hhfast.errors import InputError
from hhfast.sweeps import SweepStoreError, sweep_from_spec
from hhfast.sweeps import store as sstore

zarr = pytest.importorskip("zarr")
#: the error of damaged metadata (a SweepStoreError; on main it does not exist, and the raw
#: decoder errors it replaces are not SweepStoreErrors either)
DamagedStoreError = getattr(sstore, "DamagedStoreError", SweepStoreError)

AMPS, GKS = np.linspace(0, 20, 12), np.array([30.0, 36.0, 42.0])
RUN = {"t_stop": 40.0, "dt": 0.025, "method": "expeuler"}
NOISE = {"noise_sigma": 2.0, "noise_tau": 2.0}


def reference() -> dict:
    res = hh.simulate(hh.step(start=2.0), amplitude=AMPS[:, None], gK=GKS[None, :], **RUN)
    return analysis.window_metrics(res)


def sweep_of(path, **kw):
    """12 x 3 points, chunk = one amplitude row (chunk (i, 0) holds amplitude i)."""
    return hh.sweep(hh.grid(amplitude=AMPS, gK=GKS), hh.step(start=2.0), **RUN, chunk_size=3,
                    batch_size=3, store=str(path), progress=False, **kw)


def assert_same(ds, ref):
    for k, v in ref.items():
        assert np.array_equal(np.asarray(ds[k].values), v, equal_nan=True), k


@pytest.fixture(scope="module")
def ref():
    return reference()


def chunk_file(path, var, index) -> Path:
    return Path(path) / var / "c" / Path(*map(str, index))


def swap(a: Path, b: Path) -> None:
    da, db = a.read_bytes(), b.read_bytes()
    assert da != db  # two different valid chunks
    a.write_bytes(db)
    b.write_bytes(da)


# -- 1. checksums cover the position ------------------------------------------------------------
def test_swapped_chunk_files_are_found_within_and_across_variables(tmp_path, ref):
    """Before: the zstd checksum covers a file's bytes only, so two valid chunk files swapped
    read back as valid data of the wrong points and verify_sweep found nothing."""
    path = tmp_path / "s.zarr"
    sweep_of(path)
    swap(chunk_file(path, "count_rate", (3, 0)), chunk_file(path, "count_rate", (8, 0)))  # same variable
    swap(chunk_file(path, "isi_rate", (5, 0)), chunk_file(path, "isi_mean", (5, 0)))  # across
    damaged = hh.verify_sweep(path)
    got = {d.index: d.problems for d in damaged}
    assert set(got) == {(3, 0), (8, 0), (5, 0)}
    assert set(got[(3, 0)]) == {"count_rate"} and "checksum mismatch" in got[(3, 0)]["count_rate"]
    assert set(got[(5, 0)]) == {"isi_rate", "isi_mean"}
    assert_same(sweep_of(path), ref)  # the three chunks are recomputed
    assert hh.verify_sweep(path) == []


def test_swapped_digest_rows_are_found(tmp_path, ref):
    """The digests themselves name their position: swapping two rows' files is found too."""
    path = tmp_path / "s.zarr"
    sweep_of(path)
    swap(chunk_file(path, "chunk_digest", (2, 0)), chunk_file(path, "chunk_digest", (6, 0)))
    assert {d.index for d in hh.verify_sweep(path)} == {(2, 0), (6, 0)}
    assert_same(sweep_of(path), ref)


def test_older_formats_are_verified_with_their_rule_and_say_so(tmp_path, ref):
    """A format-2 store (no digests): verified by content checksums only, and the report says
    that swapped files cannot be detected; it still resumes."""
    path = tmp_path / "old.zarr"
    sweep_of(path)
    g = zarr.open_group(str(path), mode="r+")
    g.attrs[sstore.FORMAT_ATTR] = 2
    del g.attrs["hhfast_axis_digests"]
    shutil.rmtree(path / "chunk_digest")
    g["done"][10:12] = False
    report = hh.verify_sweep(path)
    assert report == [] and report.format == 2
    assert len(report.notes) == 1 and "swapped" in report.notes[0]
    assert "format 2" in report.notes[0]
    assert_same(sweep_of(path), ref)
    assert main(["sweep", "--verify", str(path)]) == 0


# -- 2. damaged metadata: a report, never a traceback ---------------------------------------------
def _truncate(path, name):
    f = path / name / "zarr.json" if name else path / "zarr.json"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _drop_attr(path, key):
    f = path / "zarr.json"
    meta = json.loads(f.read_text())
    del meta["attributes"][key]
    f.write_text(json.dumps(meta))


def _alter_axis(path):
    zarr.open_group(str(path), mode="r+")["amplitude"][4] = 99.0


DAMAGE = {
    "group zarr.json truncated": (lambda p: _truncate(p, ""), r"its zarr\.json .* unreadable",
                                  "rm -r", False),
    "array zarr.json truncated": (lambda p: _truncate(p, "count_rate"),
                                  r"array 'count_rate' has unreadable metadata", "overwrite=True", True),
    "array missing": (lambda p: shutil.rmtree(p / "isi_mean"), r"array 'isi_mean' is missing",
                      "overwrite=True", True),
    "attribute missing": (lambda p: _drop_attr(p, "metrics"), r"attribute 'metrics' is missing",
                          "overwrite=True", True),
    "done reshaped": (lambda p: zarr.open_group(str(p), mode="r+")["done"].resize((12, 2)),
                      r"array 'done' has shape \(12, 2\)", "overwrite=True", True),
    "axis values altered": (lambda p: _alter_axis(p), r"values of axis 'amplitude' do not match",
                            "overwrite=True", True),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_metadata_is_reported_with_the_recovery(tmp_path, capsys, case, ref):
    """Before: a raw JSONDecodeError / KeyError from verify_sweep and from a resume (CLI exit
    70), or, for altered axis values, nothing at all."""
    damage, what, recovery, overwritable = DAMAGE[case]
    path = tmp_path / "s.zarr"
    sweep_of(path)
    damage(path)
    with pytest.raises(DamagedStoreError, match=what) as e:
        hh.verify_sweep(path)
    assert recovery in str(e.value)
    for argv in (["sweep", "--verify", str(path)], ["verify", str(path)]):
        assert main(argv) == 1
        out = capsys.readouterr()
        assert "damaged" in out.out and recovery in out.out and "Traceback" not in out.err
    with pytest.raises(DamagedStoreError, match=what):  # a resume is refused the same way
        sweep_of(path)
    if overwritable:  # the recovery it names works
        assert_same(sweep_of(path, overwrite=True), ref)
        assert hh.verify_sweep(path) == []


# -- 3. trial axis values are the trial ids ------------------------------------------------------
def noisy_sweep(trials, amps=(4.0, 8.0), store=None, table=False):
    g = (hh.grid(points={"amplitude": np.repeat(amps, len(trials)),
                         "trial": np.tile(trials, len(amps))}) if table
         else hh.grid(amplitude=list(amps), trial=list(trials)))
    return hh.sweep(g, hh.step(start=2.0), t_stop=40.0, dt=0.025, method="euler",
                    metrics=["spike_count", "spike_times"], max_spikes=8, store=store,
                    progress=False, chunk_size=2, batch_size=2, seed=7, **NOISE)


def noisy_simulate(trials, amps=(4.0, 8.0)):
    return hh.simulate(hh.step(start=2.0), t_stop=40.0, dt=0.025, method="euler", seed=7,
                       amplitude=np.asarray(amps)[:, None], trial=np.asarray(trials)[None, :],
                       max_spikes=8, **NOISE)


def test_trial_axis_values_are_the_trial_ids_of_the_noise(tmp_path):
    """Before: trial values were labels, each point took its grid index as trial id, so
    trial=[100..103] gave the numbers of [0..3] and trials could not be extended later."""
    later = noisy_sweep([100, 101, 102, 103], store=tmp_path / "later.zarr")
    ref = noisy_simulate([100, 101, 102, 103]).spike_times.array.reshape(2, 4, 8)
    assert np.array_equal(later.spike_times.values, ref, equal_nan=True)
    first = noisy_sweep([0, 1, 2, 3])
    assert not np.array_equal(first.spike_times.values, later.spike_times.values,
                              equal_nan=True)
    # extending: trials 0..1 then 2..3 are the columns of one run of 0..3, bitwise
    parts = [noisy_sweep([0, 1]), noisy_sweep([2, 3])]
    joined = np.concatenate([p.spike_times.values for p in parts], axis=1)
    assert np.array_equal(joined, first.spike_times.values, equal_nan=True)
    # a table of points takes its trial column the same way
    tab = noisy_sweep([100, 101, 102, 103], table=True)
    assert np.array_equal(tab.spike_times.values, ref.reshape(8, 8), equal_nan=True)


@pytest.mark.parametrize("trials, match", [
    ([0.5, 1.0], "whole numbers"), ([-1, 0], "whole numbers"), ([2.0**60], "2\\^53"),
    ([3, 4, 3], "repeats a trial id"),
])
def test_trial_axis_values_that_cannot_be_ids_are_refused(trials, match):
    with pytest.raises(InputError, match=match):
        hh.grid(amplitude=[1.0], trial=trials)


def test_an_older_store_with_a_trial_axis_is_not_resumed(tmp_path):
    path = tmp_path / "old.zarr"
    noisy_sweep([0, 1], store=path)
    zarr.open_group(str(path), mode="r+").attrs[sstore.FORMAT_ATTR] = 2
    with pytest.raises(SweepStoreError, match="trial.*labels.*overwrite=True"):
        noisy_sweep([0, 1], store=path)


# -- 4. a grid is never materialised -------------------------------------------------------------
@pytest.mark.parametrize("start, stop, num", [
    (0.0, 20.0, 201), (0.0, 20.0, 1), (5.0, 5.0, 4), (20.0, -3.7, 1000), (-1e-3, 1e-3, 7),
    (0.1, 0.7, 3), (30.0, 42.0, 2),
])
def test_linear_axes_are_numpy_linspace_bitwise(start, stop, num):
    """Values made per index equal np.linspace's, so specs with {start, stop, num} keep
    their results bitwise."""
    axis = sstore.Grid({"amplitude": {"start": start, "stop": stop, "num": num}}).axes["amplitude"]
    want = np.linspace(start, stop, num)
    idx = np.arange(num)[::-1]
    assert np.array_equal(axis.take(idx), want[idx])
    assert np.array_equal(np.asarray(axis), want)


def test_a_huge_grid_is_never_materialised():
    """A spec with a 3e7-point axis: building its grid (every value checked) and taking the
    axis values of a chunk costs blocks, not the axis.  Before, np.linspace made the whole
    axis (240 MB here) and the grid copied it."""
    n = 30_000_000
    spec = {"t_stop": 1.0, "stimulus": {"type": "step", "amplitude": 1.0},
            "axes": {"amplitude": {"start": 0.0, "stop": 20.0, "num": n}, "gK": [30.0, 36.0]}}
    tracemalloc.start()
    try:
        g, _kw = sweep_from_spec(spec)
        lo, hi = g.chunks()[-1]
        vals = g.values(np.arange(lo, hi))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert g.size == 2 * n
    assert peak < 64 * 2**20, peak  # the axis would be 229 MiB
    assert vals["amplitude"][-1] == 20.0 and vals["gK"][-1] == 36.0


# -- 5. invalid axis values leave no store behind ---------------------------------------------------
@pytest.mark.parametrize("axis, values, kw, match", [
    ("noise_sigma", [1.0, -1.0], {}, "noise_sigma must be >= 0"),
    ("noise_tau", [2.0, -0.5], {"noise_sigma": 1.0}, "noise_tau must be >= 0"),
    ("Cm", [1.0, 1e-320], {}, "1/Cm"),
    ("temperature", [6.3, 1e4], {}, "rate factor"),
    ("gL", [0.3, 0.0], {}, "gL must be > 0 for method='expeuler'"),
    ("trial", [-1.0, 0.0], {}, "whole numbers"),
])
def test_invalid_axis_values_are_refused_before_the_store(tmp_path, axis, values, kw, match):
    """Before: the grid accepted these, the store was created, and the first batch's
    simulate() refused them, leaving the store behind (or, for trial, ran with them)."""
    path = tmp_path / "bad.zarr"
    with pytest.raises(InputError, match=match):
        hh.sweep(hh.grid(amplitude=[1.0, 2.0], **{axis: values}), hh.step(start=2.0),
                 **RUN, store=str(path), progress=False, **kw)
    assert not path.exists()


@pytest.mark.parametrize("shape, chunk", [((50,), 7), ((9, 8), 3), ((9, 8), 16), ((4, 3, 5), 2),
                                          ((6, 40), 100)])
def test_resume_reads_done_in_slabs(tmp_path, monkeypatch, shape, chunk):
    """A resume reads ``done`` a slab of rows at a time (here forced to a few points per
    slab), and finds per chunk what the whole array says."""
    from hhfast import config

    monkeypatch.setattr(config, "SWEEP_AXIS_BLOCK", 10)
    g = hh.grid(**{k: np.arange(1.0, n + 1) for k, n in zip(("amplitude", "gK", "bias"), shape,
                                                              strict=False)})
    cshape = g.chunk_shape(chunk)
    flags = np.random.default_rng(3).random(g.size) < 0.7
    for lo, hi in g.chunks(chunk)[::3]:
        flags[lo:hi] = True  # some chunks fully done
    done = zarr.open_group(str(tmp_path / "d.zarr"), mode="w").create_array(
        "done", shape=g.shape, chunks=cshape, dtype="bool", fill_value=False)
    done[...] = flags.reshape(g.shape)
    bounds = g._bounds(cshape)
    got = sstore._chunks_done("d.zarr", g, done, cshape, bounds)
    assert got.tolist() == [bool(flags[lo:hi].all()) for lo, hi in g.chunks(chunk)]
