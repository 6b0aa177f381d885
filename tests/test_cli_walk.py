"""Bad input through every subcommand of ``hhfast``: exit status 2 and one line on stderr
naming what is wrong, never exit 70 ("a bug") and never a traceback (issue 22, item 3).

The ``no_kernel`` fixture makes a kernel launch fail, so a value that slipped past the checks
shows up as exit 70 here instead of running.  Values argparse itself refuses (a word for a
number, a choice not offered) exit 2 through argparse's own usage message and are covered
once, at the end.
"""

from __future__ import annotations

import pytest

from hhfast.cli import main

#: (argv, a word the error line must contain)
CASES = [
    (["demo", "--dt", "nan"], "dt"),
    (["demo", "--t-stop", "-1"], "t_stop"),
    (["demo", "--dt", "1e-300"], "dt"),
    (["fi", "--num", "3", "--noise-sigma", "-1"], "noise_sigma"),
    (["fi", "--num", "3", "--noise-tau", "-1", "--noise-sigma", "1"], "noise_tau"),
    (["fi", "--num", "3", "--dt", "nan"], "dt"),
    (["fi", "--num", "3", "--t-stop", "inf"], "t_stop"),
    (["fi", "--num", "3", "--seed", "-1"], "seed"),
    (["fi", "--num", "3", "--seed", str(2**64), "--noise-sigma", "1"], "seed"),
    (["fi", "--num", "3", "--trials", "0"], "trials"),
    (["fi", "--num", "3", "--trials", str(2**64)], "trials"),
    (["fi", "--num", "3", "--param", "gK=-1"], "gK"),
    (["fi", "--num", "3", "--param", "Cm=nan"], "Cm"),
    (["fi", "--num", str(2**64)], "--num"),
    (["fi", "--num", "3", "--from", "nan"], "--to"),
    (["fi", "--num", "3", "--channel-noise", "channel", "--area", "0"], "area"),
    (["fi", "--num", "3", "--method", "dopri5", "--noise-sigma", "1"], "noise"),
    (["rheobase", "--num", "2", "--hi", "nan"], "hi"),
    (["rheobase", "--num", "2", "--dt", "-1"], "dt"),
    (["rheobase", "--num", "0"], "--num"),
    (["rheobase", "--num", str(2**64)], "--num"),
    (["rheobase", "--num", "2", "--width-from", "nan"], "--width-from"),
    (["rheobase", "--num", "2", "--param", "Cm=0"], "Cm"),
    (["run", "--pulse", "0,1,nan"], "amplitude"),
    (["run", "--step", "x"], "--step"),
    (["run", "--V0", "nan"], "V0"),
    (["run", "--threshold", "inf"], "threshold"),
    (["run", "--record-every", "0"], "record_every"),
    (["run", "--noise-sigma", "-1"], "noise_sigma"),
    (["run", "--seed", str(2**64), "--noise-sigma", "1"], "seed"),
    (["run", "--dt", "0"], "dt"),
    (["run", "--method", "dopri5", "--noise-sigma", "1"], "noise"),
    (["run", "--area", "10"], "--area"),
    (["validate", "--t-stop", "0.001"], "t_stop"),
    (["validate", "--method", "dopri5", "--rtol", "1e-30"], "rtol"),
    (["bench"], "--work-precision"),
    (["bench", "--work-precision", "--n-neurons", "0"], "--n-neurons"),
    (["bench", "--work-precision", "--t-stop", "nan", "--quick"], "t_stop"),
    (["bench", "--work-precision", "--repeats", "0"], "repeats"),
    (["explore", "--port", "70000"], "--port"),
    (["sweep"], "SPEC"),
    (["sweep", "missing.toml"], "missing.toml"),
    (["sweep", "--plot", "missing.zarr", "count_rate"], "missing.zarr"),
    (["sweep", "--verify", "missing.zarr"], "missing.zarr"),
    (["sweep", "good.toml", "--workers", "0"], "--workers"),
    (["sweep", "good.toml", "--scheduler", "garbage"], "--scheduler"),
]

GOOD = """
t_stop = 5.0
[stimulus]
type = "step"
[axes]
amplitude = [0.0, 10.0]
"""

#: TOML specs that are wrong: (text, a word the error line must contain)
SPECS = [
    (GOOD + "\n[fixed]\nnoise_sigma = -1.0\n", "noise_sigma"),
    (GOOD + "\n[fixed]\nnoise_I0 = 1.0\nnoise_sigma = 1.0\n", "noise_I0"),
    (GOOD.replace("t_stop = 5.0", "t_stop = 5.0\nfixed = [1]"), "fixed"),
    (GOOD.replace("t_stop = 5.0", "t_stop = 5.0\nparams = 5"), "params"),
    (GOOD.replace("t_stop = 5.0", "t_stop = 5.0\nmethod = \"dopri5\"\nseed = 1")
     + "\n[fixed]\nnoise_sigma = 1.0\n", "noise"),
    (GOOD.replace("t_stop = 5.0", "t_stop = 5.0\nseed = -1"), "seed"),
    (GOOD.replace("t_stop = 5.0", "t_stop = 5.0\nmax_spikes = -1"), "max_spikes"),
    (GOOD.replace("t_stop = 5.0", "t_stop = 1e300\ndt = 1e-300"), "dt"),
    (GOOD + "\n[params]\npreset = 3\n", "preset"),
    (GOOD.replace("amplitude = [0.0, 10.0]", "n0 = [0.5, 2.0]"), "n0"),
    (GOOD.replace("amplitude = [0.0, 10.0]", "trial = [-1.0, 1.0]"), "trial"),
    ("t_stop = [", "TOML"),
]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv, word", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_exits_2_with_one_line(argv, word, no_kernel, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.toml").write_text(GOOD)
    if argv[0] == "run":
        argv = argv + ["--out", str(tmp_path / "run.png")]
    rc = main(argv)
    line = _one_line(capsys)
    assert rc == 2, line
    assert line.startswith(f"hhfast {argv[0]}: error:") and word in line, line
    assert not (tmp_path / "good.zarr").exists()  # refused before any store was created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml"]  # nor any output


@pytest.mark.parametrize("text, word", SPECS, ids=[w for _, w in SPECS])
def test_bad_sweep_spec_exits_2_before_any_store(text, word, no_kernel, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    rc = main(["sweep", str(spec), "--no-progress"])
    line = _one_line(capsys)
    assert rc == 2 and word in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # no store, no lock


@pytest.mark.parametrize("argv", [["warmup", "--method", "garbage"],
                                  ["warmup", "--dtype", "float16"], ["fi", "--num", "x"]])
def test_argparse_refusals_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err.splitlines()[-1]
