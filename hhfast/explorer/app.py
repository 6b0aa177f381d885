"""The explorer's web page: Panel widgets and Bokeh figures over :mod:`hhfast.explorer`.

One app object serves as a page (``hhfast explore``) and renders inline in Jupyter
(``hh.explore()``).  Each browser session gets its own app.  Served, the server's event loop
never runs a simulation (docs/architecture.md §8): a change of a control only reads and checks
the settings and hands them to the session's worker thread, which runs them (a warm run of the
gist takes ~1.4 ms; at most ``config.EXPLORER_RUN_BUDGET`` neuron-steps, < ~1 s) and passes
the result back to the loop to draw; a request made while one runs replaces the one waiting,
and a superseded run's result is dropped (newest request wins).  The f–I curve is computed in
a worker process (a thread of the app waits for it), only while its tab is shown, with its
progress in percent meanwhile (:func:`hhfast.fi_curve`'s ``progress``, passed back through a
shared array); only the newest request's curve is drawn.  With noise (current noise, channel
noise) a run is ``trials`` trials: the traces are trial 0's, the raster shows every trial and
the summary the count rate's mean ± SD over the trials.  The values in the page's address
are checked like typed ones, before anything is applied: an unknown or out-of-range value is
shown beside its field and nothing runs.  Requests whose ``Host`` or ``Origin`` is not the
served address are refused (DNS rebinding).
"""

from __future__ import annotations

import io
import math
import threading
import time
from urllib.parse import parse_qsl, urlencode

import numpy as np

from ..kernels import METHODS
from ..model import FIELDS, HHParams
from ..plotting import SUSTAINED_RATE_LABEL
from .spec import (
    CHANNEL_CHOICES,
    DEFAULTS,
    KINDS,
    LIMITS,
    PRESETS,
    SettingError,
    _fi_worker_init,
    check_fi,
    fi_job,
    parse,
    run_settings,
)
from .spec import noisy as is_noisy

#: settings shown as sliders: name -> (start, end, step); the ends are :data:`LIMITS`
SLIDERS = {name: (*LIMITS[name], step) for name, step in (
    ("p1_amp", 1.0), ("p2_amp", 1.0), ("s_amp", 0.5), ("tr_amp", 1.0), ("r_end", 0.5),
    ("t_stop", 1.0), ("temperature", 0.5))}

#: labels with units, per setting
LABELS = {
    "p1_start": "pulse 1 start (ms)", "p1_stop": "pulse 1 stop (ms, inf = never)",
    "p1_amp": "pulse 1 (µA/cm²)", "p2_start": "pulse 2 start (ms)",
    "p2_stop": "pulse 2 stop (ms, inf = never)", "p2_amp": "pulse 2 (µA/cm²)",
    "s_start": "step on (ms)", "s_stop": "step off (ms, inf = never)", "s_amp": "step (µA/cm²)",
    "tr_start": "first pulse (ms)", "tr_width": "width (ms)", "tr_period": "period (ms)",
    "tr_count": "count", "tr_amp": "pulse (µA/cm²)",
    "r_start": "ramp start (ms)", "r_stop": "ramp stop (ms)", "r_begin": "from (µA/cm²)",
    "r_end": "to (µA/cm²)", "r_hold": "hold the end value",
    "t_stop": "duration (ms)", "dt": "dt (ms)", "method": "method",
    "rtol": "rtol (dopri5)", "atol": "atol (dopri5, empty = rtol)",
    "noise_sigma": "σ (white: µA/cm²·ms^½; OU: µA/cm²)", "noise_tau": "τ (ms, 0 = white)",
    "seed": "seed", "trials": "trials (with noise)", "channel_noise": "channel noise",
    "area": "membrane area (µm²)",
    "V0": "V0 (mV, empty = rest)", "n0": "n0 (empty = rest)", "m0": "m0 (empty = rest)",
    "h0": "h0 (empty = rest)",
    "gNa": "gNa (mS/cm²)", "gK": "gK (mS/cm²)", "gL": "gL (mS/cm²)", "ENa": "ENa (mV)",
    "EK": "EK (mV)", "EL": "EL (mV)", "Cm": "Cm (µF/cm²)", "V_rest": "V_rest (mV)",
    "temperature": "temperature (°C)",
    "fi_lo": "lowest current (µA/cm²)", "fi_hi": "highest current (µA/cm²)",
    "fi_n": "currents", "fi_t_stop": "time per current (ms)",
}

_STIM_FIELDS = {
    "pulses": ("p1_start", "p1_stop", "p1_amp", "p2_start", "p2_stop", "p2_amp"),
    "step": ("s_start", "s_stop", "s_amp"),
    "train": ("tr_start", "tr_width", "tr_period", "tr_count", "tr_amp"),
    "ramp": ("r_start", "r_stop", "r_begin", "r_end", "r_hold"),
}
_PARSED_DEFAULTS = {k: parse(k, v) for k, v in DEFAULTS.items()}
#: settings the f–I curve depends on
_FI_KEYS = ("dt", "method", "rtol", "atol", *FIELDS, "fi_lo", "fi_hi", "fi_n", "fi_t_stop")
#: seconds between two readings of the f–I worker's progress
_FI_POLL_S = 0.2


