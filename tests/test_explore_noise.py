"""The explorer's noise and tolerance settings without a browser (issue 20): current noise
(σ, τ, seed, trials), channel noise (model, area), dopri5's rtol/atol, the work bound of the
trials, and the page's rate ± SD and raster.  Each run is ``simulate``'s on the same arguments.
The browser is driven in ``test_explore_browser.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hhfast as hh
from hhfast import config
from hhfast.explorer import MAX_SAMPLES, SettingError, parse, run_settings, run_work, settings

STEP = hh.step(0.0, math.inf, 5.0)


def _every(t_stop, dt=0.01):
    return math.ceil(math.ceil(t_stop / dt) / MAX_SAMPLES)


def test_noisy_run_is_simulate_with_those_trials():
    s = settings(kind="step", s_amp=5.0, method="euler", noise_sigma=2.0, noise_tau=1.5,
                 seed=12, trials=6)
    run = run_settings(s)
    ref = hh.simulate(STEP, 50.0, method="euler", record="V,n,m,h", record_every=_every(50.0),
                      max_spikes=2000, neurons=[0], noise_sigma=2.0, noise_tau=1.5, seed=12,
                      trial=np.arange(6))
    assert run.trials == 6 and not run.channel
    np.testing.assert_array_equal(run.result.V[0], ref.V[0])  # trial 0's trace
    np.testing.assert_array_equal(run.result.spike_count, ref.spike_count)
    for k in range(6):
        np.testing.assert_array_equal(run.result.spike_times[k], ref.spike_times[k])
    assert len(set(ref.spike_count.tolist())) > 1  # the trials differ: the noise acted


def test_channel_noise_run_records_the_open_fractions():
    s = settings(kind="step", s_amp=5.0, method="euler", channel_noise="channel", area=50.0,
                 seed=4, trials=3, t_stop=20.0)
    run = run_settings(s)
    ref = hh.simulate(hh.step(0.0, math.inf, 5.0), 20.0, method="euler", channel_noise="channel",
                      area=50.0, seed=4, trial=np.arange(3), record="V,K_open,Na_open",
                      record_every=_every(20.0), max_spikes=2000, neurons=[0])
    assert run.channel and run.trials == 3
    np.testing.assert_array_equal(run.result.traces["K_open"][0], ref.traces["K_open"][0])
    np.testing.assert_array_equal(run.result.spike_count, ref.spike_count)


def test_trials_without_noise_run_once_and_tolerances_only_with_dopri5():
    run = run_settings(settings(trials=7))  # no noise: one deterministic run
    assert run.trials == 1
    # rtol/atol are dopri5's: a fixed-step method runs without them (the page hides them)
    run = run_settings(settings(kind="step", rtol=1e-3))
    assert run.result.rtol is None
    run = run_settings(settings(kind="step", method="dopri5", rtol=1e-3, atol=1e-2))
    assert (run.result.rtol, run.result.atol) == (1e-3, 1e-2)
    ref = hh.simulate(hh.step(0.0, math.inf, 10.0), 50.0, method="dopri5", rtol=1e-3,
                      atol=1e-2, record="V", record_every=_every(50.0), max_spikes=2000,
                      max_steps=config.EXPLORER_RUN_BUDGET * 4 // 6)
    np.testing.assert_array_equal(run.result.V[0], ref.V[0])
    run = run_settings(settings(kind="step", method="dopri5", rtol=1e-3))  # atol empty: = rtol
    assert run.result.atol == 1e-3


def test_trials_are_held_to_the_work_budget(no_kernel):
    """trials x steps (a channel-noise step at its cost relative to rk4's) is bounded by
    EXPLORER_RUN_BUDGET: refused before any kernel, naming ``trials``."""
    s = settings(t_stop=2000.0, noise_sigma=1.0, trials=10)  # 10 x 2e5 steps
    assert run_work(s) == 2_000_000 > config.EXPLORER_RUN_BUDGET
    with pytest.raises(SettingError, match="trials x t_stop / dt") as e:
        run_settings(s)
    assert e.value.field == "trials"
    # a channel-noise step costs more than an rk4 step: counted so
    s = settings(t_stop=100.0, channel_noise="channel", method="euler", trials=10)
    assert run_work(s) > 10 * 10_000
    with pytest.raises(SettingError, match=r"trials must be in \[1, 200\]"):
        parse("trials", "201")


@pytest.mark.parametrize("name, raw, words", [
    ("seed", "-1", "[0, 2^64 - 1]"),
    ("seed", "18446744073709551616", "[0, 2^64 - 1]"),
    ("seed", "1.5", "whole number"),
    ("noise_sigma", "-1", "[0, 100]"),
    ("channel_noise", "markov", "must be one of"),
    ("rtol", "1e-20", "must be in"),
    ("area", "0", "must be in"),
])
def test_noise_settings_are_checked(name, raw, words):
    with pytest.raises(SettingError, match=None) as e:
        parse(name, raw)
    assert e.value.field == name and words in str(e.value)


def test_seed_is_exact_to_2_to_the_64():
    assert parse("seed", "18446744073709551615") == 2**64 - 1  # no float on the way


def test_simulate_refusals_are_blamed_on_their_field(no_kernel):
    with pytest.raises(SettingError) as e:  # channel noise runs with euler only
        run_settings(settings(channel_noise="channel"))
    assert e.value.field == "channel_noise"
    with pytest.raises(SettingError) as e:  # dopri5 takes no noise
        run_settings(settings(method="dopri5", noise_sigma=1.0))
    assert e.value.field == "method"


# -- the Panel app object ----------------------------------------------------------------------
@pytest.fixture
def app():
    pytest.importorskip("panel")
    from hhfast.explorer.app import Explorer

    return Explorer()


def test_page_shows_rate_sd_and_raster_of_the_trials(app):
    for name, v in (("method", "euler"), ("kind", "step"), ("s_amp", 5.0),
                    ("noise_sigma", "2"), ("seed", "5"), ("trials", "8")):
        app.widgets[name].value = v
    ref = hh.simulate(STEP, 50.0, method="euler", noise_sigma=2.0, seed=5, trial=np.arange(8),
                      max_spikes=2000)
    rates = ref.count_rate()
    assert f"id='hh-rate-mean'>{rates.mean():.2f}<" in app.summary.object
    assert f"id='hh-rate-sd'>{rates.std(ddof=1):.2f}<" in app.summary.object
    want = sorted((float(t), k) for k in range(8) for t in ref.spike_times[k])
    got = sorted(zip(app.raster.data["t"], app.raster.data["trial"], strict=True))
    assert got == want and app.raster_pane.visible
    assert not app.tol_box.visible and not app.area_box.visible
    app.widgets["noise_sigma"].value = "0"  # noise off: no raster
    assert not app.raster_pane.visible and "hh-rate-mean" not in app.summary.object
    app.widgets["method"].value = "dopri5"  # the tolerances appear with dopri5
    assert app.tol_box.visible and "rtol = 1e-06" in app.summary.object


def test_channel_noise_page_and_csv(app):
    for name, v in (("method", "euler"), ("channel_noise", "channel"), ("area", "30"),
                    ("t_stop", 20.0)):
        app.widgets[name].value = v
    assert app.area_box.visible
    run = app.last[0]
    assert run.channel
    assert np.isnan(app.src.data["n"]).all()  # no gates: the open fractions instead
    np.testing.assert_allclose(app.src.data["K_open"], run.result.traces["K_open"][0], rtol=1e-6)
    header = app._csv().getvalue().decode().splitlines()[2]
    assert header == "t_ms,I_uA_cm2,V_mV,K_open,Na_open"
