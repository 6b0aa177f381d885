"""The explorer in a real browser: headless Chromium driven by Playwright against
``hhfast explore``.

Skips with the reason where Chromium or Playwright is missing, except with
``HHFAST_REQUIRE_BROWSER=1`` (CI), where that fails.  What the page shows is compared with
``hh.simulate`` / ``hh.fi_curve`` called here on the same settings.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from _browser import launch_chromium, start_server, unavailable

import hhfast as hh
from hhfast.explorer import MAX_SAMPLES

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000  # the first page load may compile the rk4 kernel (fresh CI cache)
HOSTILE_MS = 30_000  # a hostile address must be answered well within this (main froze for ever)
REBIND = "rebind.test"


@pytest.fixture(scope="module")
def browser():
    try:
        import panel  # noqa: F401
    except ImportError:
        unavailable("Panel is not installed (pip install 'hhfast[explore]')")
    # a name that resolves to this machine, as an attacker's domain does in DNS rebinding
    yield from launch_chromium(f"--host-resolver-rules=MAP {REBIND} 127.0.0.1")


@pytest.fixture(scope="module")
def url(browser):
    proc, address = start_server()
    yield address
    proc.terminate()
    try:
        proc.wait(10)
    except Exception:  # pragma: no cover - a stuck server
        proc.kill()


def _open(browser, address, query=""):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(address + (f"?{query}" if query else ""))
    page.wait_for_selector("#hh-spike-count", timeout=TIMEOUT_MS)
    # count every change of the plotted trace and every key press (JS clocks, ms)
    page.evaluate("""() => {
        window.__hh = {keys: [], changes: []};
        const src = Bokeh.documents[0].get_model_by_name('hh-trace');
        src.connect(src.properties.data.change, () => window.__hh.changes.push(performance.now()));
        document.addEventListener('keydown', () => window.__hh.keys.push(performance.now()), true);
    }""")
    return page


def _trace(page) -> dict:
    return page.evaluate("""() => {
        const d = Bokeh.documents[0].get_model_by_name('hh-trace').data;
        const s = Bokeh.documents[0].get_model_by_name('hh-spikes').data;
        return {t: Array.from(d.t), V: Array.from(d.V), n: Array.from(d.n),
                spikes: Array.from(s.t)};
    }""")


def _count(page) -> int:
    return int(page.locator("#hh-spike-count").inner_text())


def _query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _expected(stim, t_stop=50.0, dt=0.01, method="rk4", **kw):
    every = math.ceil(math.ceil(t_stop / dt) / MAX_SAMPLES)
    return hh.simulate(stim, t_stop=t_stop, dt=dt, method=method, record="V,n",
                       record_every=every, max_spikes=2000, **kw)


def _same_run(page, res):
    """The page's trace and spikes are those of ``res``: the page gets the trace rounded to
    float32 (relative error <= 2**-24 = 6e-8; rtol 1e-6 and atol 1e-6 for values near 0 leave
    room), the spike times in float64 (1e-9 ms: the JSON round trip)."""
    got = _trace(page)
    assert _count(page) == int(res.spike_count[0])
    for name, want in (("t", res.t), ("V", res.V[0]), ("n", res.n[0])):
        np.testing.assert_allclose(got[name], want, rtol=1e-6, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(got["spikes"], res.spike_times[0], rtol=0, atol=1e-9)


def test_page_shows_the_gist(browser, url):
    page = _open(browser, url)
    res = _expected(hh.gist())
    assert int(res.spike_count[0]) == 2  # the gist's two pulses each fire one spike
    _same_run(page, res)
    page.close()


def test_slider_moves_the_run_and_latency(browser, url, tmp_path):
    """Move the step-amplitude slider with the keyboard, 20 steps of 0.5 µA/cm²: after each the
    plotted run is hh.simulate's at the slider's value (read back from the URL); the time from
    key press to the trace's data changing in the page is recorded (reported, not asserted)."""
    page = _open(browser, url, "kind=step&s_amp=2")
    handle = page.locator(".hh-s_amp .noUi-handle")
    handle.focus()
    latency, counts = [], set()
    for _ in range(20):
        n = page.evaluate("window.__hh.changes.length")
        handle.press("ArrowRight")
        page.wait_for_function(f"window.__hh.changes.length > {n}", timeout=TIMEOUT_MS)
        latency.append(page.evaluate(
            "window.__hh.changes[window.__hh.changes.length - 1] - "
            "window.__hh.keys[window.__hh.keys.length - 1]"))
        counts.add(_count(page))
    page.wait_for_function("() => location.search.includes('s_amp=12')", timeout=TIMEOUT_MS)
    amp = float(_query(page)["s_amp"])
    assert amp == 12.0  # 2 + 20 x 0.5
    _same_run(page, _expected(hh.step(0, math.inf, amp)))
    # 2 → 12 µA/cm² crosses the onset of repetitive firing (~6.3): the count must have changed
    assert len(counts) > 1
    out = {"view": "single neuron (stimulus, V, gates, phase plane)",
           "latency_ms_median": statistics.median(latency),
           "latency_ms_all": latency}
    (tmp_path / "latency.json").write_text(json.dumps(out))
    target = os.environ.get("HHFAST_LATENCY_OUT")
    if target:
        Path(target).write_text(json.dumps(out, indent=1))
    print(f"\nexplorer update latency (key press -> trace data in the page): median "
          f"{statistics.median(latency):.1f} ms, min {min(latency):.1f}, max {max(latency):.1f}")
    page.close()