def require_panel():
    """Import Panel, or say how to get it."""
    try:
        import panel as pn
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the explorer needs Panel and Bokeh: python -m pip install 'hhfast[explore]'"
        ) from None
    return pn


_POOL = []
_POOL_LOCK = threading.Lock()
_FI_JOBS = [0]  # the last f–I job number handed to the worker (under _POOL_LOCK)


def _fi_pool():
    """One worker process for the f–I curves of every session, started on first use.

    A process, not a thread: ``simulate`` holds ``engine.KERNEL_LOCK`` around each kernel
    launch, so an f–I batch (up to ~1 s per launch) run in a thread of the server made a
    slider's run wait for it (1.3 s measured); in its own process it never does.  ``spawn``,
    because the server process has threads.
    """
    with _POOL_LOCK:
        if not _POOL:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")
            shared = ctx.Array("d", 3)  # (job, done, total) of the curve being computed
            _POOL.append((ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                              initializer=_fi_worker_init,
                                              initargs=(shared,)), shared))
        return _POOL[0]


def _fi_submit(s):
    """Hand a curve to the worker; returns (future, job number, shared progress array)."""
    pool, shared = _fi_pool()
    with _POOL_LOCK:
        _FI_JOBS[0] += 1
        job = _FI_JOBS[0]
    return pool.submit(fi_job, s, job), job, shared


def _stop_pool() -> None:
    """Stop the f–I worker process (the server is stopping)."""
    with _POOL_LOCK:
        while _POOL:
            pool, _ = _POOL.pop()
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:  # a curve still computing is not waited for
                proc.terminate()


_PROMPT: dict[type, type] = {}


def _prompt(cls):
    """``cls`` without Panel's 50 ms wait before it handles a change (``Reactive._debounce``):
    a run takes ~2 ms, so the views can follow every change of a control at once."""
    if cls not in _PROMPT:
        _PROMPT[cls] = type(f"Prompt{cls.__name__}", (cls,), {"_debounce": 0})
    return _PROMPT[cls]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}" if isinstance(value, float) else str(value)


