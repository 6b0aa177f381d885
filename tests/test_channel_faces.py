"""Channel noise through every face of hhfast: fi_curve, the CLI (run, fi) and sweeps.

Only the "channel" kernel runs here (one compile); refusals are checked before any kernel
(the ``no_kernel`` fixture) so the other models compile nowhere in this file.
"""

import json
import math

import numpy as np
import pytest

import hhfast as hh
from hhfast import analysis, cli
from hhfast.sweeps import sweep_from_spec
from hhfast.sweeps.execute import _work_points

CH = dict(channel_noise="channel")


# -- fi_curve ------------------------------------------------------------------------------------
def test_channel_fi_curve_is_the_mean_over_trials_of_channel_noise_runs(tmp_path):
    cur = np.array([0.0, 4.0, 10.0])
    fi = hh.fi_curve(cur, t_stop=60.0, **CH, area=40.0, rho_K=20.0, seed=3, trials=4)
    assert fi.info["method"] == "euler"  # the default with channel noise
    assert fi.info["channel_noise"] == "channel" and fi.info["area"] == 40.0
    assert fi.info["rho_K"] == 20.0 and fi.info["rho_Na"] == 60.0  # the default density
    assert fi.onset is None and fi.count_rate_trials.shape == (4, 3)
    # independent path: one simulate call, trial id k * len(cur) + i as fi_curve documents
    res = hh.simulate(hh.step(), 60.0, method="euler", amplitude=np.tile(cur, (4, 1)),
                      channel_noise="channel", area=40.0, rho_K=20.0, seed=3,
                      trial=np.arange(12).reshape(4, 3), window=(30.0, 60.0), max_spikes=0)
    np.testing.assert_array_equal(fi.count_rate_trials, res.window_count / 0.03)  # Hz over 30 ms
    np.testing.assert_array_equal(fi.count_rate, fi.count_rate_trials.mean(axis=0))
    assert fi.count_rate[-1] > 0  # 10 µA/cm² fires
    text = fi.to_csv(tmp_path / "fi.csv")
    assert "# channel_noise: channel\n" in text and "# area: 40.0\n" in text
    assert "current_uA_cm2,count_rate_Hz,pattern,count_rate_sd_Hz,isi_cv" in text


def test_channel_noise_fires_below_the_deterministic_onset():
    # Classic HH, step from rest: the deterministic curve is silent (rate exactly 0) below its
    # onset (~6.3 µA/cm²).  At 3 µA/cm² a 30 µm² patch (1800 Na, 540 K channels) fires
    # spontaneously.  Statement: the mean window rate over 24 trials exceeds 5 standard errors
    # (SE = sd over trials / sqrt(24), printed in the assertion message).
    cur = np.array([3.0])
    det = hh.fi_curve(np.array([0.0, 3.0, 8.0]), t_stop=200.0, dt=0.01, method="euler")
    assert det.onset is not None and 3.0 < det.onset and det.sustained_rate[1] == 0.0
    fi = hh.fi_curve(cur, t_stop=200.0, **CH, area=30.0, seed=1, trials=24)
    se = fi.count_rate_sd[0] / math.sqrt(24)
    assert fi.count_rate[0] > 5 * se > 0, (fi.count_rate[0], se)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(channel_noise="channel", method="rk4"), ValueError, "method='rk4'"),
    (dict(area=50.0), ValueError, "area only apply with channel noise"),
    (dict(rho_Na=50.0, rho_K=5.0), ValueError, "rho_Na, rho_K only apply"),
    (dict(channel_noise="markov"), ValueError, "channel_noise must be None or one of"),
    (dict(channel_noise="channel", area=[10.0, 20.0]), ValueError,
     "area must be one number for the whole"),
    (dict(channel_noise="channel", area=-1.0), ValueError, "area must be > 0"),
    (dict(channel_noise="channel", area=0.01), ValueError, "gives 0.6 Na channels"),
    (dict(channel_noise="channel", branch="both"), ValueError, "branch='rest'"),
])
def test_channel_fi_curve_refuses_bad_input_before_running(no_kernel, kw, exc, match):
    with pytest.raises(exc, match=match):
        hh.fi_curve([1.0, 2.0], t_stop=20.0, **kw)


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_run_with_channel_noise(tmp_path, capsys):
    png, csv, phase = tmp_path / "run.png", tmp_path / "run.csv", tmp_path / "phase.png"
    rc = cli.main(["run", "--step", "2", "--t-stop", "20", "--channel-noise", "channel",
                   "--area", "30", "--rho-K", "20", "--seed", "4", "--out", str(png),
                   "--phase", str(phase), "--csv", str(csv)])
    assert rc == 0 and png.stat().st_size > 1000 and phase.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "euler dt=0.01 ms" in out
    assert "channel noise channel: area 30 µm², rho_Na 60, rho_K 20 channels per µm²" in out
    lines = csv.read_text().splitlines()
    assert lines[2] == "t_ms,I_uA_cm2,V_mV,K_open,Na_open"
    data = np.loadtxt(lines[3:], delimiter=",")
    # the same run through the library: same spike count and traces (seed 4, trial 0)
    res = hh.simulate(hh.pulses([(0.0, math.inf, 2.0)]), 20.0, channel_noise="channel",
                      area=30.0, rho_K=20.0, seed=4, record="V,K_open,Na_open")
    assert f": {int(res.spike_count[0])} spikes at" in out
    # the CSV keeps 10 significant digits: relative 1e-9 (absolute 1e-15 for values near 0)
    for col, name in ((2, "V"), (3, "K_open"), (4, "Na_open")):
        np.testing.assert_allclose(data[:, col], res.traces[name][0], rtol=1e-9, atol=1e-15)


