"""`hhfast sweep SPEC.toml` and `hhfast sweep --plot STORE VAR`: parsing and printing only;
the numbers are checked against one plain simulate() call over the same grid."""

from __future__ import annotations

import numpy as np
import pytest

import hhfast as hh
from hhfast import analysis
from hhfast.cli import main

SPEC = """
t_stop = 30.0
dt = 0.025
method = "expeuler"
window = [10.0, 30.0]
metrics = ["spike_count", "count_rate"]
chunk_size = 8

[stimulus]
type = "step"
start = 2.0

[axes]
amplitude = { start = 0.0, stop = 20.0, num = 11 }
gK = [30.0, 36.0]
"""


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(SPEC)
    return p


def one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_sweep_command_writes_a_store(spec, tmp_path, capsys):
    store = tmp_path / "out.zarr"
    assert main(["sweep", str(spec), "--store", str(store), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "22 of 22 points done" in out and str(store) in out
    ds = hh.open_sweep(store)
    amps = np.linspace(0.0, 20.0, 11)
    res = hh.simulate(hh.step(start=2.0), t_stop=30.0, dt=0.025, method="expeuler",
                      window=(10.0, 30.0), amplitude=amps[:, None], gK=np.array([30.0, 36.0]))
    assert np.array_equal(ds.count_rate.values, analysis.count_rate(res))
    assert np.array_equal(ds.spike_count.values, res.spike_count)
    png = tmp_path / "rate.png"
    assert main(["sweep", "--plot", str(store), "count_rate", "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000
    png1 = tmp_path / "line.png"
    assert main(["sweep", "--plot", str(store), "count_rate", "--sel", "gK=36", "--out",
                 str(png1)]) == 0
    assert png1.exists()
    assert main(["sweep", "--plot", str(store), "rates"]) == 2
    assert "'rates'" in one_error_line(capsys)


def test_sweep_command_on_a_local_cluster(spec, tmp_path, capsys):
    store = tmp_path / "c.zarr"
    assert main(["sweep", str(spec), "--store", str(store), "--workers", "1",
                 "--no-progress"]) == 0
    assert "dask: 1 workers" in capsys.readouterr().out
    assert bool(hh.open_sweep(store).done.all())


@pytest.mark.parametrize("text,key", [
    (SPEC.replace("num = 11", "num = 1.5"), "axes.amplitude.num"),
    (SPEC.replace("method =", "methd ="), "'methd'"),
    (SPEC.replace('type = "step"', 'type = "sine"'), "'stimulus'"),
    (SPEC.replace("t_stop = 30.0", ""), "'t_stop'"),
    (SPEC + "[params]\ngk = 3.0\n", "'params.gk'"),
    ("t_stop = [", "not valid TOML"),
])
def test_bad_spec_is_one_line_naming_the_key(tmp_path, capsys, text, key):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    assert main(["sweep", str(p), "--store", str(tmp_path / "b.zarr"), "--no-progress"]) == 2
    assert key in one_error_line(capsys)
    assert not (tmp_path / "b.zarr").exists()


def test_sweep_command_argument_errors(spec, tmp_path, capsys):
    assert main(["sweep"]) == 2
    assert "SPEC.toml" in one_error_line(capsys)
    assert main(["sweep", str(spec), "--workers", "0"]) == 2
    assert "--workers" in one_error_line(capsys)
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in one_error_line(capsys)