def test_typed_value_changes_the_run(browser, url):
    page = _open(browser, url, "kind=step&s_amp=10")
    before = _count(page)
    field = page.locator(".hh-gK input")
    field.fill("20")
    field.press("Enter")
    page.wait_for_function("() => location.search.includes('gK=20')", timeout=TIMEOUT_MS)
    page.wait_for_function("window.__hh.changes.length > 0", timeout=TIMEOUT_MS)
    res = _expected(hh.step(0, math.inf, 10.0), gK=20.0)
    assert int(res.spike_count[0]) != before  # the change is visible in the count
    _same_run(page, res)
    page.close()


def test_bad_input_is_shown_beside_the_field(browser, url):
    page = _open(browser, url)
    before = _trace(page)
    field = page.locator(".hh-dt input")
    field.fill("abc")
    field.press("Enter")
    err = page.locator(".hh-err-dt .hh-err-msg")
    err.filter(has_text="not a number").wait_for(timeout=TIMEOUT_MS)
    assert "abc" in err.inner_text()
    field.fill("-0.5")
    field.press("Enter")
    err.filter(has_text="must be > 0").wait_for(timeout=TIMEOUT_MS)
    assert "Traceback" not in page.content()
    assert _trace(page)["V"] == before["V"]  # the last good run stays on show
    field.fill("0.02")
    field.press("Enter")
    page.wait_for_function("window.__hh.changes.length > 0", timeout=TIMEOUT_MS)
    assert err.count() == 0
    page.close()


def test_shared_url_restores_the_state(browser, url):
    query = "kind=train&tr_amp=30&tr_period=7&tr_count=4&temperature=10&t_stop=60"
    page = _open(browser, url, query)
    assert page.locator(".hh-tr_period input").input_value() == "7"
    res = _expected(hh.pulse_train(0, 1, 7, 4, 30.0), t_stop=60.0, temperature=10.0)
    _same_run(page, res)
    page.close()