class Explorer:
    """One session's app: widgets, figures and the callbacks that join them."""

    def __init__(self, served: bool = False, **initial):
        """``served``: runs go to a worker thread and their results are drawn on the document's
        event loop (:meth:`servable` gives the document and the page's address; until then they
        are drawn from the worker thread); otherwise each change runs and draws at once."""
        pn = require_panel()
        from bokeh.models import BoxAnnotation, ColumnDataSource, Range1d, Span
        from bokeh.plotting import figure

        self.pn = pn
        self.widgets: dict[str, object] = {}
        self.errors: dict[str, object] = {}
        self._muted = False
        self._fi_lock = threading.Lock()
        self._fi_generation = 0
        self._fi_running = False
        self._fi_pending = None
        self._fi_last_key = None
        self.last = None  # the last Run shown
        self._url_bad: dict[str, str] = {}  # values in the page's address that were refused
        self._url_general = ""  # names in the page's address that are no setting
        self.doc = None
        self._location = None  # the page's address (Panel's Location), when served
        self.background = served
        self._run_lock = threading.Lock()
        self._run_generation = 0  # bumped by every request: only the newest one is drawn
        self._run_pending = None  # (generation, settings) waiting for the worker
        self._run_running = False
        self._run_idle = threading.Event()
        self._run_idle.set()

        start = dict(DEFAULTS)
        for k, v in initial.items():
            start[k] = parse(k, v)
        for name, default in start.items():
            self._make_widget(name, default)

        # ---- figures ----
        tools = "pan,wheel_zoom,box_zoom,reset,save"
        self.src = ColumnDataSource(dict(t=[], V=[], n=[], m=[], h=[], K_open=[], Na_open=[],
                                         I=[]), name="hh-trace")
        self.raster = ColumnDataSource(dict(t=[], trial=[]), name="hh-raster")
        self.spk = ColumnDataSource(dict(t=[], y=[]), name="hh-spikes")
        kw = dict(height=230, sizing_mode="stretch_width", tools=tools)
        self.f_stim = figure(title="stimulus", y_axis_label="I (µA/cm²)", **kw)
        self.f_stim.line("t", "I", source=self.src, color="#444")
        self.f_stim.scatter([0.0], [0.0], alpha=0.0)  # keeps I = 0 inside the auto-range
        self.f_v = figure(title="membrane potential", y_axis_label="V (mV)",
                          x_range=self.f_stim.x_range, **kw)
        self.f_v.line("t", "V", source=self.src, color="#1f77b4")
        self.f_v.scatter("t", "y", source=self.spk, marker="inverted_triangle", size=9,
                         color="#d62728", legend_label="spikes")
        self.thr_line = Span(dimension="width", line_dash="dashed", line_color="#d62728",
                             line_alpha=0.5, location=0.0)
        self.f_v.add_layout(self.thr_line)
        self.f_gates = figure(title="gates", x_axis_label="t (ms)", y_axis_label="open fraction",
                              x_range=self.f_stim.x_range, y_range=Range1d(-0.02, 1.02), **kw)
        # the gates, or with channel noise the open fractions (its state has no gates): the
        # columns a run does not have hold NaN, which Bokeh does not draw
        self._gate_lines = {}
        for g, c, label in (("n", "#2ca02c", "n"), ("m", "#ff7f0e", "m"), ("h", "#9467bd", "h"),
                            ("K_open", "#2ca02c", "K open"), ("Na_open", "#ff7f0e", "Na open")):
            self._gate_lines[g] = self.f_gates.line(
                "t", g, source=self.src, color=c, legend_label=label,
                line_dash="dashed" if "open" in g else "solid", visible="open" not in g)
        self.f_phase = figure(title="phase plane", x_axis_label="V (mV)",
                              y_axis_label="n (K open with channel noise)",
                              height=300, sizing_mode="stretch_width", tools=tools)
        self.f_phase.line("V", "n", source=self.src, color="#1f77b4")
        self.f_phase.line("V", "K_open", source=self.src, color="#1f77b4")
        self.f_raster = figure(title="trials (raster of every trial's spikes)",
                               x_axis_label="t (ms)", y_axis_label="trial",
                               x_range=self.f_stim.x_range, height=230,
                               sizing_mode="stretch_width", tools=tools, visible=False,
                               name="hh-raster-figure")
        self.f_raster.scatter("t", "trial", source=self.raster, marker="dash", angle=math.pi / 2,
                              size=8, color="#222")
        for f in (self.f_v, self.f_gates):
            f.legend.location = "top_right"
            f.legend.click_policy = "hide"

        self.fi_src = ColumnDataSource(dict(I=[], quiet=[], firing=[]), name="hh-fi")
        self.f_fi = figure(title="f–I curve (both branches)", x_axis_label="I (µA/cm²)",
                           y_axis_label=SUSTAINED_RATE_LABEL, height=380,
                           sizing_mode="stretch_width", tools=tools)
        self.f_fi.line("I", "firing", source=self.fi_src, color="#d62728", line_width=2,
                       legend_label="firing branch")
        self.f_fi.line("I", "quiet", source=self.fi_src, color="#1f77b4", line_width=2,
                       line_dash="dashed", legend_label="from rest / equilibrium")
        self.band = BoxAnnotation(fill_color="#ffbb00", fill_alpha=0.25, visible=False)
        self.f_fi.add_layout(self.band)
        self.f_fi.legend.location = "top_left"

        # ---- status, downloads, f–I progress ----
        self.summary = pn.pane.HTML("", name="summary", sizing_mode="stretch_width")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width")
        self.fi_busy = pn.indicators.Progress(active=False, value=0, max=100, width=200,
                                              visible=False, css_classes=["hh-fi-progress"])
        self.fi_info = pn.pane.HTML("", sizing_mode="stretch_width")
        self.csv_button = pn.widgets.FileDownload(
            callback=self._csv, filename="hhfast-run.csv", label="Download run (CSV)",
            color="primary", width=190)
        self.png_button = pn.widgets.FileDownload(
            callback=self._png, filename="hhfast-run.png", label="Download figure (PNG)",
            color="primary", width=190)
        self.share = pn.pane.HTML("", sizing_mode="stretch_width")

        self.preset = pn.widgets.Select(label="preset", options=["(custom)", *PRESETS],
                                        value="(custom)")
        self.preset.param.watch(self._apply_preset, "value")
        for w in self.widgets.values():
            w.param.watch(self._on_change, "value")

        self.layout = self._layout()
        if not served:  # served: the first run waits for the page's address (servable)
            self.update()

    # -- widgets -------------------------------------------------------------------------------
    def _make_widget(self, name, value):
        pn = self.pn
        label = LABELS.get(name, name)
        if name == "kind":
            w = _prompt(pn.widgets.RadioButtonGroup)(label="stimulus", options=list(KINDS),
                                                      value=value)
        elif name == "method":
            w = _prompt(pn.widgets.Select)(label=label, options=list(METHODS), value=value, width=120)
        elif name == "channel_noise":
            w = _prompt(pn.widgets.Select)(label=label, options=list(CHANNEL_CHOICES), value=value,
                                           width=140)
        elif name == "r_hold":
            w = _prompt(pn.widgets.Checkbox)(label=label, value=bool(value))
        elif name in SLIDERS:
            lo, hi, st = SLIDERS[name]
            w = _prompt(pn.widgets.FloatSlider)(label=label, start=lo, end=hi, step=st,
                                       value=float(min(max(value, lo), hi)),
                                       sizing_mode="stretch_width")
        else:
            w = _prompt(pn.widgets.TextInput)(label=label, value=_text(value), width=140)
        w.css_classes = [f"hh-{name}"]
        self.widgets[name] = w
        self.errors[name] = pn.pane.HTML("", css_classes=[f"hh-err-{name}"],
                                         styles={"color": "#c00", "font-size": "12px"},
                                         margin=(24, 4, 0, 4), width=180)

    def _row(self, name):
        return self.pn.Row(self.widgets[name], self.errors[name])

    def _layout(self):
        pn = self.pn
        self.stim_boxes = {
            kind: pn.Column(*(self._row(n) for n in names), visible=(kind == self.value("kind")))
            for kind, names in _STIM_FIELDS.items()
        }
        self.widgets["kind"].param.watch(self._show_kind, "value")
        card = lambda title, names, **kw: pn.Card(  # noqa: E731
            *(self._row(n) for n in names), title=title, **kw)
        # dopri5's tolerances, shown only when an adaptive method is chosen; the patch area
        # only with channel noise
        self.tol_box = pn.Column(self._row("rtol"), self._row("atol"),
                                 visible=self._adaptive(self.value("method")))
        self.area_box = pn.Column(self._row("area"),
                                  visible=self.value("channel_noise") != "none")
        self.widgets["method"].param.watch(
            lambda e: setattr(self.tol_box, "visible", self._adaptive(e.new)), "value")
        self.widgets["channel_noise"].param.watch(
            lambda e: setattr(self.area_box, "visible", e.new != "none"), "value")
        sidebar = pn.Column(
            pn.pane.HTML("<b>hhfast explorer</b> — the Hodgkin–Huxley neuron, live"),
            self.preset,
            pn.Card(self._row("kind"), *self.stim_boxes.values(), title="Stimulus"),
            pn.Card(self._row("t_stop"), self._row("dt"), self._row("method"), self.tol_box,
                    title="Run"),
            pn.Card(self._row("noise_sigma"), self._row("noise_tau"), self._row("seed"),
                    self._row("trials"), self._row("channel_noise"), self.area_box,
                    pn.pane.HTML("<small>current noise σ, τ and channel noise run "
                                 "<i>trials</i> trials (seed, trial ids 0, 1, …); channel "
                                 "noise runs with method euler (Euler–Maruyama)</small>"),
                    title="Noise"),
            card("Initial state", ("V0", "n0", "m0", "h0"), collapsed=True),
            card("Model", (*FIELDS,)),
            pn.Row(self.csv_button, self.png_button),
            self.share,
            width=400,
        )
        self.raster_pane = pn.pane.Bokeh(self.f_raster, sizing_mode="stretch_width",
                                         visible=False)
        run_view = pn.Column(
            self.summary, self.status,
            pn.pane.Bokeh(self.f_stim, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.f_v, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.f_gates, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.f_phase, sizing_mode="stretch_width"),
            self.raster_pane,
            sizing_mode="stretch_width",
        )
        fi_view = pn.Column(
            pn.pane.HTML("<small>The f–I curve is deterministic: the Noise settings apply to "
                         "the single-neuron view.</small>"),
            pn.Row(self._row("fi_lo"), self._row("fi_hi")),
            pn.Row(self._row("fi_n"), self._row("fi_t_stop")),
            pn.Row(self.fi_busy, self.fi_info),
            pn.pane.Bokeh(self.f_fi, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        self.tabs = pn.Tabs(("Single neuron", run_view), ("f–I curve", fi_view),
                            sizing_mode="stretch_width")
        self.tabs.param.watch(self._on_tab, "active")
        return pn.Row(sidebar, self.tabs, sizing_mode="stretch_width")

    def apply_address(self, search: str) -> None:
        """Apply the settings of a page address's query (``?kind=step&s_amp=12``).

        Every value is checked like typed input (:func:`hhfast.explorer.parse`, ranges
        included) before any is applied; a refused value is shown beside its field, a name that
        is no setting in the status line, and nothing runs until the user corrects it (the
        address is not rewritten meanwhile)."""
        good = {}
        unknown = []
        for name, raw in parse_qsl(search.lstrip("?"), keep_blank_values=True):
            if name not in self.widgets:
                unknown.append(name)
                continue
            try:
                good[name] = parse(name, raw)
            except SettingError as e:
                self._url_bad[name] = f"{e} (in the page's address)"
            else:
                self._url_bad.pop(name, None)
        self._url_general = (f"the page's address names no setting "
                             f"{', '.join(map(repr, unknown))}" if unknown else "")
        self._muted = True
        try:
            for name, v in good.items():
                self._set(name, v)
        finally:
            self._muted = False

    def _set(self, name, v):
        """Put a parsed (or preset) value into its widget."""
        w = self.widgets[name]
        if name in SLIDERS:
            lo, hi, _ = SLIDERS[name]
            w.value = float(min(max(v, lo), hi))
        elif isinstance(w, self.pn.widgets.TextInput):
            w.value = _text(v)
        else:
            w.value = v

    def value(self, name):
        return self.widgets[name].value

    @staticmethod
    def _adaptive(method) -> bool:
        return method in METHODS and METHODS[method].kind == "adaptive"

    def _show_kind(self, event):
        for kind, box in self.stim_boxes.items():
            box.visible = kind == event.new

    def _apply_preset(self, event):
        if event.new not in PRESETS:
            return
        target = {**DEFAULTS, **PRESETS[event.new]}
        self._muted = True
        try:
            for name, v in target.items():
                self._set(name, v)
        finally:
            self._muted = False
        self._url_bad.clear()  # every setting now comes from the preset
        self._url_general = ""
        self.update()

    def _on_change(self, event):
        if self._muted:
            return
        for name, w in self.widgets.items():
            if w is event.obj:
                self._url_bad.pop(name, None)
        self._url_general = ""  # the user acted: the address's stray names are dropped
        self.update()

    # -- settings --------------------------------------------------------------------------------
    def read(self) -> tuple[dict, dict[str, str]]:
        """Parse every widget: (settings, {name: error message})."""
        s, bad = {}, {}
        for name, w in self.widgets.items():
            try:
                s[name] = parse(name, w.value)
            except SettingError as e:
                bad[name] = str(e)
        return s, bad

    def query(self, s: dict) -> str:
        """The URL query string of the settings that differ from the defaults."""
        return urlencode({k: _text(v) for k, v in s.items() if v != _PARSED_DEFAULTS.get(k)})

    def _show_errors(self, bad: dict[str, str]):
        for name, pane in self.errors.items():
            msg = bad.get(name, "")
            text = "" if not msg else (
                "<span class='hh-err-msg'>✗ " + msg.replace("&", "&amp;").replace("<", "&lt;")
                + "</span>")
            if pane.object != text:
                pane.object = text

    # -- the single-neuron views ----------------------------------------------------------------
    def update(self):
        """Check the settings; run them (served: in the worker thread) or show why not."""
        s, bad = self.read()
        bad = {**self._url_bad, **bad}
        if bad or self._url_general:
            with self._run_lock:  # the newest request is "nothing": a run in flight is dropped
                self._run_generation += 1
                self._run_pending = None
            self._show(bad, self._url_general)
            return
        if not self.background:
            self._finish(None, s, *self._attempt(s))
            return
        with self._run_lock:
            self._run_generation += 1
            self._run_pending = (self._run_generation, dict(s))
            if self._run_running:
                return  # the worker takes it after its current run
            self._run_running = True
            self._run_idle.clear()
        threading.Thread(target=self._run_worker, daemon=True, name="hhfast-explorer-run").start()

    @staticmethod
    def _attempt(s):
        """Run the settings: (Run or None, {field: error}, general error)."""
        try:
            return run_settings(s), {}, ""
        except SettingError as e:
            return None, ({e.field: str(e)} if e.field in DEFAULTS else {}), (
                "" if e.field in DEFAULTS else str(e))
        except Exception as e:  # noqa: BLE001 - shown on the page, never a traceback
            return None, {}, f"internal error ({type(e).__name__}): {e}"

    def _run_worker(self):
        """The session's worker thread: runs the newest waiting request until none waits (a
        request replaced before it started never runs)."""
        while True:
            with self._run_lock:
                job, self._run_pending = self._run_pending, None
                if job is None:
                    self._run_running = False
                    self._run_idle.set()
                    return
            gen, s = job
            outcome = self._attempt(s)
            self._later(lambda gen=gen, s=s, outcome=outcome: self._finish(gen, s, *outcome))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the worker has no run in flight or waiting (True) or ``timeout`` s pass."""
        return self._run_idle.wait(timeout)

    def _finish(self, gen, s, run, bad, general):
        """Draw a run's outcome, unless a newer request was made since (``gen`` None: now)."""
        if gen is not None:
            with self._run_lock:
                if gen != self._run_generation:
                    return  # superseded: dropped
        self._show(bad, general)  # first: when the new trace arrives, the errors are gone
        if run is not None:
            self._draw(run, s)
        if not bad:
            self._request_fi(s)

    def _show(self, bad: dict[str, str], general: str):
        self._show_errors(bad)
        if bad or general:
            where = ", ".join(sorted(bad)) if bad else ""
            text = "; ".join(x for x in (general, "see " + where if where else "") if x)
            self.status.object = (
                f"<span class='hh-status' style='color:#c00'>not run: "
                f"{text.replace('&', '&amp;').replace('<', '&lt;')}</span>")
        elif self.status.object:
            self.status.object = ""

    def _draw(self, run, s):
        res = run.result
        self.last = (run, s)
        # the page draws in single precision: sent as float32, half the bytes per change
        # (|rounding| < 1e-5 mV, far below a pixel); the run itself is float64
        # the state rows the run has (gates, or open fractions with channel noise); the
        # others are NaN, which Bokeh does not draw
        none = np.full(res.t.size, np.nan)
        rows = {g: (none if g not in res.traces else res.traces[g][0])
                for g in ("n", "m", "h", "K_open", "Na_open")}
        data = {k: np.asarray(v, dtype=np.float32) for k, v in dict(
            t=res.t, V=res.V[0], **rows, I=run.current).items()}
        old = self.src.data
        if len(old.get("t", ())) == len(res.t) and np.array_equal(old["t"], res.t):
            # same time grid: send only the columns that changed (a slider move changes V, n,
            # m, h, and I only if it is the stimulus)
            changed = {k: v for k, v in data.items()
                       if k != "t" and not np.array_equal(old[k], v, equal_nan=True)}
            if changed:
                self.src.data.update(changed)
        else:
            self.src.data = data
        times = np.asarray(res.spike_times[0], dtype=float)
        self.thr_line.location = HHParams(**{k: s[k] for k in FIELDS}).default_threshold
        self.spk.data = dict(t=times, y=np.full(times.size, self.thr_line.location))
        count = int(res.spike_count[0])
        rate = res.count_rate()[0]
        noisy = is_noisy(s)
        if noisy:  # every trial's spikes, a row each
            per = [np.asarray(res.spike_times[k], dtype=float) for k in range(run.trials)]
            self.raster.data = dict(
                t=np.concatenate(per), trial=np.concatenate(
                    [np.full(p.size, k, dtype=float) for k, p in enumerate(per)]))
        elif len(self.raster.data["t"]):
            self.raster.data = dict(t=[], trial=[])
        if self.raster_pane.visible != noisy:  # the pane and its figure (the page's model)
            self.raster_pane.visible = self.f_raster.visible = noisy
        # the gates' legend names only the rows this run has
        for item in self.f_gates.legend[0].items:
            shown = any(self._gate_lines[g] in item.renderers for g in res.traces
                        if g in self._gate_lines)
            if item.visible != shown:
                item.visible = shown
                for r in item.renderers:
                    r.visible = shown
        self.f_gates.title.text = "open fractions" if run.channel else "gates"
        div = " — <b style='color:#c00'>diverged</b> (lower dt or use expeuler)" if bool(
            res.diverged[0]) else ""
        if res.step_limited is not None and bool(res.step_limited[0]):
            div += (" — <b style='color:#c00'>stopped early</b>: dopri5 reached the explorer's "
                    "step budget (hhfast.config.EXPLORER_RUN_BUDGET); shorten the run")
        first = f"{float(res.first_spike[0]):.3f} ms" if count else "—"
        tol = (f", rtol = {s['rtol']:g}, atol = {s['atol'] if s['atol'] is not None else s['rtol']:g}"
               if self._adaptive(s["method"]) else "")
        noise = ""
        if noisy:
            rates = res.count_rate().reshape(-1)
            sd = float(np.std(rates, ddof=1)) if rates.size > 1 else 0.0
            what = []
            if s["noise_sigma"] > 0:
                what.append(f"σ = {s['noise_sigma']:g}, τ = {s['noise_tau']:g} ms")
            if run.channel:
                what.append(f"channel noise, model {s['channel_noise']!r}, {s['area']:g} µm²")
            noise = (f"<br>noise ({'; '.join(what)}; seed {s['seed']}): count rate over "
                     f"<b>{run.trials}</b> trial(s): <b id='hh-rate-mean'>{float(rates.mean()):.2f}"
                     f"</b> ± <b id='hh-rate-sd'>{sd:.2f}</b> Hz (mean ± SD); the traces are "
                     f"trial 0's")
        self.summary.object = (
            f"<div class='hh-summary'>spikes: <b id='hh-spike-count'>{count}</b> · first spike: "
            f"{first} · count rate over the run (spikes / duration): {rate:.1f} Hz · "
            f"{s['method']}, dt = {s['dt']:g} ms{tol}"
            f"{div}{noise}</div>")
        q = self.query(s)
        loc = self._location
        if loc is not None and loc.search.lstrip("?") != q:  # the address follows the view
            loc.search = f"?{q}" if q else ""
        self.share.object = (f"<div class='hh-share'>Share this view: add "
                             f"<code>?{q.replace('&', '&amp;')}</code> to the page's address "
                             f"(the address bar holds it already when served)</div>" if q else "")

    # -- downloads -------------------------------------------------------------------------------
    def _csv(self):
        if self.last is None:
            return io.BytesIO(b"# hhfast explorer: no run shown yet\n")
        run, s = self.last
        res = run.result
        buf = io.StringIO()
        buf.write(f"# hhfast explorer run; settings: {self.query(s) or 'defaults'}\n")
        buf.write(f"# spikes: {int(res.spike_count[0])}; spike times (ms): "
                  f"{' '.join(f'{t:.6f}' for t in res.spike_times[0])}\n")
        names = ("K_open", "Na_open") if run.channel else ("n", "m", "h")
        buf.write(",".join(("t_ms", "I_uA_cm2", "V_mV", *names)) + "\n")
        for row in zip(res.t, run.current, res.V[0], *(res.traces[g][0] for g in names)):
            buf.write(",".join(f"{v:.9g}" for v in row) + "\n")
        return io.BytesIO(buf.getvalue().encode())

    def _png(self):
        if self.last is None:
            raise RuntimeError("no run shown yet")
        import matplotlib

        matplotlib.use("Agg")
        from ..plotting import trace_panel

        run, _ = self.last
        fig = trace_panel(run.result)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
        out.seek(0)
        return out

    # -- the f–I view (worker thread) ------------------------------------------------------------
    def _on_tab(self, event):
        if event.new == 1:
            s, bad = self.read()
            if not bad:
                self._request_fi(s)

    def _request_fi(self, s):
        # computed only while its tab is shown: a hidden curve would take CPU from the
        # single-neuron views (seconds of work; on a 2-core machine it doubled their latency)
        if getattr(self, "tabs", None) is None or self.tabs.active != 1:
            return
        key = tuple(s[k] for k in _FI_KEYS)
        if key == self._fi_last_key:
            return
        self._fi_last_key = key
        with self._fi_lock:
            self._fi_generation += 1
            self._fi_pending = (self._fi_generation, dict(s))
            if self._fi_running:
                return
            self._fi_running = True
        self._set_busy(True)
        threading.Thread(target=self._fi_worker, daemon=True).start()

    def _fi_worker(self):
        while True:
            with self._fi_lock:
                job = self._fi_pending
                self._fi_pending = None
                if job is None:
                    self._fi_running = False
                    break
            gen, s = job
            t0 = time.perf_counter()
            try:
                check_fi(s)  # a refusal comes at once, not after another session's curve
                fi, err = self._fi_wait(gen, *_fi_submit(s)), None
            except SettingError as e:
                fi, err = None, str(e)
            except Exception as e:  # noqa: BLE001 - shown on the page, never a traceback
                fi, err = None, f"{type(e).__name__}: {e}"
            with self._fi_lock:
                newest = gen == self._fi_generation
            if newest:
                took = time.perf_counter() - t0
                self._later(lambda fi=fi, err=err, took=took: self._draw_fi(fi, err, took))
        self._later(lambda: self._set_busy(False))

    def _fi_wait(self, gen, future, job, shared):
        """The curve of ``future``, showing its progress (read from ``shared``, the worker's
        ``(job, done, total)``) as a percentage until it is done, while ``gen`` is the
        newest request."""
        from concurrent.futures import TimeoutError as Pending

        shown = None
        while True:
            try:
                return future.result(timeout=_FI_POLL_S)
            except Pending:
                pass
            with shared.get_lock():
                j, done, total = shared[0], shared[1], shared[2]
            with self._fi_lock:
                newest = gen == self._fi_generation
            if j == job and total > 0 and newest:
                pct = int(100 * done // total)
                if pct != shown:
                    shown = pct
                    self._later(lambda pct=pct: self._set_progress(pct))

    def _set_progress(self, pct: int):
        self.fi_busy.value = pct
        self.fi_info.object = (f"<span class='hh-fi-state'>computing the f–I curve… "
                               f"<b class='hh-fi-percent'>{pct} %</b></span>")

    def _later(self, fn):
        doc = self.doc
        if doc is not None:
            try:
                doc.add_next_tick_callback(fn)
                return
            except Exception:  # noqa: BLE001 - the session has closed
                return
        fn()

    def _set_busy(self, busy: bool):
        self.fi_busy.visible = busy
        if busy:
            self._set_progress(0)

    def _draw_fi(self, fi, err, took=float("nan")):
        if fi is None:
            self.fi_info.object = f"<span class='hh-fi-state' style='color:#c00'>{err}</span>"
            return
        self.fi_src.data = dict(I=fi.current, quiet=fi.sustained_rate_quiet,
                                firing=fi.sustained_rate_firing)
        if fi.band is not None:
            self.band.left, self.band.right = fi.band
            self.band.visible = True
        else:
            self.band.visible = False
        band = "none" if fi.band is None else f"{fi.band[0]:.3f} – {fi.band[1]:.3f} µA/cm²"
        onset = "—" if fi.onset is None else f"{fi.onset:.3f}"
        block = "—" if fi.block is None else f"{fi.block:.3f}"
        self.fi_info.object = (
            f"<span class='hh-fi-state'>done in {took:.2f} s · "
            f"bistable band: {band} · onset {onset} · block {block} µA/cm²</span>")

    # -- serving ---------------------------------------------------------------------------------
    def servable(self):
        """Attach to the current document (the page's address in, the settings out) and return
        the layout."""
        pn = self.pn
        self.doc = pn.state.curdoc
        loc = pn.state.location
        if loc is not None and self.doc is not None and self.doc.session_context is not None:
            self._location = loc
            self.apply_address(loc.search or "")
        if self.background:
            self.update()
        return self.layout


def make_app(served: bool = False, **initial):
    """A new explorer layout (for a notebook cell, or one server session: ``served``)."""
    return Explorer(served=served, **initial).servable()


_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def served_hosts(address: str, port: int, extra=()) -> set[str]:
    """The ``Host`` header values (``name:port``) the server answers: the address it listens
    on (any loopback name when that is a loopback one) and the ``extra`` host names given
    (without port)."""
    def bracket(name):
        return f"[{name}]" if ":" in name and not name.startswith("[") else name

    names = {address.lower(), *(h.strip().lower() for h in extra)}
    if address.lower() in _LOOPBACK:
        names |= set(_LOOPBACK)
    return {f"{bracket(name)}:{port}" for name in names}


def refusal(headers, hosts: set[str]) -> str | None:
    """Why a request with these headers is refused (None: it is not).

    Refused: a ``Host`` that is not the served address (a page of another site whose name was
    made to resolve to this machine: DNS rebinding); an ``Origin`` other than the served
    address (a script of another site); and a request another site's page makes that is not
    the user opening a link (``Sec-Fetch-Site`` cross-site or same-site, and not a top-level
    navigation: an ``<img>``, ``<iframe>`` or ``fetch`` pointing at the explorer)."""
    host = (headers.get("Host") or "").strip().lower()
    if host not in hosts:
        return f"Host {host!r} is not the served address ({', '.join(sorted(hosts))})"
    origin = headers.get("Origin")
    if origin is not None and origin.strip().lower() not in {f"http://{h}" for h in hosts}:
        return f"Origin {origin!r} is not the served address"
    site = (headers.get("Sec-Fetch-Site") or "").lower()
    if site in ("cross-site", "same-site") and not (
            (headers.get("Sec-Fetch-Mode") or "").lower() == "navigate"
            and (headers.get("Sec-Fetch-Dest") or "document").lower() == "document"):
        return f"a request made by another site's page ({headers.get('Sec-Fetch-Dest')!r})"
    return None


def _guard(server, hosts: set[str]) -> None:
    """Refuse, with 403, every request to ``server`` (a Bokeh server) that :func:`refusal`
    names, before Bokeh sees it (its page, its static files and its WebSocket alike), and let
    only ``hosts`` open the WebSocket."""
    from tornado.web import RequestHandler

    app = getattr(server, "_tornado", None)  # Bokeh's Tornado application (a Router)
    if app is None or not hasattr(app, "find_handler"):  # pragma: no cover - a Bokeh change
        raise RuntimeError("cannot guard this Bokeh version's server: refusing to serve")

    class Refused(RequestHandler):
        def initialize(self, why):
            self.why = why

        def prepare(self):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"hhfast explorer: refused: {self.why}\n")

    inner = app.find_handler

    def find_handler(request, **kwargs):
        why = refusal(request.headers, hosts)
        if why is not None:
            return app.get_handler_delegate(request, Refused, {"why": why})
        return inner(request, **kwargs)

    app.find_handler = find_handler
    origins = app.websocket_origins
    origins.clear()
    origins.update(hosts)


def serve(port: int = 0, open_browser: bool = True, address: str = "localhost",
          on_start=None, allow_hosts=(), **initial):
    """Serve the explorer (one app per browser session) until interrupted or SIGTERM; see
    :func:`hhfast.explorer.serve`.  ``on_start(url)`` is called once the port is bound."""
    import signal

    for name, value in initial.items():  # refused here, not in every session's page
        parse(name, value)
    pn = require_panel()
    pn.extension()
    server = pn.serve({"/": lambda: make_app(served=True, **initial)}, port=port,
                      address=address, show=False, start=False, title="hhfast explorer",
                      print_url=False)
    hosts = served_hosts(address, server.port, allow_hosts)
    _guard(server, hosts)
    server.start()
    host = f"[{address}]" if ":" in address else address
    url = f"http://{host}:{server.port}/"
    if on_start is not None:
        on_start(url)
    if open_browser:
        server.io_loop.add_callback(server.show, "/")

    def _terminate(signum, frame):
        # SIGTERM stops the server like Ctrl-C: the event loop is never busy with a run (the
        # runs are in worker threads), so this takes effect at once
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _stop_pool()
        server.stop()
    return url
