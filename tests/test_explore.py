"""The explorer without a browser: settings, presets, errors beside fields, downloads, CLI.

The browser itself is driven in ``test_explore_browser.py``.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
import time

import numpy as np
import pytest

import hhfast as hh
from hhfast.analysis import SUSTAINED
from hhfast.explorer import (
    DEFAULTS,
    LIMITS,
    MAX_SAMPLES,
    PRESETS,
    SettingError,
    fi_work,
    parse,
    run_settings,
    run_work,
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
    assert warm.count_rate()[0] > 1.5 * cold.count_rate()[0] > 0


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


# -- bounded work, the page's address, the served app (issue 22) -----------------------------------
@pytest.mark.parametrize("name, raw, bound", [
    ("t_stop", "1e9", "2000"),  # the duration slider's end
    ("s_amp", "-1e6", "-20"),  # an amplitude slider's start
    ("temperature", "1000", "40"),
    ("tr_count", "1e9", "10000"),  # a train of 1e9 pulses would be allocated as a table
    ("fi_n", "1000000", "2001"),
])
def test_ranges_hold_for_every_source(name, raw, bound):
    """The sliders' ranges (and the counts' bounds) hold for a typed or an address value too,
    not only for a dragged slider: the value is refused, naming the setting and the range."""
    with pytest.raises(SettingError, match=rf"{name} must be in \[.*{bound}.*\], got '{raw}'") as e:
        parse(name, raw)
    assert e.value.field == name
    lo, hi = LIMITS[name]
    assert parse(name, str(hi)) == hi and parse(name, str(lo)) == lo  # the ends are allowed


def test_a_run_above_the_budget_is_refused_before_any_kernel(no_kernel):
    from hhfast import config

    s = settings(t_stop=2000.0, dt=1e-5)  # 2e8 steps: minutes of rk4
    with pytest.raises(SettingError, match="EXPLORER_RUN_BUDGET") as e:
        run_settings(s)
    assert e.value.field == "dt" and "2e+08" in str(e.value)
    assert run_work(s) == 200_000_000 > config.EXPLORER_RUN_BUDGET
    # the widgets' whole range at the default dt stays inside the budget
    assert run_work(settings(t_stop=LIMITS["t_stop"][1])) <= config.EXPLORER_RUN_BUDGET


def test_an_fi_curve_above_its_budget_is_refused(no_kernel):
    from hhfast import config
    from hhfast.explorer import check_fi, fi_settings

    s = settings(fi_n=2001, fi_t_stop=1e6)  # 2 x 2001 x 1e8 neuron-steps
    assert fi_work(s) == 2 * 2001 * 100_000_000 > config.EXPLORER_FI_BUDGET
    for call in (check_fi, fi_settings):
        with pytest.raises(SettingError, match="EXPLORER_FI_BUDGET") as e:
            call(s)
        assert e.value.field == "fi_t_stop"
    check_fi(settings())  # the default curve is well inside


@pytest.fixture
def served():
    """The app as a server session makes it: runs in its worker thread (no document here, so
    results are drawn from that thread)."""
    pytest.importorskip("panel")
    from hhfast.explorer.app import Explorer

    app = Explorer(served=True)
    yield app
    assert app.wait_idle(60)


@pytest.mark.parametrize("query, field, words", [
    ("method=RK4", "method", "'RK4'"),  # an unknown choice: no fallback to another method
    ("kind=step&t_stop=1e9", "t_stop", "[1, 2000]"),
    ("kind=sine", "kind", "'sine'"),
    ("tr_count=1e9", "tr_count", "10000"),
])
def test_address_values_are_checked_before_anything_runs(served, no_kernel, query, field, words):
    served.apply_address("?" + query)
    served.update()
    assert served.wait_idle(10)
    msg = served.errors[field].object
    assert words in msg and "address" in msg, msg
    assert "not run" in served.status.object
    assert served.last is None  # nothing ran (no_kernel would have raised in the worker)
    assert served.read()[0][field] == parse(field, DEFAULTS[field])  # the refused value: unused


def test_unknown_address_names_are_refused_not_ignored(served, no_kernel):
    served.apply_address("?s_amp=5&amp=3")
    served.update()
    assert served.wait_idle(10)
    assert "'amp'" in served.status.object and served.last is None
    assert served.value("s_amp") == 5.0  # the good value was applied


def test_newest_request_wins(served, monkeypatch):
    """Three requests in a row while the first (1e6 steps, ~1 s) runs: the second, replaced
    before it started, never runs; the first's result, superseded, is never drawn; only the
    newest is drawn, and it is simulate's for its settings."""
    import hhfast.explorer.app as appmod

    ran, drawn = [], []
    real_run, real_draw = appmod.run_settings, served._draw
    monkeypatch.setattr(appmod, "run_settings", lambda s: ran.append(s["s_amp"]) or real_run(s))
    served._draw = lambda run, s: drawn.append(s["s_amp"]) or real_draw(run, s)
    served.widgets["kind"].value = "step"  # a first run (compiles rk4 if the cache is cold)
    assert served.wait_idle(120)
    ran.clear(), drawn.clear()
    served._muted = True
    served.widgets["t_stop"].value = 2000.0
    served.widgets["dt"].value = "0.002"  # 1e6 steps: the whole budget
    served._muted = False
    served.update()  # request A, s_amp = 10
    deadline = time.monotonic() + 30
    while not ran and time.monotonic() < deadline:  # A has started
        time.sleep(0.001)
    served.widgets["s_amp"].value = 7.0  # B: waits, then is replaced by C before it starts
    served.widgets["s_amp"].value = 12.0  # C
    assert served.wait_idle(60)
    assert ran == [10.0, 12.0], ran
    assert drawn == [12.0], drawn  # A's result, superseded, was dropped
    ref = hh.simulate(hh.step(0, math.inf, 12.0), t_stop=2000.0, dt=0.002, record="V",
                      record_every=math.ceil(1_000_000 / MAX_SAMPLES), max_spikes=2000)
    assert int(served.last[0].result.spike_count[0]) == int(ref.spike_count[0]) > 0
    np.testing.assert_array_equal(served.src.data["V"], ref.V[0].astype(np.float32))