@pytest.mark.slow  # a deliberately long f–I computation (201 currents x 2 s, ~25 s wall); the
# fast set's browser tests cover the controls and the single-neuron view
def test_fi_view_never_blocks_the_controls(browser, url):
    """Typing gK starts a long f–I computation (201 currents x 2 s, both branches) in the
    background; a slider moved meanwhile updates the single-neuron view while the f–I view still
    says it is computing; the curve that then arrives is hh.fi_curve's for the same settings."""
    page = _open(browser, url, "kind=step&s_amp=10&fi_n=201&fi_t_stop=2000")
    state = page.locator(".hh-fi-state")
    field = page.locator(".hh-gK input")
    field.fill("30")
    field.press("Enter")
    page.wait_for_function("() => location.search.includes('gK=30')", timeout=TIMEOUT_MS)
    page.get_by_text("f–I curve", exact=True).click()
    state.filter(has_text="computing").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Single neuron", exact=True).click()
    handle = page.locator(".hh-s_amp .noUi-handle")
    handle.focus()
    n = page.evaluate("window.__hh.changes.length")
    handle.press("ArrowRight")
    page.wait_for_function(f"window.__hh.changes.length > {n}", timeout=TIMEOUT_MS)
    # the run came back while the f–I curve (seconds of work) is still being computed
    assert "computing" in state.inner_text()
    page.get_by_text("f–I curve", exact=True).click()
    # meanwhile the f–I view shows its progress in percent (fi_curve's progress callback):
    # read it until the curve arrives; it only grows, and is seen between 0 and 100
    seen = []
    percent = page.locator(".hh-fi-percent")
    deadline = time.monotonic() + 300
    while "bistable band" not in state.inner_text() and time.monotonic() < deadline:
        if percent.count():
            text = percent.first.inner_text()
            if text.endswith(" %"):
                seen.append(int(text[:-2]))
                if 0 < seen[-1] < 100 and sum(0 < p < 100 for p in seen) == 1:
                    _shoot(page, "explorer-fi-progress")
        page.wait_for_timeout(100)
    state.filter(has_text="bistable band").wait_for(timeout=TIMEOUT_MS)
    assert seen == sorted(seen) and any(0 < p < 100 for p in seen), seen
    fi = hh.fi_curve(np.linspace(0, 30, 201), t_stop=2000, branch="both", tol=0.01, gK=30.0)
    band = "none" if fi.band is None else f"{fi.band[0]:.3f} – {fi.band[1]:.3f}"
    assert f"bistable band: {band}" in state.inner_text()
    got = page.evaluate("() => Array.from(Bokeh.documents[0].get_model_by_name('hh-fi')"
                        ".data.firing)")
    np.testing.assert_allclose(got, fi.sustained_rate_firing, rtol=0, atol=1e-9)
    page.close()


def test_screenshot_is_not_blank(browser, url, tmp_path):
    """A screenshot of the page with the sustained-firing preset: it must show the figures (many
    distinct colours, large spread), not a blank or error page.  With HHFAST_SCREENSHOT=path it
    is also saved there (docs/explorer.png, on docs/guide/explorer.md, is made this way)."""
    import matplotlib.image as mpimg

    page = _open(browser, url, "kind=step&s_amp=10&t_stop=100")
    page.wait_for_timeout(500)  # let the canvases paint
    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot), full_page=False)
    img = mpimg.imread(shot)[..., :3]
    colours = np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert img.shape[0] > 500 and img.shape[1] > 1000
    assert len(colours) > 100, len(colours)  # a blank page has a handful
    assert img.std() > 0.05
    target = os.environ.get("HHFAST_SCREENSHOT")
    if target:
        Path(target).write_bytes(shot.read_bytes())
    page.close()


