"""dopri5's rtol/atol from every face (issue 20): ``hhfast run``/``hhfast fi`` ``--rtol``/
``--atol``, and sweeps (``sweep(rtol=, atol=)``, the TOML keys).  Each face's numbers are
``simulate``'s with the same tolerances; a fixed-step method refuses them."""

from __future__ import annotations

import numpy as np
import pytest

import hhfast as hh
from hhfast import sweeps
from hhfast.cli import main

STEP = hh.step(0.0, np.inf, 10.0)


def one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_run_rtol_atol_reach_simulate(tmp_path, capsys):
    csv = tmp_path / "run.csv"
    assert main(["run", "--method", "dopri5", "--rtol", "1e-3", "--atol", "1e-2", "--step",
                 "10", "--t-stop", "30", "--out", str(tmp_path / "r.png"), "--csv",
                 str(csv)]) == 0
    out = capsys.readouterr().out
    assert "dopri5 rtol=0.001 atol=0.01" in out
    data = np.loadtxt(csv, delimiter=",", comments="#", skiprows=3)
    ref = hh.simulate(STEP, 30.0, method="dopri5", rtol=1e-3, atol=1e-2, record="V")
    default = hh.simulate(STEP, 30.0, method="dopri5", record="V")
    np.testing.assert_allclose(data[:, 2], ref.V[0], rtol=1e-8, atol=1e-9)  # 9 digits written
    assert np.abs(ref.V[0] - default.V[0]).max() > 1e-6  # the tolerance changed the run


def test_fi_rtol_reaches_fi_curve(tmp_path, capsys):
    csv = tmp_path / "fi.csv"
    assert main(["fi", "--method", "dopri5", "--rtol", "1e-3", "--from", "5", "--to", "12",
                 "--num", "3", "--t-stop", "100", "--no-refine", "--csv", str(csv)]) == 0
    assert "dopri5 rtol=0.001 dt=0.01" in capsys.readouterr().out
    lines = [ln for ln in csv.read_text().splitlines() if not ln.startswith("#")]
    rows = np.loadtxt(lines[1:], delimiter=",")
    fi = hh.fi_curve(np.linspace(5, 12, 3), t_stop=100.0, method="dopri5", rtol=1e-3,
                     refine=False)
    np.testing.assert_allclose(rows[:, 1], fi.sustained_rate, rtol=1e-9)  # 10 digits written
    default = hh.fi_curve(np.linspace(5, 12, 3), t_stop=100.0, method="dopri5", refine=False)
    assert np.abs(default.sustained_rate - fi.sustained_rate).max() > 1e-6  # rtol acted


@pytest.mark.parametrize("argv, words", [
    (["run", "--rtol", "1e-4"], "--rtol applies only to an adaptive method"),
    (["run", "--method", "euler", "--rtol", "1e-4", "--atol", "1e-4"],
     "--rtol and --atol apply only to an adaptive method"),
    (["fi", "--atol", "1e-4", "--num", "3"], "--method rk4 is fixed-step: set its accuracy "
     "with --dt"),
    (["run", "--method", "dopri5", "--rtol", "0"], "rtol must be > 0"),
    (["fi", "--method", "dopri5", "--atol", "1e-20", "--num", "3"], "atol must be >= 1e-13"),
])
def test_tolerances_refused_in_one_line(no_kernel, argv, words, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x.png")]) == 2
    assert words in one_error_line(capsys)


SPEC = {"t_stop": 30.0, "method": "dopri5", "rtol": 1e-3, "atol": 1e-2,
        "stimulus": {"type": "step"}, "axes": {"amplitude": [5.0, 10.0, 15.0]},
        "metrics": ["spike_count", "first_spike"]}


def test_sweep_spec_rtol_atol_reach_simulate(tmp_path):
    g, kw = sweeps.sweep_from_spec(SPEC)
    assert kw["rtol"] == 1e-3 and kw["atol"] == 1e-2
    store = tmp_path / "s.zarr"
    ds = hh.sweep(g, progress=False, store=str(store), **kw)
    amps = np.array([5.0, 10.0, 15.0])
    ref = hh.simulate(hh.step(), 30.0, method="dopri5", rtol=1e-3, atol=1e-2, amplitude=amps)
    np.testing.assert_array_equal(ds.first_spike.values, ref.first_spike)
    np.testing.assert_array_equal(ds.spike_count.values, ref.spike_count)
    assert ds.attrs["rtol"] == 1e-3 and ds.attrs["atol"] == 1e-2
    # a resume with other tolerances would mix two runs in one store: refused
    with pytest.raises(ValueError, match="holds a different sweep.*rtol"):
        hh.sweep(g, progress=False, **{**kw, "store": str(store), "rtol": 1e-4})
    # the default tolerance is another spec too (rtol is stored only when given)
    with pytest.raises(ValueError, match="holds a different sweep.*rtol"):
        hh.sweep(g, progress=False, **{k: v for k, v in kw.items() if k not in ("rtol", "atol")},
                 store=str(store))


@pytest.mark.parametrize("change, match", [
    ({"rtol": "tight"}, "'rtol' must be a number"),
    ({"atol": True}, "'atol' must be a number"),
])
def test_bad_tolerance_keys_name_the_key(change, match):
    with pytest.raises(ValueError, match=match):
        sweeps.sweep_from_spec({**SPEC, **change})


def test_sweep_refuses_tolerances_for_a_fixed_step_method(no_kernel, tmp_path):
    g, kw = sweeps.sweep_from_spec({**SPEC, "method": "rk4"})
    with pytest.raises(ValueError, match="rtol, atol only apply to adaptive methods"):
        hh.sweep(g, progress=False, store=str(tmp_path / "x.zarr"), **kw)
    assert not (tmp_path / "x.zarr").exists()  # refused before the store was made


def test_rheobase_command_takes_the_noise_options(tmp_path, capsys):
    """``hhfast rheobase --noise-sigma ... --trials --level`` is hh.rheobase's noisy rheobase
    (the same seed, trials and level: the same values); --trials without noise is refused."""
    csv = tmp_path / "sd.csv"
    argv = ["rheobase", "--method", "euler", "--width-from", "0.5", "--width-to", "2",
            "--num", "2", "--hi", "50", "--noise-sigma", "1", "--seed", "3", "--trials", "40",
            "--level", "0.25", "--csv", str(csv)]
    assert main(argv) == 0
    assert "0.25 of 40 trials spike" in capsys.readouterr().out
    got = np.loadtxt(csv, delimiter=",", skiprows=1)[:, 1]
    want = hh.rheobase([hh.pulses([(0.0, w, 1.0)]) for w in np.geomspace(0.5, 2, 2)], hi=50.0,
                       method="euler", noise_sigma=1.0, seed=3, trials=40, level=0.25)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert main(["rheobase", "--num", "2", "--trials", "5"]) == 2
    assert "trials=5 needs noise" in one_error_line(capsys)
    assert main(["rheobase", "--num", "2", "--level", "0.9"]) == 2
    assert "level=0.9 needs noise" in one_error_line(capsys)
