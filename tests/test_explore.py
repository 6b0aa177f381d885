"""The explorer without a browser: settings, presets, errors beside fields, downloads, CLI.

The browser itself is driven in ``test_explore_browser.py``.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest

import hhfast as hh
from hhfast.analysis import SUSTAINED
from hhfast.explorer import (
    DEFAULTS,
    MAX_SAMPLES,
    PRESETS,
    SettingError,
    parse,
    run_settings,
    settings,
    stimulus_of,
)
from hhfast.kernels import METHODS


def test_parse_names_the_setting_and_the_value():
    with pytest.raises(SettingError, match=r"dt: not a number: 'abc'") as e:
        parse("dt", "abc")
    assert e.value.field == "dt"
    with pytest.raises(SettingError, match="tr_count must be a whole number"):
        parse("tr_count", "2.5")
    with pytest.raises(SettingError, match="gK must be finite"):
        parse("gK", "inf")
    with pytest.raises(SettingError, match="method must be one of") as e:
        parse("method", "rk45")
    for m in METHODS:  # the choices come from the kernel registry
        assert m in str(e.value)
    assert parse("s_stop", "inf") == math.inf
    assert parse("V0", " ") is None  # empty initial value: the resting state
    assert parse("r_hold", "true") is True


@pytest.mark.parametrize("kind, changes, times, want", [
    # the gist's protocol: 150 µA/cm² in (0, 1) ms, 50 in (10, 11), 0 elsewhere
    ("pulses", {}, [0.5, 5.0, 10.5, 20.0], [150.0, 0.0, 50.0, 0.0]),
    ("step", {"s_start": 5.0, "s_stop": 20.0, "s_amp": 7.0}, [1.0, 6.0, 25.0], [0.0, 7.0, 0.0]),
    # pulses of 1 ms every 10 ms, 3 of them: on at 0.5, 10.5, 20.5; off at 5.5 and at 30.5
    ("train", {"tr_count": 3, "tr_amp": 4.0}, [0.5, 5.5, 10.5, 20.5, 30.5],
     [4.0, 0.0, 4.0, 4.0, 0.0]),
    # ramp 2 -> 12 over [0, 100]: the midpoint is 7; held at 12 afterwards
    ("ramp", {"r_begin": 2.0, "r_end": 12.0, "r_hold": True}, [50.0, 150.0], [7.0, 12.0]),
])
def test_stimulus_of_each_kind_is_the_protocol(kind, changes, times, want):
    stim = stimulus_of(settings(kind=kind, **changes))
    np.testing.assert_allclose(stim(np.array(times)), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("changes, field", [
    ({"kind": "train", "tr_width": 20.0}, "tr_period"),  # period must be >= width
    ({"kind": "ramp", "r_stop": -1.0}, "r_stop"),
    ({"kind": "pulses", "p2_stop": 9.0}, "p2_stop"),  # stop before start
    ({"dt": -0.01}, "dt"),
    ({"method": "expeuler", "gL": 0.0}, "gL"),
    ({"t_stop": 0.001}, "t_stop"),
])
def test_model_errors_are_blamed_on_their_field(no_kernel, changes, field):
    with pytest.raises(SettingError) as e:
        run_settings(settings(**changes))
    assert e.value.field == field, str(e.value)


def test_a_run_is_simulate_on_the_same_settings():
    s = settings(kind="step", s_amp=12.0, gK=30.0, temperature=10.0, t_stop=80.0)
    run = run_settings(s)
    every = math.ceil(8000 / MAX_SAMPLES)
    ref = hh.simulate(hh.step(0, math.inf, 12.0), t_stop=80.0, record="V", record_every=every,
                      gK=30.0, temperature=10.0)
    np.testing.assert_array_equal(run.result.V[0], ref.V[0])
    assert run.result.spike_count[0] == ref.spike_count[0] > 0
    assert run.result.t.size <= MAX_SAMPLES + 1
    np.testing.assert_array_equal(run.current[run.result.t > 0], 12.0)


def test_presets_do_what_their_names_say():
    def res(name, **extra):
        return run_settings(settings(**{**PRESETS[name], **extra})).result

    # the gist: one spike per pulse
    assert res("The gist (two pulses)").spike_count[0] == 2
    # 10 µA/cm² is above the Hopf point (~9.78): repetitive firing that lasts
    assert hh.firing_pattern(res("Sustained firing under a step"))[0] == SUSTAINED
    # inside the band: quiet at the equilibrium of 8 µA/cm² until the kick at 100 ms, then
    # firing that outlasts the kick
    r = res("Bistable band (a kick starts lasting firing)")
    assert r.first_spike[0] > 100.0
    assert hh.firing_pattern(r)[0] == SUSTAINED
    # 200 µA/cm² is above the upper Hopf point (~154.5): one spike, then no more
    r = res("Depolarisation block")
    assert r.spike_count[0] == 1 and r.first_spike[0] < 5.0
    # every rate scales by 3^((T - 6.3)/10): warmer, faster spiking at the same current
    warm = res("Temperature effect (18.5 °C)")
    cold = res("Temperature effect (18.5 °C)", temperature=6.3)
    assert warm.rate()[0] > 1.5 * cold.rate()[0] > 0


# -- the Panel app object (no browser) -------------------------------------------------------------
@pytest.fixture
def app():
    pytest.importorskip("panel")
    from hhfast.explorer.app import Explorer

    return Explorer()


def test_bad_input_is_shown_beside_the_field_and_the_last_run_stays(app):
    before = app.src.data["V"]
    app.widgets["dt"].value = "abc"
    assert "not a number: 'abc'" in app.errors["dt"].object
    assert "not run" in app.status.object
    assert app.src.data["V"] is before
    app.widgets["dt"].value = "0.01"
    app.widgets["kind"].value = "train"
    app.widgets["tr_width"].value = "20"
    assert "must be >= width" in app.errors["tr_period"].object
    app.widgets["tr_width"].value = "1"
    assert all(e.object == "" for e in app.errors.values())
    assert app.status.object == ""


def test_preset_sets_the_controls_and_runs_once(app):
    app.preset.value = "Depolarisation block"
    assert app.widgets["kind"].value == "step" and app.widgets["s_amp"].value == 200.0
    assert 'id=\'hh-spike-count\'>1<' in app.summary.object
    assert "s_amp=200" in app.query(app.read()[0])


def test_csv_and_png_downloads(app):
    text = app._csv().getvalue().decode()
    lines = text.splitlines()
    assert lines[0].startswith("#") and "spikes: 2" in lines[1]
    table = np.loadtxt(io.StringIO(text), delimiter=",", comments="#", skiprows=3)
    ref = hh.simulate(hh.gist(), t_stop=50, record="V", record_every=math.ceil(5000 / MAX_SAMPLES))
    np.testing.assert_allclose(table[:, 0], ref.t, rtol=1e-9)
    np.testing.assert_allclose(table[:, 2], ref.V[0], rtol=1e-8, atol=1e-9)  # 9 digits written
    png = app._png().getvalue()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_defaults_are_the_gist():
    assert DEFAULTS["t_stop"] == 50.0 and DEFAULTS["method"] == "rk4"
    s = settings()
    assert [(s[f"p{i}_start"], s[f"p{i}_stop"], s[f"p{i}_amp"]) for i in (1, 2)] == [
        tuple(p) for p in hh.stimulus.GIST_PULSES]


# -- CLI ---------------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hhfast", *args], capture_output=True,
                          text=True, timeout=600)


def test_explore_refuses_a_bad_port_in_one_line():
    p = _cli("explore", "--port", "70000", "--no-browser")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "70000" in p.stderr


def test_warmup_command_reports_each_kernel():
    p = _cli("warmup", "--method", "euler", "--dtype", "float64", "--no-progress")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[:2] == ["euler", "float64"] and p.stdout.strip().endswith("s")


def test_hh_explore_returns_the_app_and_refuses_bad_settings():
    pn = pytest.importorskip("panel")
    view = hh.explore(kind="step", s_amp=12)
    assert isinstance(view, pn.viewable.Viewable)
    with pytest.raises(SettingError, match="dt: not a number: 'abc'"):
        hh.explore(dt="abc")
    with pytest.raises(SettingError, match="unknown setting 'amp'"):
        hh.explore(amp=3)


@pytest.mark.parametrize("required", ["", "1"])
def test_browser_tests_skip_without_chromium_unless_required(required):
    """Without a browser the browser tests skip with the reason; with HHFAST_REQUIRE_BROWSER=1
    (CI) they fail, so CI cannot pass by skipping them."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, HHFAST_CHROMIUM=str(root / "no-such-chromium"),
               HHFAST_REQUIRE_BROWSER=required,
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", "-o", "addopts=",
         "tests/test_explore_browser.py"],
        capture_output=True, text=True, env=env, cwd=root, timeout=600)
    if required:
        assert p.returncode != 0
        assert "HHFAST_REQUIRE_BROWSER=1 but no Chromium found" in p.stdout
        assert "passed" not in p.stdout.splitlines()[-1]
    else:
        assert p.returncode == 0, p.stdout
        assert "no Chromium found" in p.stdout and "skipped" in p.stdout
        assert "passed" not in p.stdout.splitlines()[-1]