def test_cli_fi_with_channel_noise(tmp_path, capsys):
    csv = tmp_path / "fi.csv"
    rc = cli.main(["fi", "--from", "0", "--to", "10", "--num", "3", "--t-stop", "40",
                   "--channel-noise", "channel", "--area", "40", "--trials", "3",
                   "--csv", str(csv)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "channel noise channel: area 40 µm²" in out and "3 trial(s) per current" in out
    assert "onset" not in out.replace("(no onset or block)", "")
    text = csv.read_text()
    rows = np.loadtxt([ln for ln in text.splitlines() if not ln.startswith("#")][1:],
                      delimiter=",")
    assert rows.shape == (3, 5) and "# method: euler" in text
    fi = hh.fi_curve(np.linspace(0, 10, 3), t_stop=40.0, channel_noise="channel", area=40.0,
                     trials=3)
    np.testing.assert_allclose(rows[:, 1], fi.count_rate, rtol=1e-9)


@pytest.mark.parametrize("argv, match", [
    (["run", "--area", "50"], "--area only apply with --channel-noise"),
    (["run", "--rho-Na", "50", "--rho-K", "5"], "--rho-Na, --rho-K only apply"),
    (["fi", "--rho-K", "5", "--num", "2"], "--rho-K only apply"),
    (["run", "--channel-noise", "channel", "--method", "rk4"], "--method euler"),
    (["fi", "--channel-noise", "shielding", "--method", "heun", "--num", "2"], "--method euler"),
    (["run", "--channel-noise", "channel", "--area", "-5"], "area must be > 0"),
    (["run", "--channel-noise", "subunit", "--area", "1", "--rho-Na", "0.1"], "rho_Na * area"),
    (["fi", "--channel-noise", "channel", "--branch", "both", "--num", "2"], "branch='rest'"),
    (["fi", "--channel-noise", "channel", "--area", "0", "--num", "2"], "area must be > 0"),
])
def test_cli_channel_noise_bad_values_exit_2_naming_the_option(no_kernel, argv, match, capsys,
                                                               tmp_path):
    rc = cli.main(argv + ["--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_unknown_channel_model_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--channel-noise", "markov"])
    assert e.value.code == 2 and "--channel-noise" in capsys.readouterr().err


# -- sweeps --------------------------------------------------------------------------------------
RUN = dict(t_stop=15.0, dt=0.01, seed=5)
AREAS = np.array([20.0, 60.0, 300.0])
AMPS = np.array([0.0, 5.0])


def test_channel_sweep_over_area_equals_simulate_at_each_point_bitwise():
    g = hh.grid(area=AREAS, amplitude=AMPS)
    ds = hh.sweep(g, hh.step(start=1.0), **RUN, **CH, rho_K=20.0, chunk_size=2, batch_size=4,
                  metrics=["spike_count", "count_rate", "first_spike", "isi_cv", "diverged"],
                  progress=False)
    assert ds.attrs["method"] == "euler" and ds.attrs["channel_noise"] == "channel"
    flat = {k: ds[k].values.reshape(-1) for k in ("spike_count", "count_rate", "first_spike",
                                                 "isi_cv", "diverged")}
    for i in range(g.size):  # trial id = the flat grid index
        a, x = AREAS[i // AMPS.size], AMPS[i % AMPS.size]
        res = hh.simulate(hh.step(start=1.0), RUN["t_stop"], dt=RUN["dt"], seed=RUN["seed"],
                          **CH, area=a, amplitude=x, rho_K=20.0, trial=i)
        ref = analysis.window_metrics(res)
        for k, v in flat.items():
            np.testing.assert_array_equal(v[i], np.asarray(ref[k]).reshape(-1)[0], err_msg=k)
    assert flat["spike_count"].sum() > 0  # something fired: the comparison saw spikes


def test_channel_sweep_store_refuses_another_channel_model(tmp_path):
    path = str(tmp_path / "c.zarr")
    g = hh.grid(amplitude=AMPS)
    run = dict(**RUN, progress=False, store=path)
    hh.sweep(g, hh.step(), **run, **CH, area=60.0)
    with pytest.raises(ValueError, match="channel_noise: stored 'channel', asked 'shielding'"):
        hh.sweep(g, hh.step(), **run, channel_noise="shielding", area=60.0)
    with pytest.raises(ValueError, match="channel_noise: stored 'channel', asked None"):
        hh.sweep(g, hh.step(), **run, method="euler")
    with pytest.raises(ValueError, match="fixed"):  # another area: the fixed values differ
        hh.sweep(g, hh.step(), **run, **CH, area=61.0)
    ds = hh.sweep(g, hh.step(), **run, **CH, area=60.0)  # the same spec resumes
    assert bool(ds.done.all())
    # and a store without channel noise refuses a channel-noise resume
    path2 = str(tmp_path / "d.zarr")
    hh.sweep(g, hh.step(), **{**run, "store": path2}, method="euler")
    assert "channel_noise" not in hh.open_sweep(path2).attrs
    with pytest.raises(ValueError, match="channel_noise: stored None, asked 'channel'"):
        hh.sweep(g, hh.step(), **{**run, "store": path2}, **CH)


@pytest.mark.parametrize("kw, match", [
    (dict(area=50.0), "area only apply with channel noise"),
    (dict(grid=hh.grid(rho_Na=[50.0, 60.0])), "rho_Na only apply with channel noise"),
    (dict(channel_noise="markov"), "channel_noise must be None or one of"),
    (dict(channel_noise="channel", method="rk4"), "method='rk4'"),
    (dict(channel_noise="channel", grid=hh.grid(area=[10.0, -1.0])), "area must be > 0"),
    (dict(channel_noise="channel", area=0.001), "gives 0.06 Na channels"),
    (dict(channel_noise="channel", grid=hh.grid(points={"area": [1.0, 0.01],
                                                        "rho_Na": [60.0, 60.0]})),
     "gives 0.6 Na channels"),
])
def test_channel_sweep_refuses_bad_values_before_the_store(no_kernel, tmp_path, kw, match):
    kw = dict(kw)
    g = kw.pop("grid", hh.grid(amplitude=AMPS))
    with pytest.raises(ValueError, match=match):
        hh.sweep(g, hh.step(), **RUN, **kw, store=str(tmp_path / "s.zarr"), progress=False)
    assert not (tmp_path / "s.zarr").exists()


def test_spec_takes_channel_noise_and_channel_values():
    spec = {"t_stop": 20.0, "channel_noise": "shielding", "seed": 3,
            "stimulus": {"type": "step", "amplitude": 2.0},
            "fixed": {"rho_K": 20.0}, "axes": {"area": [30.0, 100.0]}}
    g, kw = sweep_from_spec(spec)
    assert kw["channel_noise"] == "shielding" and kw["rho_K"] == 20.0
    assert np.array_equal(g.axes["area"], [30.0, 100.0])
    with pytest.raises(ValueError, match="'channel_noise' must be a string"):
        sweep_from_spec({**spec, "channel_noise": 1})
    json.dumps(kw["stimulus"])  # plain data


def test_channel_models_size_batches_by_their_cost():
    # long runs (1e6 steps): batches below the SWEEP_CHUNK_POINTS cap, above the minimum
    n = 1_000_000
    det = _work_points("euler", n, None)
    chan = {m: _work_points("euler", n, None, m) for m in ("channel", "shielding", "subunit")}
    assert chan["channel"] < chan["shielding"] < chan["subunit"] < det


def test_cli_sweep_spec_with_channel_noise(tmp_path, capsys):
    spec = tmp_path / "chan.toml"
    spec.write_text('t_stop = 10.0\nchannel_noise = "channel"\nseed = 2\n'
                    '[stimulus]\ntype = "step"\namplitude = 3.0\n'
                    '[fixed]\nrho_Na = 50.0\n[axes]\narea = [20.0, 200.0]\n')
    store = tmp_path / "chan.zarr"
    assert cli.main(["sweep", str(spec), "--store", str(store), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "euler dt=0.01 ms, t_stop=10.0 ms, channel noise channel" in out
    ds = hh.open_sweep(store)
    assert ds.attrs["channel_noise"] == "channel" and ds.attrs["method"] == "euler"
    res = hh.simulate(hh.step(amplitude=3.0), 10.0, channel_noise="channel", seed=2,
                      rho_Na=50.0, area=np.array([20.0, 200.0]))  # trial = flat index
    np.testing.assert_array_equal(ds.spike_count.values, res.spike_count)
    np.testing.assert_array_equal(ds.first_spike.values, res.first_spike)


def test_trace_panel_draws_the_open_fractions_of_a_channel_run():
    from hhfast import plotting

    res = hh.simulate(hh.step(amplitude=2.0), 5.0, channel_noise="channel", area=50.0,
                      record="V,K_open,Na_open")
    fig = plotting.trace_panel(res)
    axes = fig.get_axes()
    assert len(axes) == 3  # stimulus, V, open fractions
    assert [ln.get_label() for ln in axes[2].get_lines()] == ["K_open", "Na_open"]
    assert axes[2].get_ylabel() == "open fraction"


# -- warmup ---------------------------------------------------------------------------------------
def test_warmup_prepares_channel_kernels_and_refuses_unknown_models():
    spent = hh.warmup(methods=[], dtypes=["float64"], channel_noise=["subunit"])
    assert list(spent) == [("subunit channel-noise", "float64")]
    with pytest.raises(ValueError, match="channel_noise must be None or one of .*'nope'"):
        hh.warmup(methods=[], channel_noise=["nope"])


def test_warmup_command_reports_channel_kernels(capsys):
    # "--channel-noise" alone means every model; with names, those
    assert cli.main(["warmup", "--method", "euler", "--dtype", "float64", "--no-progress",
                     "--channel-noise"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0][:2] == ["euler", "float64"]
    assert rows[1][:3] == ["noisy", "euler", "float64"]  # the current-noise kernel too
    assert [r[:3] for r in rows[2:]] == [[m, "channel-noise", "float64"]
                                         for m in ("channel", "shielding", "subunit")]
    assert cli.main(["warmup", "--method", "euler", "--dtype", "float64", "--no-progress",
                     "--channel-noise", "subunit"]) == 0
    out = capsys.readouterr().out
    assert "subunit channel-noise" in out and "shielding" not in out