def _bare(browser, address, query):
    """A page opened at ``address?query`` (nothing awaited: a refused address runs nothing)."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(f"{address}?{query}", timeout=HOSTILE_MS)
    return page


def test_unusable_address_values_are_shown_not_raised(browser, url):
    page = _bare(browser, url, "kind=step&s_amp=abc&dt=xyz")
    page.locator(".hh-err-dt .hh-err-msg").filter(has_text="not a number").wait_for(
        timeout=TIMEOUT_MS)
    assert "'abc'" in page.locator(".hh-err-s_amp .hh-err-msg").inner_text()
    assert "Traceback" not in page.content()
    assert page.locator("#hh-spike-count").count() == 0  # nothing ran
    page.close()


# -- hostile addresses (issue 22): answered at once, nothing runs, other sessions served ----------
def test_a_huge_duration_in_the_address_is_refused_at_once(browser, url):
    """``?t_stop=1e9`` froze the whole server (the run went on on its event loop): now the
    value is refused beside its field within seconds, nothing runs, the link is kept, and a
    session opened next is served as usual."""
    page = _bare(browser, url, "kind=step&t_stop=1e9")
    err = page.locator(".hh-err-t_stop .hh-err-msg")
    err.filter(has_text="[1, 2000]").wait_for(timeout=HOSTILE_MS)
    assert "'1e9'" in err.inner_text()
    assert "not run" in page.locator(".hh-status").inner_text()
    assert page.locator("#hh-spike-count").count() == 0
    assert _query(page)["t_stop"] == "1e9"
    other = _open(browser, url)
    _same_run(other, _expected(hh.gist()))
    other.close()
    page.close()


def test_an_unknown_method_is_shown_not_replaced(browser, url):
    """``?method=RK4`` ran euler and rewrote the link to ``method=euler``: now the value is
    shown as an error beside the method, nothing runs and the link stays; choosing a method
    then runs it and the address follows."""
    page = _bare(browser, url, "kind=step&method=RK4")
    err = page.locator(".hh-err-method .hh-err-msg")
    err.filter(has_text="'RK4'").wait_for(timeout=HOSTILE_MS)
    assert "must be one of" in err.inner_text()
    page.wait_for_timeout(1000)  # room for a rewrite of the link, were one to come
    assert _query(page) == {"kind": "step", "method": "RK4"}
    assert page.locator("#hh-spike-count").count() == 0
    page.locator(".hh-method select").select_option("euler")
    page.wait_for_selector("#hh-spike-count", timeout=TIMEOUT_MS)
    page.wait_for_function("() => location.search.includes('method=euler')", timeout=HOSTILE_MS)
    assert err.count() == 0
    _same_run(page, _expected(hh.step(0, math.inf, 10.0), method="euler"))
    page.close()


def test_a_foreign_host_is_refused(browser, url):
    """DNS rebinding: another site's name made to resolve to this machine (here by Chromium's
    resolver rules) opens the explorer with that name in ``Host``; it is refused with 403."""
    page = browser.new_page()
    port = urlparse(url).port
    resp = page.goto(f"http://{REBIND}:{port}/?kind=step", timeout=HOSTILE_MS)
    assert resp.status == 403
    assert "refused" in page.content() and REBIND in page.content()
    assert page.locator("#hh-spike-count").count() == 0
    page.close()


# -- the noise and tolerance controls (issue 20): value changed in the page -> simulate's data --
def _shoot(page, name):
    """Save a screenshot of the page when HHFAST_SCREENSHOT_DIR names a folder."""
    folder = os.environ.get("HHFAST_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _type(page, name, value):
    field = page.locator(f".hh-{name} input")
    field.fill(value)
    field.press("Enter")


def _raster_shown(page) -> bool:
    return page.evaluate(
        "() => Bokeh.documents[0].get_model_by_name('hh-raster-figure').visible")


def _raster(page) -> list:
    d = page.evaluate("""() => {
        const d = Bokeh.documents[0].get_model_by_name('hh-raster').data;
        return {t: Array.from(d.t), trial: Array.from(d.trial)};
    }""")
    return sorted(zip(d["t"], d["trial"], strict=True))


def _same_raster(got: list, want: list) -> bool:
    """The same spikes (trial ids exactly, times to 1e-12 relative: a CI run once saw the
    page's time one ulp from simulate's, 4.191490855262325 against ...326 ms, far below any
    spike-time accuracy the runs have)."""
    return (len(got) == len(want)
            and all(a[1] == b[1] for a, b in zip(got, want, strict=True))
            and np.allclose([a[0] for a in got], [b[0] for b in want], rtol=1e-12, atol=0))


def test_noise_controls_change_the_run(browser, url):
    """Typing the seed and the trials of a noisy run: the page's trace (trial 0), raster (every
    trial's spikes) and rate ± SD are simulate's with those noise arguments."""
    page = _open(browser, url, "kind=step&s_amp=5&method=euler&noise_sigma=2&noise_tau=1")
    for name, value in (("seed", "7"), ("trials", "6")):
        n = page.evaluate("window.__hh.changes.length")
        _type(page, name, value)
        page.wait_for_function(f"() => location.search.includes('{name}={value}')",
                               timeout=TIMEOUT_MS)
        page.wait_for_function(f"window.__hh.changes.length > {n}", timeout=TIMEOUT_MS)
    page.locator("#hh-rate-mean").wait_for(timeout=TIMEOUT_MS)
    noise = dict(method="euler", noise_sigma=2.0, noise_tau=1.0, seed=7, trial=np.arange(6))
    res = _expected(hh.step(0, math.inf, 5.0), neurons=[0], **noise)
    _same_run(page, res)
    all_trials = hh.simulate(hh.step(0, math.inf, 5.0), 50.0, max_spikes=2000, **noise)
    want = sorted((float(t), float(k)) for k in range(6) for t in all_trials.spike_times[k])
    assert _same_raster(_raster(page), want) and len({t for _, t in want}) > 1
    assert _raster_shown(page)
    rates = all_trials.count_rate()
    assert page.locator("#hh-rate-mean").inner_text() == f"{rates.mean():.2f}"
    assert page.locator("#hh-rate-sd").inner_text() == f"{rates.std(ddof=1):.2f}"
    _shoot(page, "explorer-noise")
    page.close()


def test_channel_noise_controls_change_the_run(browser, url):
    """Choosing a channel-noise model, then typing the membrane area: the page's open
    fractions and spikes are simulate's with that model and area."""
    page = _open(browser, url, "kind=step&s_amp=5&method=euler&t_stop=20")
    page.locator(".hh-channel_noise select").select_option("channel")
    page.wait_for_function("() => location.search.includes('channel_noise=channel')",
                           timeout=TIMEOUT_MS)
    n = page.evaluate("window.__hh.changes.length")
    _type(page, "area", "40")
    page.wait_for_function("() => location.search.includes('area=40')", timeout=TIMEOUT_MS)
    page.wait_for_function(f"window.__hh.changes.length > {n}", timeout=TIMEOUT_MS)
    res = hh.simulate(hh.step(0, math.inf, 5.0), 20.0, method="euler", channel_noise="channel",
                      area=40.0, seed=0, trial=np.arange(1), record="V,K_open",
                      max_spikes=2000)
    got = page.evaluate("""() => {
        const d = Bokeh.documents[0].get_model_by_name('hh-trace').data;
        return {V: Array.from(d.V), K: Array.from(d.K_open)};
    }""")
    # float32 on the page: rtol 1e-6 (as _same_run)
    np.testing.assert_allclose(got["V"], res.V[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["K"], res.traces["K_open"][0], rtol=1e-6, atol=1e-6)
    assert _count(page) == int(res.spike_count[0])
    assert _same_raster(_raster(page), [(float(t), 0.0) for t in res.spike_times[0]])
    _shoot(page, "explorer-channel-noise")
    page.close()


def test_dopri5_tolerance_controls(browser, url):
    """The rtol field is shown only with dopri5; typing it changes the run to simulate's with
    that tolerance (and the explorer's step budget)."""
    from hhfast import config

    page = _open(browser, url, "kind=step")
    rtol = page.locator(".hh-rtol input")
    assert not rtol.is_visible()
    page.locator(".hh-method select").select_option("dopri5")
    page.wait_for_function("() => location.search.includes('method=dopri5')", timeout=TIMEOUT_MS)
    rtol.wait_for(state="visible", timeout=TIMEOUT_MS)
    n = page.evaluate("window.__hh.changes.length")
    _type(page, "rtol", "1e-3")
    page.wait_for_function("() => location.search.includes('rtol=0.001')", timeout=TIMEOUT_MS)
    page.wait_for_function(f"window.__hh.changes.length > {n}", timeout=TIMEOUT_MS)
    res = _expected(hh.step(0, math.inf, 10.0), method="dopri5", rtol=1e-3,
                    max_steps=config.EXPLORER_RUN_BUDGET * 4 // 6)
    _same_run(page, res)
    assert not _raster_shown(page)  # no noise: no raster
    _shoot(page, "explorer-dopri5")
    page.close()
