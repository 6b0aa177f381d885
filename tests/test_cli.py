"""The hhfast command: the demo writes its figures; bad input is one line and exit status 2."""

import subprocess
import sys

import pytest

from hhfast import cli


def run(*args):
    return subprocess.run([sys.executable, "-m", "hhfast", *args], capture_output=True,
                          text=True, timeout=600)


def test_demo_writes_the_gist_figures(tmp_path):
    p = run("demo", "--out", str(tmp_path / "figs"))
    assert p.returncode == 0, p.stderr
    for name in ("stimulus.png", "voltage.png", "phase.png"):
        f = tmp_path / "figs" / name
        assert f.stat().st_size > 10_000  # a real figure, not an empty file
        assert str(f) in p.stdout
    assert "2 spikes" in p.stdout


def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, capsys):
    code = cli.main(["demo", "--out", str(tmp_path), "--dt", "-1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "dt" in err
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", "--method", "rk45"])
    assert e.value.code == 2


def test_every_command_has_help():
    parser = cli.build_parser()
    for name in parser._subparsers._group_actions[0].choices:
        p = run(name, "--help")
        assert p.returncode == 0 and "usage" in p.stdout


def test_rheobase_command_writes_a_decreasing_strength_duration_curve(tmp_path):
    import csv

    out, table = tmp_path / "sd.png", tmp_path / "sd.csv"
    p = run("rheobase", "--num", "4", "--width-from", "0.1", "--width-to", "10",
            "--out", str(out), "--csv", str(table))
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(table.open()))
    thr = [float(r["threshold_uA_cm2"]) for r in rows]
    # a longer pulse needs less current (charge ~ constant for short pulses, rheobase for long)
    assert len(thr) == 4 and all(a > b > 0 for a, b in zip(thr, thr[1:]))
    assert out.stat().st_size > 10_000
    bad = run("rheobase", "--num", "0")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--num" in bad.stderr