@pytest.mark.parametrize("headers, refused", [
    ({"Host": "localhost:5006"}, None),
    ({"Host": "127.0.0.1:5006", "Origin": "http://localhost:5006"}, None),
    ({"Host": "[::1]:5006"}, None),
    ({"Host": "rebind.example:5006"}, "Host"),  # DNS rebinding: another name, this machine
    ({"Host": "localhost:5007"}, "Host"),
    ({}, "Host"),
    ({"Host": "localhost:5006", "Origin": "http://evil.example"}, "Origin"),
    ({"Host": "localhost:5006", "Origin": "null"}, "Origin"),
    # another site's <img> pointing at the explorer; the user opening a shared link is fine
    ({"Host": "localhost:5006", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors",
      "Sec-Fetch-Dest": "image"}, "another site"),
    ({"Host": "localhost:5006", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Dest": "iframe"}, "another site"),
    ({"Host": "localhost:5006", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Dest": "document"}, None),
])
def test_requests_from_elsewhere_are_refused(headers, refused):
    pytest.importorskip("panel")
    from hhfast.explorer.app import refusal, served_hosts

    hosts = served_hosts("localhost", 5006)
    why = refusal(headers, hosts)
    assert (why is None) if refused is None else (refused in why), why
    assert served_hosts("0.0.0.0", 80, ["lab-pc"]) == {"0.0.0.0:80", "lab-pc:80"}


def test_served_explorer_refuses_hostile_requests_and_stops_on_sigterm():
    """``hhfast explore`` in a process: a hostile address (``?t_stop=1e9``) and a run at the
    whole budget (in flight when SIGTERM comes) are answered at once; requests naming another
    Host or Origin get 403; SIGTERM ends the process within seconds."""
    pytest.importorskip("panel")
    import urllib.error
    import urllib.request

    from _browser import start_server

    proc, url = start_server()
    try:
        def get(query="", timeout=60, **headers):
            req = urllib.request.Request(url + query, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        assert get()[0] == 200  # the first page (imports, templates) may take seconds
        t0 = time.monotonic()
        assert get("?t_stop=1e9", timeout=15)[0] == 200  # the page, with the error on it
        assert get("?kind=step&dt=0.002&t_stop=2000", timeout=15)[0] == 200
        assert time.monotonic() - t0 < 15
        port = url.rsplit(":", 1)[1].strip("/")
        code, body = get(Host=f"rebind.example:{port}")
        assert code == 403 and "Host" in body
        code, body = get(Origin="http://evil.example")
        assert code == 403 and "Origin" in body
        proc.terminate()  # SIGTERM, while the budget-sized run may still be in flight
        t0 = time.monotonic()
        proc.wait(timeout=10)
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dopri5_is_held_to_the_budget_and_says_so(app, monkeypatch):
    """dopri5's steps are its own, so the budget caps its step attempts (2/3 of the budget:
    6 derivative evaluations each against rk4's 4); a run stopped there says so on the page."""
    from hhfast import config

    monkeypatch.setattr(config, "EXPLORER_RUN_BUDGET", 600)  # 400 attempts: ~a few spikes
    app.widgets["method"].value = "dopri5"
    app.widgets["kind"].value = "step"
    app.widgets["t_stop"].value = 2000.0
    res = app.last[0].result
    assert bool(res.step_limited[0])
    assert "stopped early" in app.summary.object and "EXPLORER_RUN_BUDGET" in app.summary.object
    monkeypatch.setattr(config, "EXPLORER_RUN_BUDGET", 1_000_000)
    app.widgets["t_stop"].value = 1999.0
    assert not bool(app.last[0].result.step_limited[0])
    assert "stopped early" not in app.summary.object
