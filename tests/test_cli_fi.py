"""`hhfast fi` and `hhfast run`: files written, numbers printed, one-line errors."""

import numpy as np
import pytest

from hhfast.cli import main


def test_fi_writes_png_and_csv(tmp_path, capsys):
    png, csv = tmp_path / "fi.png", tmp_path / "fi.csv"
    rc = main(["fi", "--from", "0", "--to", "20", "--num", "21", "--t-stop", "300",
               "--param", "gK=36", "--out", str(png), "--csv", str(csv)])
    assert rc == 0
    assert png.stat().st_size > 1000
    text = csv.read_text()
    rows = np.loadtxt([ln for ln in text.splitlines()[1:] if not ln.startswith("#")][1:],
                      delimiter=",")
    assert rows.shape == (21, 3)
    out = capsys.readouterr().out
    onset = float(text.split("# onset_uA_cm2: ")[1].split()[0])
    assert 6.2 < onset < 6.4 and f"onset {onset:.4f}" in out
    # the rate is zero below the onset and positive above it (grid step 1 µA/cm²)
    assert np.all(rows[rows[:, 0] < onset, 1] == 0) and np.all(rows[rows[:, 0] > onset, 1] > 0)


def test_run_writes_trace_and_csv(tmp_path, capsys):
    png, csv = tmp_path / "run.png", tmp_path / "run.csv"
    rc = main(["run", "--pulse", "0,1,150", "--pulse", "10,11,50", "--t-stop", "20",
               "--V0", "0", "--out", str(png), "--csv", str(csv)])
    assert rc == 0 and png.stat().st_size > 1000
    data = np.loadtxt(csv, delimiter=",", comments="#", skiprows=3)
    assert data.shape[1] == 6
    # the CSV's current column is the stimulus that was asked for
    t, current = data[:, 0], data[:, 1]
    assert np.all(current[(t > 0.1) & (t < 0.9)] == 150)
    assert np.all(current[(t > 1.1) & (t < 9.9)] == 0)
    assert "spikes at" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["fi", "--num", "0"], "--num"),
        (["fi", "--from", "5", "--to", "1"], "--to"),
        (["fi", "--param", "gX=3"], "--param"),
        (["fi", "--param", "gK=abc"], "not a number"),
        (["fi", "--dt", "-1", "--num", "2"], "dt"),
        (["run", "--pulse", "1,2"], "--pulse"),
        (["run", "--step", "a"], "--step"),
        (["run", "--n0", "2"], "n0"),
    ],
)
def test_bad_arguments_one_line_error(argv, match, capsys, tmp_path):
    rc = main(argv + (["--out", str(tmp_path / "x.png")] if argv[0] == "run" else []))
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_argparse_errors_exit_nonzero(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fi", "--branch", "sideways"])
    assert e.value.code == 2
