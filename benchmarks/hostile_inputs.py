"""Hostile-user audit of the input checks: run a fixed list of bad (and a few good) calls and
count, per area, how each was handled.

    PYTHONPATH=<checkout> python benchmarks/hostile_inputs.py [--verbose]

Outcomes: *handled* (a ValueError/TypeError, or a CLI exit 2 with one line on stderr, whose
message names the problem; for good calls: the right result), *weak* (an error that does not
name the problem, another exception type, a traceback, a hang or a memory blow-up) and
*silent* (no error where one was due, or a wrong result).  Run it against the main checkout and
against a branch to compare; each attempt is limited to 60 s (SIGALRM) and the process to 6 GiB
of address space, so a hang or a runaway allocation is recorded, not suffered.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

import hhfast as hh  # noqa: E402
from hhfast import cli  # noqa: E402
from hhfast.stimulus import Stimulus  # noqa: E402

NAN, INF = math.nan, math.inf
F32 = np.float32
ATTEMPTS = []  # (area, label, thunk, expect): expect = keyword that the error must name,
# or a callable(result) -> bool for calls that must succeed


def bad(area, label, keyword):
    def deco(f):
        ATTEMPTS.append((area, label, f, keyword))
        return f
    return deco


def sim(**kw):
    kw.setdefault("t_stop", 5.0)
    stim = kw.pop("stimulus", hh.step())
    return lambda: hh.simulate(stim, **kw)


SIM = [
    ("dt=1e-300", dict(dt=1e-300), "dt"),
    ("dt=True", dict(dt=True), "dt"),
    ("dt='0.01'", dict(dt="0.01"), "dt"),
    ("t_stop=nan", dict(t_stop=NAN), "t_stop"),
    ("t_stop=inf", dict(t_stop=INF), "t_stop"),
    ("t_start=100, t_stop=50", dict(t_start=100.0, t_stop=50.0), "t_stop"),
    ("t+dt==t (t_start=1e20)", dict(t_start=1e20, t_stop=1e20 + 1e6, dt=1.0), "dt"),
    ("gNa=1e40 float32", dict(gNa=1e40, dtype=F32), "gNa"),
    ("gL=1e-45 float32 (underflow)", dict(gL=1e-45, dtype=F32), "gL"),
    ("V0=1e39 float32", dict(V0=1e39, dtype=F32), "V0"),
    ("Cm=1e-39 float32 (1/Cm overflows)", dict(Cm=1e-39, dtype=F32), "Cm"),
    ("temperature=1e4 (phi overflows)", dict(temperature=1e4), "temperature"),
    ("Cm=1e-320 (1/Cm overflows)", dict(Cm=1e-320), "Cm"),
    ("window=(-100,100) on 50 ms", dict(t_stop=50.0, window=(-100, 100)), "window"),
    ("window=(100,200) on 50 ms", dict(t_stop=50.0, window=(100, 200)), "window"),
    ("window=(nan,10)", dict(window=(NAN, 10)), "window"),
    ("window=('a',10)", dict(window=("a", 10)), "window"),
    ("amplitude=[1,nan]", dict(amplitude=[1.0, NAN]), "amplitude"),
    ("amplitude='5'", dict(amplitude="5"), "amplitude"),
    ("amplitude=True", dict(amplitude=True), "amplitude"),
    ("gK=-1", dict(gK=-1.0), "gK"),
    ("Cm=0", dict(Cm=0.0), "Cm"),
    ("max_spikes=-1", dict(max_spikes=-1), "max_spikes"),
    ("max_spikes=2.5", dict(max_spikes=2.5), "max_spikes"),
    ("record='X'", dict(record="X"), "record"),
    ("neurons=[5] (N=1)", dict(neurons=[5]), "neurons"),
    ("num_threads=0", dict(num_threads=0), "num_threads"),
    ("method='rk5'", dict(method="rk5"), "method"),
    ("stimulus='step'", dict(stimulus="step"), "stimulus"),
    ("shapes (2,3) vs (4,)", dict(amplitude=np.zeros((2, 3)), gK=np.full(4, 36.0)), "broadcast"),
    ("dtype=int32", dict(dtype=np.int32), "dtype"),
    ("record_every=0", dict(record_every=0), "record_every"),
    ("params='classic'", dict(params="classic"), "params"),
    ("unknown keyword gna=1", dict(gna=1.0), "gna"),
    ("amplitude=[] (empty)", dict(amplitude=[]), "empty"),
]
for label, kw, key in SIM:
    ATTEMPTS.append(("simulate", label, sim(**kw), key))


# second round: attacks thought of after the first fixes (not designed for by them)
SIM2 = [
    ("record_every=10**20", dict(record="V", record_every=10**20),
     lambda r: r.t.size == 1),
    ("neurons=[] (record nobody)", dict(neurons=[]), lambda r: r.recorded.size == 0),
    ("2-D array of stimuli", dict(stimulus=np.array([[hh.step()], [hh.step()]], dtype=object)),
     lambda r: r.shape == (2, 1)),
    ("temperature=-300 (below absolute zero)", dict(temperature=-300.0), "temperature"),
    ("threshold='0'", dict(threshold="0"), "threshold"),
    ("amplitude=1j", dict(amplitude=1j), "amplitude"),
]
for label, kw, key in SIM2:
    ATTEMPTS.append(("simulate", label, sim(**kw), key))


def _truncation():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = hh.simulate(hh.step(), t_stop=100.0, amplitude=[0.0, 10.0], max_spikes=2)
    said = [str(x.message) for x in w]
    ok = any("max_spikes" in s for s in said) and "of" in repr(res.spike_times)
    return ok


ATTEMPTS.append(("simulate", "more spikes than max_spikes (warned?)", _truncation,
                 lambda r: r is True))

STIM = [
    ("pulses 4-tuple", lambda: hh.pulses([(0, 1, 1, 5)]), "pulses[0]"),
    ("pulses stop<start", lambda: hh.pulses([(5, 1, 1)]), "stop"),
    ("pulses start='a'", lambda: hh.pulses([("a", 1, 1)]), "start"),
    ("pulses start=True", lambda: hh.pulses([(True, 1, 1)]), "start"),
    ("pulses start='0' (string)", lambda: hh.pulses([("0", 1, 1)]), "start"),
    ("pulses(5)", lambda: hh.pulses(5), "pulses"),
    ("step amplitude=nan", lambda: hh.step(amplitude=NAN), "amplitude"),
    ("step start='0'", lambda: hh.step(start="0"), "start"),
    ("step amplitude=True", lambda: hh.step(amplitude=True), "amplitude"),
    ("pulse_train count=-1", lambda: hh.pulse_train(count=-1), "count"),
    ("pulse_train count=2.0", lambda: hh.pulse_train(count=2.0), "count"),
    ("pulse_train count=True", lambda: hh.pulse_train(count=True), "count"),
    ("pulse_train count=1e8", lambda: hh.pulse_train(count=10**8), "count"),
    ("pulse_train width=0", lambda: hh.pulse_train(width=0), "width"),
    ("pulse_train period=inf", lambda: hh.pulse_train(period=INF), "period"),
    ("pulse_train amplitude='x'", lambda: hh.pulse_train(amplitude="x"), "amplitude"),
    ("ramp stop=start", lambda: hh.ramp(stop=0), "stop"),
    ("ramp hold='false'", lambda: hh.ramp(hold="false"), "hold"),
    ("ramp begin=inf", lambda: hh.ramp(begin=INF), "begin"),
    ("waveform lengths 2/1", lambda: hh.waveform([0, 1], [0]), "waveform"),
    ("waveform times=['a','b']", lambda: hh.waveform(["a", "b"], [0, 1]), "times"),
    ("waveform repeated time", lambda: hh.waveform([0, 0, 1], [0, 1, 2]), "increasing"),
    ("waveform values=nan", lambda: hh.waveform([0, 1], [0, NAN]), "finite"),
    ("Stimulus t decreasing", lambda: Stimulus(np.array([1.0, 0.0]), np.zeros(2), np.zeros(2)),
     "increasing"),
    ("Stimulus c0 wrong length", lambda: Stimulus(np.array([0.0]), np.zeros(2), np.zeros(1)),
     "c0"),
    ("Stimulus 2-D t", lambda: Stimulus(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1))),
     "1-D"),
    ("Stimulus t=[0,nan]", lambda: Stimulus(np.array([0.0, NAN]), np.zeros(2), np.zeros(2)),
     "finite"),
    ("Stimulus t=['a']", lambda: Stimulus(["a"], [0.0], [0.0]), "t"),
    ("step() * nan", lambda: hh.step() * NAN, "factor"),
    ("step() * 1e308 * 10", lambda: hh.step(amplitude=1e308) * 10.0, "finite"),
]
for label, f, key in STIM:
    ATTEMPTS.append(("stimulus", label, f, key))


def _train_60k():
    t = time.perf_counter()
    s = hh.pulse_train(count=60_000, width=1.0, period=2.0)
    dt = time.perf_counter() - t
    return len(s.t) == 120_000 and dt < 1.0


ATTEMPTS.append(("stimulus", "pulse_train 60k pulses (< 1 s?)", _train_60k, lambda r: r is True))

SPEC = [
    ("pulses + amplitude key", {"type": "pulses", "pulses": [[0, 1, 5]], "amplitude": 3},
     "amplitude"),
    ("ramp hold='false'", {"type": "ramp", "hold": "false"}, "hold"),
    ("step amp= (typo)", {"type": "step", "amp": 3}, "amp"),
    ("piecewise t decreasing", {"type": "piecewise", "t": [1, 0], "c0": [0, 0], "c1": [0, 0]},
     "increasing"),
    ("piecewise c0 length", {"type": "piecewise", "t": [0], "c0": [0, 1], "c1": [0]}, "c0"),
    ("sum terms=5", {"type": "sum", "terms": 5}, "terms"),
    ("pulse_train count=1e8", {"type": "pulse_train", "count": 100_000_000}, "count"),
    ("waveform extra key", {"type": "waveform", "times": [0, 1], "values": [0, 1], "extra": 1},
     "extra"),
    ("not a table", "step", "spec"),
    ("unknown type", {"type": "nope"}, "nope"),
    ("sum with bad term key", {"type": "sum", "terms": [{"type": "step", "x": 1}]}, "x"),
    ("step start='1'", {"type": "step", "start": "1"}, "start"),
    ("piecewise t='abc'", {"type": "piecewise", "t": "abc", "c0": [0], "c1": [0]}, "t"),
]
for label, spec, key in SPEC:
    ATTEMPTS.append(("Stimulus.from_spec", label, (lambda s=spec: Stimulus.from_spec(s)), key))

_RES = {}


def res50():
    if "r" not in _RES:
        _RES["r"] = hh.simulate(hh.step(), t_stop=50.0, amplitude=10.0)
    return _RES["r"]


RATE = [
    ("rate(-100, 100) on [0,50]", (-100, 100), "t0"),
    ("rate(100, 200) on [0,50]", (100, 200), "t0"),
    ("rate(10, 60) on [0,50]", (10, 60), "t1"),
    ("rate(10, 5)", (10, 5), "t1"),
    ("rate(nan, 10)", (NAN, 10), "t0"),
    ("rate('a', 10)", ("a", 10), "t0"),
    ("rate(True, 10)", (True, 10), "t0"),
]
for label, args, key in RATE:
    ATTEMPTS.append(("SimResult.rate", label, (lambda a=args: res50().rate(*a)), key))
ATTEMPTS.append(("SimResult.rate", "rate(0, inf) == rate(0, 50)",
                 lambda: (res50().rate(0, INF), res50().rate(0, 50)),
                 lambda r: np.array_equal(r[0], r[1]) and r[1][0] > 0))


def cont(**kw):
    def f():
        r = res50()
        r2 = hh.simulate(hh.step(), t_stop=kw.pop("t_stop", 100.0), amplitude=10.0,
                         **r.continuation(), **kw)
        return r2
    return f


ATTEMPTS += [
    ("continuation", "continued run, window=(0, 50) (before its start)",
     cont(window=(0.0, 50.0)), "window"),
    ("continuation", "continued run, window=(60, 200) (past its end)",
     cont(window=(60.0, 200.0)), "window"),
    ("continuation", "continued run .rate(0, 50)", lambda: cont()().rate(0, 50), "t0"),
    ("continuation", "continued run, t_stop before its start", cont(t_stop=20.0), "t_stop"),
    ("continuation", "continued run .rate(60, 100) is finite", lambda: cont()().rate(60, 100),
     lambda r: np.all(np.isfinite(r)) and r[0] > 0),
]


def cli_call(args, env=None):
    """Run the CLI in-process (or in a subprocess when env is given): (code, stderr)."""
    if env is not None:
        p = subprocess.run([sys.executable, "-m", "hhfast", *args], capture_output=True,
                           text=True, timeout=120, env={**os.environ, **env})
        return p.returncode, p.stderr
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(args)
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


TMP = tempfile.mkdtemp()
CLI = [
    ("run", ["--dt", "1e-300"], "dt"),
    ("run", ["--dt", "-1"], "dt"),
    ("run", ["--dt", "nan"], "dt"),
    ("run", ["--pulse", "0,1"], "--pulse"),
    ("run", ["--pulse", "5,1,3"], "stop"),
    ("run", ["--step", "abc"], "--step"),
    ("run", ["--param", "gNa=1e400"], "gNa"),
    ("run", ["--param", "foo=1"], "--param"),
    ("run", ["--t-stop", "inf"], "t_stop"),
    ("run", ["--record-every", "0"], "record_every"),
    ("run", ["--n0", "2"], "n0"),
    ("run", ["--t-stop", "1e9"], "budget"),
    ("run", ["--param", "gNa=1e40", "--dt", "0.01"], None),  # float64: legal (diverges)
    ("fi", ["--num", "0"], "--num"),
    ("fi", ["--from", "5", "--to", "1"], "--to"),
    ("fi", ["--dt", "0"], "dt"),
    ("fi", ["--num", "3", "--t-stop", "-5"], "t_stop"),
    ("fi", ["--num", "3", "--param", "gK=-3"], "gK"),
    ("fi", ["--num", "3", "--to", "nan"], "to"),
    ("demo", ["--dt", "0"], "dt"),
    ("demo", ["--t-stop", "nan"], "t_stop"),
    ("demo", ["--method", "foo"], "method"),
    ("rheobase", ["--num", "0"], "--num"),
    ("rheobase", ["--width-from", "-1"], "width"),
    ("rheobase", ["--num", "2", "--hi", "nan"], "hi"),
    ("rheobase", ["--num", "2", "--dt", "1e-300"], "dt"),
]


def _cli_attempt(cmd, args, key, env=None):
    out = ["--out", os.path.join(TMP, "x.png")] if cmd in ("run", "fi", "rheobase") else \
        ["--out", TMP]

    def f():
        code, err = cli_call([cmd, *args, *out], env)
        return code, err
    return f


CLI += [
    ("run", ["--record-every", "100000000000000000000000"], None),
    ("run", ["--csv", "/nonexistent/dir/x.csv"], "/nonexistent"),
    ("run", ["--param", "temperature=-300"], "temperature"),
    ("run", ["--pulse", "0,1,1e308", "--pulse", "0,1,1e308"], "finite"),
]
ATTEMPTS.append(("CLI run", "--record-every 1e23 (only the initial sample)",
                 _cli_attempt("run", ["--record-every", "100000000000000000000000"], None),
                 ("cli-ok", None)))
for cmd, args, key in CLI:
    if key is None:
        continue
    ATTEMPTS.append((f"CLI {cmd}", " ".join(args), _cli_attempt(cmd, args, key), ("cli", key)))
ATTEMPTS.append(("CLI run", "HHFAST_RECORD_BUDGET=abc",
                 _cli_attempt("run", ["--t-stop", "5"], None, env={"HHFAST_RECORD_BUDGET": "abc"}),
                 ("cli", "HHFAST_RECORD_BUDGET")))
ATTEMPTS.append(("CLI run", "--dt 0.01 --param gNa=1e40 --t-stop 5 (float64: legal)",
                 _cli_attempt("run", ["--param", "gNa=1e40", "--t-stop", "5"], None),
                 ("cli-ok", None)))


# ================================================================================================
# Areas added for issue 10's re-run: the reference, sweeps (API and TOML), threads, more CLI,
# truncation.  Attempts whose outcome needs more than "did it raise" return their own verdict
# (expect="verdict": the thunk returns (outcome, detail)); every one of them is written against
# the behaviour (values read back, files left), never against a function's existence, so that
# it runs on older checkouts too.
VERDICT = "verdict"


def verdict(area, label):
    def deco(f):
        ATTEMPTS.append((area, label, f, VERDICT))
        return f
    return deco


def _tmpdir(name):
    d = tempfile.mkdtemp(dir=TMP)
    return os.path.join(d, name)


# -- the reference -----------------------------------------------------------------------------
def ref_solve(**kw):
    kw.setdefault("t_stop", 5.0)
    stim = kw.pop("stimulus", hh.step())
    return lambda: hh.reference.solve(stim, **kw)


REF = [
    ("solve record_dt=0", dict(record_dt=0.0), "record_dt"),
    ("solve record_dt=nan", dict(record_dt=NAN), "record_dt"),
    ("solve record_dt=-0.1", dict(record_dt=-0.1), "record_dt"),
    ("solve record_dt='0.1'", dict(record_dt="0.1"), "record_dt"),
    ("solve rtol=-1", dict(rtol=-1.0), "rtol"),
    ("solve atol=nan", dict(atol=NAN), "atol"),
    ("solve method='rk4' (not scipy's)", dict(method="rk4"), "method"),
    ("solve t_stop=t_start", dict(t_stop=0.0), "t_stop"),
    ("solve t_stop=inf", dict(t_stop=INF), "t_stop"),
    ("solve amplitude=nan", dict(amplitude=NAN), "amplitude"),
    ("solve gK=-1", dict(gK=-1.0), "gK"),
    ("solve unknown keyword gna", dict(gna=1.0), "gna"),
    ("solve params='classic'", dict(params="classic"), "params"),
    ("solve stimulus='step'", dict(stimulus="step"), "stimulus"),
    ("solve max_spikes=-1", dict(max_spikes=-1), "max_spikes"),
    ("solve window=(10, 20) on 5 ms", dict(window=(10.0, 20.0)), "window"),
    ("solve window=(nan, 1)", dict(window=(NAN, 1.0)), "window"),
    ("solve record_dt=1e-9 on 1000 ms (1e12 samples)", dict(record_dt=1e-9, t_stop=1000.0),
     "record_dt"),
]
for label, kw, key in REF:
    ATTEMPTS.append(("reference", label, ref_solve(**kw), key))

_REFRES = {}


def ref_pair():
    if "p" not in _REFRES:
        res = hh.simulate(hh.step(), t_stop=5.0, amplitude=[5.0, 10.0], record="V")
        ref = hh.reference.solve(hh.step(), t_stop=5.0, amplitude=[5.0, 10.0])
        _REFRES["p"] = res, ref
    return _REFRES["p"]


REFCMP = [
    ("compare(res, 'ref')", lambda: hh.reference.compare(ref_pair()[0], "ref"), "reference"),
    ("compare neurons=[5] (2 neurons)",
     lambda: hh.reference.compare(*ref_pair(), neurons=[5]), "neurons"),
    ("compare t_range=(nan, 1)",
     lambda: hh.reference.compare(*ref_pair(), t_range=(NAN, 1.0)), "t_range"),
    ("compare t_range=(10, 20) on 5 ms",
     lambda: hh.reference.compare(*ref_pair(), t_range=(10.0, 20.0)), "t_range"),
    ("compare reference of 1 neuron to a result of 2",
     lambda: hh.reference.compare(
         ref_pair()[0], hh.reference.solve(hh.step(), t_stop=5.0, amplitude=5.0)), "neuron"),
    ("convergence method='foo'",
     lambda: hh.reference.convergence("foo", [0.01, 0.02], hh.step(), 5.0), "method"),
    ("convergence dts=[] ", lambda: hh.reference.convergence("rk4", [], hh.step(), 5.0), "dts"),
    ("convergence dts=[0.01, -0.02]",
     lambda: hh.reference.convergence("rk4", [0.01, -0.02], hh.step(), 5.0), "dts"),
    ("convergence measure='x'",
     lambda: hh.reference.convergence("rk4", [0.01, 0.02], hh.step(), 5.0, measure="x"),
     "measure"),
    ("stability_limit dt_min=0",
     lambda: hh.reference.stability_limit("rk4", hh.step(), 5.0, dt_min=0.0), "dt_min"),
    ("stability_limit dt_max < dt_min",
     lambda: hh.reference.stability_limit("rk4", hh.step(), 5.0, dt_min=1.0, dt_max=0.5),
     "dt_max"),
    ("stability_limit criterion='x'",
     lambda: hh.reference.stability_limit("rk4", hh.step(), 5.0, criterion="x"), "criterion"),
    ("stability_limit n_grid=0",
     lambda: hh.reference.stability_limit("rk4", hh.step(), 5.0, n_grid=0), "n_grid"),
    ("validate methods=['foo']", lambda: hh.accuracy.validate(["foo"], [0.01]), "foo"),
    ("validate dts=[0]", lambda: hh.accuracy.validate(["rk4"], [0.0]), "dt"),
    ("validate t_stop=-1", lambda: hh.accuracy.validate(["rk4"], [0.01], t_stop=-1.0),
     "t_stop"),
    ("work_precision methods=['foo']",
     lambda: hh.accuracy.work_precision(["foo"], n_neurons=4, t_stop=5.0, n_ref=1, repeats=1),
     "foo"),
    ("work_precision n_neurons=0",
     lambda: hh.accuracy.work_precision(["rk4"], {"rk4": [0.01]}, n_neurons=0, t_stop=5.0,
                                        n_ref=1, repeats=1), "n_neurons"),
    ("work_precision repeats=0",
     lambda: hh.accuracy.work_precision(["rk4"], {"rk4": [0.01]}, n_neurons=4, t_stop=5.0,
                                        n_ref=1, repeats=0), "repeats"),
    ("work_precision dts={'rk4': [-1]}",
     lambda: hh.accuracy.work_precision(["rk4"], {"rk4": [-1.0]}, n_neurons=4, t_stop=5.0,
                                        n_ref=1, repeats=1), "dt"),
]
for label, f, key in REFCMP:
    ATTEMPTS.append(("reference", label, f, key))


def _record_dt_not_dividing(t_stop):
    """reference.solve with record_dt=0.07 ms on a run of t_stop ms that 0.07 does not divide
    (21 = 300 x 0.07 in decimals, not in binary; 21.03 not at all)."""
    def f():
        stim = hh.pulses([(1.0, 2.0, 20.0)])
        res = hh.simulate(stim, t_stop=t_stop, dt=0.01, record="V", record_every=7)
        ref = hh.reference.solve(stim, t_stop=t_stop, record_dt=0.07)
        t = np.asarray(ref.t)
        if t.size == 0 or t[-1] > t_stop or t[0] < 0.0:
            return "silent", f"reference samples reach {t[-1]!r} ms, past t_stop={t_stop}"
        if not np.all(np.diff(t) > 0):
            return "silent", "reference sample times not increasing"
        cmp_ = hh.reference.compare(res, ref)
        # independent: a second reference on a run that 0.01 divides, sampled on the result's
        # own grid, read at the result's times (no interpolation by compare involved)
        ref2 = hh.reference.solve(stim, t_stop=21.07, record_dt=0.01)
        k_res = np.rint(np.asarray(res.t) / 0.01).astype(int)
        k_ref = np.rint(np.asarray(ref2.t) / 0.01).astype(int)
        pos = np.searchsorted(k_ref, k_res)
        if not np.array_equal(k_ref[np.minimum(pos, k_ref.size - 1)], k_res):
            return "silent", "result times not on the 0.01 ms grid"
        v_res = np.asarray(res.V).reshape(-1, len(k_res))[0]
        v_ref = np.asarray(ref2.V).reshape(-1, len(k_ref))[0][pos]
        indep = float(np.max(np.abs(v_res - v_ref)))
        got = float(np.max(cmp_.max_dV))
        # both references are DOP853 at rtol=atol=1e-10: they agree to ~1e-6 mV even in a spike
        ok = abs(got - indep) <= 1e-5 + 1e-6 * indep
        return ("handled" if ok else "silent"), \
            f"max_dV {got:.6g} vs independent {indep:.6g} mV; last sample {t[-1]!r} ms"
    return f


for _t in (21.0, 21.03):
    ATTEMPTS.append(("reference", f"solve t_stop={_t}, record_dt=0.07: last sample <= t_stop; "
                     "compare's max_dV matches an independent evaluation at the same times",
                     _record_dt_not_dividing(_t), VERDICT))


@verdict("reference", "solve max_spikes=1 with several spikes: TruncationWarning or stated")
def _ref_truncation():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = hh.reference.solve(hh.step(), t_stop=50.0, amplitude=10.0, max_spikes=1)
    said = [str(x.message) for x in w if "max_spikes" in str(x.message)]
    n = int(np.asarray(r.spike_count).reshape(-1)[0])
    if n <= 1:
        return "silent", f"only {n} spikes: the attempt does not truncate"
    return ("handled" if said else "silent"), (said[0] if said else
                                                f"{n} spikes, 1 kept, no warning")


# -- sweeps ------------------------------------------------------------------------------------
SW = dict(t_stop=20.0, dt=0.025, method="expeuler", progress=False)


def _grid():
    return hh.grid(amplitude=np.linspace(0.0, 20.0, 8), gK=np.linspace(30.0, 42.0, 4))


def _sw(store=None, start=2.0, **kw):
    kw = {**SW, **kw}
    if store is not None:
        kw.setdefault("chunk_size", 4)
    return hh.sweep(_grid(), hh.step(start=start), store=store, **kw)


_CLEAN = {}


def _clean(start=2.0):
    if start not in _CLEAN:
        ds = _sw(None, start=start)
        _CLEAN[start] = {k: np.asarray(ds[k].values) for k in ("spike_count", "rate")}
    return _CLEAN[start]


def _same(ds, start=2.0):
    return all(np.array_equal(np.asarray(ds[k].values), v, equal_nan=True)
               for k, v in _clean(start).items())


SWEEP_BAD = [
    ("axis amplitude=[] (empty)", lambda: hh.sweep(hh.grid(amplitude=[]), hh.step(), **SW),
     "amplitude"),
    ("axis amplitude=[1, nan]", lambda: hh.sweep(hh.grid(amplitude=[1.0, NAN]), hh.step(), **SW),
     "amplitude"),
    ("axis gK=[-1, 36]", lambda: hh.sweep(hh.grid(gK=[-1.0, 36.0]), hh.step(), **SW), "gK"),
    ("axis foo=[1, 2] (unknown)", lambda: hh.sweep(hh.grid(foo=[1.0, 2.0]), hh.step(), **SW),
     "foo"),
    ("axis amplitude=['a', 'b']", lambda: hh.sweep(hh.grid(amplitude=["a", "b"]), hh.step(),
                                                   **SW), "amplitude"),
    ("window=(0, 100) on a 20 ms run", lambda: _sw(window=(0.0, 100.0)), "window"),
    ("window=(30, 40) on a 20 ms run", lambda: _sw(window=(30.0, 40.0)), "window"),
    ("window=(nan, 10)", lambda: _sw(window=(NAN, 10.0)), "window"),
    ("metrics=['nope']", lambda: _sw(metrics=["nope"]), "nope"),
    ("unknown keyword gna=1", lambda: _sw(gna=1.0), "gna"),
    ("batch_size=0", lambda: _sw(batch_size=0), "batch_size"),
    ("batch_size=2.5", lambda: _sw(batch_size=2.5), "batch_size"),
    ("chunk_size=-4", lambda: _sw(_tmpdir("c.zarr"), chunk_size=-4), "chunk_size"),
    ("store=123", lambda: _sw(123), "store"),
    ("dt=0", lambda: _sw(dt=0.0), "dt"),
    ("t_stop=nan", lambda: _sw(t_stop=NAN), "t_stop"),
]
for label, f, key in SWEEP_BAD:
    ATTEMPTS.append(("sweep", label, f, key))
ATTEMPTS.append(("sweep", "batch_size=10**9 on 32 points (memory by work, not by request)",
                 lambda: _sw(batch_size=10**9), lambda ds: _same(ds)))


def _chunk_files(path, var):
    return sorted(p for p in (Path(path) / var).rglob("*") if p.is_file() and "c" in p.parts
                  and p.name != "zarr.json")


def _damage(path, how):
    if how == "flip":
        f = _chunk_files(path, "rate")[3]
        b = bytearray(f.read_bytes())
        b[len(b) // 2] ^= 0x04
        f.write_bytes(bytes(b))
    elif how == "truncate":
        f = _chunk_files(path, "rate")[3]
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "delete":
        _chunk_files(path, "spike_count")[3].unlink()


def _read_back(ds, start=2.0):
    try:
        same = _same(ds, start)
    except Exception as e:  # noqa: BLE001 - reading the values failed
        return "weak", f"reading the values: {type(e).__name__}: {str(e)[:150]}"
    return ("handled", "values read back are right") if same else \
        ("silent", "values read back differ from a clean run")


def _damaged_resume(how, verify):
    def f():
        path = _tmpdir("d.zarr")
        _sw(path)
        _damage(path, how)
        if verify:
            check = getattr(hh, "verify_sweep", None)
            if check is not None:
                check(path)
        try:
            ds = _sw(path)
        except (ValueError, TypeError) as e:
            ok = "chunk" in str(e) and "verify" in str(e)
            return ("handled" if ok else "weak"), f"resume refused: {e}"
        return _read_back(ds)
    return f


for how in ("flip", "truncate", "delete"):
    ATTEMPTS.append(("sweep", f"chunk file damaged ({how}), verify_sweep, resume: values",
                     _damaged_resume(how, True), VERDICT))
ATTEMPTS.append(("sweep", "chunk file damaged (flip), resume without verify: values",
                 _damaged_resume("flip", False), VERDICT))

KILL_CREATE = """
import os, signal, sys, numpy as np, hhfast as hh, zarr
def create_array(self, *a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
zarr.Group.create_array = create_array
g = hh.grid(amplitude=np.linspace(0.0, 20.0, 8), gK=np.linspace(30.0, 42.0, 4))
hh.sweep(g, hh.step(start=2.0), t_stop=20.0, dt=0.025, method="expeuler", chunk_size=4,
         store=sys.argv[1], progress=False)
"""


def _killed_creation(overwrite):
    def f():
        path = _tmpdir("k.zarr")
        p = subprocess.run([sys.executable, "-c", KILL_CREATE, path], capture_output=True,
                           text=True, timeout=55)
        if p.returncode != -signal.SIGKILL or not os.path.exists(path):
            return "weak", f"could not interrupt the creation (exit {p.returncode})"
        try:
            ds = _sw(path, overwrite=overwrite)
        except (ValueError, TypeError) as e:
            if overwrite:
                return "weak", f"overwrite=True refused: {e}"
            return ("handled" if "overwrite" in str(e) else "weak"), str(e)
        return _read_back(ds)
    return f


ATTEMPTS.append(("sweep", "store killed mid-creation, same sweep again",
                 _killed_creation(False), VERDICT))
ATTEMPTS.append(("sweep", "store killed mid-creation, overwrite=True",
                 _killed_creation(True), VERDICT))

SLOW_WRITER = """
import sys, time, numpy as np, hhfast as hh
try:
    from hhfast.sweeps import execute as mod
except ImportError:
    import hhfast.sweeps as mod
write = mod._write_chunks
def slow(*a, **k):
    time.sleep(0.4)
    return write(*a, **k)
mod._write_chunks = slow
g = hh.grid(amplitude=np.linspace(0.0, 20.0, 8), gK=np.linspace(30.0, 42.0, 4))
hh.sweep(g, hh.step(start=2.0), t_stop=20.0, dt=0.025, method="expeuler", chunk_size=4,
         batch_size=4, store=sys.argv[1], progress=False)
"""


@verdict("sweep", "a second process sweeps (overwrite=True, another spec) into a store in use")
def _second_writer():
    import zarr

    path = _tmpdir("w.zarr")
    _clean(2.0), _clean(5.0)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if int(np.asarray(zarr.open_group(path, mode="r")["done"][...]).sum()) >= 4:
                    break
            except Exception:  # noqa: BLE001 - still being created
                pass
            time.sleep(0.02)
        else:
            return "weak", "the first writer did not start writing"
        try:
            _sw(path, start=5.0, overwrite=True)
            refused = None
        except (ValueError, TypeError) as e:
            refused = str(e)
    finally:
        proc.communicate(timeout=50)
    if refused is not None:
        return ("handled" if "in use" in refused or "lock" in refused else "weak"), refused
    ds = hh.open_sweep(path)
    done = np.asarray(ds["done"].values)
    ok = all(np.array_equal(np.asarray(ds[k].values)[done], v[done], equal_nan=True)
             for k, v in _clean(5.0).items())
    return ("weak" if ok else "silent"), "second writer accepted; done points " + \
        ("hold its values" if ok else "mix both runs' values")


def _foreign_dir(overwrite):
    def f():
        path = _tmpdir("notes")
        os.makedirs(path)
        note = Path(path) / "notes.txt"
        note.write_text("my data")
        try:
            _sw(path, overwrite=overwrite)
            refused = None
        except (ValueError, TypeError) as e:
            refused = str(e)
        kept = note.exists() and note.read_text() == "my data"
        if refused is not None and kept:
            return ("handled" if path in refused or "store" in refused else "weak"), refused
        return "silent", f"{'refused' if refused else 'accepted'}; notes.txt " \
            f"{'kept' if kept else 'gone'}"
    return f


ATTEMPTS.append(("sweep", "a directory of other files as store", _foreign_dir(False), VERDICT))
ATTEMPTS.append(("sweep", "a directory of other files as store, overwrite=True",
                 _foreign_dir(True), VERDICT))


@verdict("sweep", "spike_times with max_spikes=1 over points of several spikes: warned")
def _sweep_truncation():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = _sw(metrics=["spike_count", "spike_times"], max_spikes=1)
    said = [str(x.message) for x in w if "max_spikes" in str(x.message)]
    many = int(np.nanmax(np.asarray(ds["spike_count"].values)))
    if many <= 1:
        return "silent", "the attempt does not truncate"
    return ("handled" if said else "silent"), (said[0] if said else "no warning")


# the sweep through its TOML spec and the CLI
TOML_BASE = """t_stop = 20.0
dt = 0.025
method = "expeuler"
chunk_size = 4
{extra}
[stimulus]
type = "step"
start = 2.0
{stim}
[axes]
{axes}
"""
AXES = "amplitude = { start = 0.0, stop = 20.0, num = 8 }\ngK = [30.0, 34.0, 38.0, 42.0]"
TOML_BAD = [
    ("unknown key tstop", dict(extra="tstop = 5"), "tstop"),
    ("window = [0, 100] on 20 ms", dict(extra="window = [0.0, 100.0]"), "window"),
    ("window = [30, 40] on 20 ms", dict(extra="window = [30.0, 40.0]"), "window"),
    ("max_spikes = '3' (string)", dict(extra='max_spikes = "3"'), "max_spikes"),
    ("metrics = ['nope']", dict(extra='metrics = ["nope"]'), "nope"),
    ("stimulus amp = 3 (typo)", dict(stim="amp = 3"), "amp"),
    ("axis num = 0", dict(axes="amplitude = { start = 0.0, stop = 1.0, num = 0 }"), "num"),
    ("axis foo (unknown)", dict(axes="foo = [1.0, 2.0]"), "foo"),
    ("axis gK = [-1.0]", dict(axes="gK = [-1.0, 36.0]"), "gK"),
    ("not TOML", dict(extra="t_stop = = 3"), "TOML"),
    ("batch_size = 0", dict(extra="batch_size = 0"), "batch_size"),
]


def _toml(name, extra="", stim="", axes=AXES):
    path = _tmpdir(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Path(path).write_text(TOML_BASE.format(extra=extra, stim=stim, axes=axes))
    return path


def _sweep_cli(spec_kw, key):
    def f():
        spec = _toml("s.toml", **spec_kw)
        return cli_call(["sweep", spec, "--store", spec[:-5] + ".zarr", "--no-progress"])
    return f


for label, kw, key in TOML_BAD:
    ATTEMPTS.append(("sweep TOML (CLI)", label, _sweep_cli(kw, key), ("cli", key)))


@verdict("sweep TOML (CLI)", "hhfast sweep --verify on a damaged store, then resume: values")
def _cli_verify():
    spec = _toml("v.toml")
    store = spec[:-5] + ".zarr"
    code, err = cli_call(["sweep", spec, "--store", store, "--no-progress"])
    if code != 0:
        return "weak", f"the sweep failed: exit {code}: {err[-200:]}"
    _damage(store, "flip")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()) as e:
        try:
            vcode = cli.main(["sweep", "--verify", store])
        except SystemExit as ex:
            vcode = ex.code
    code, err = cli_call(["sweep", spec, "--store", store, "--no-progress"])
    outcome, detail = _read_back(hh.open_sweep(store))
    if outcome == "handled" and vcode != 1:
        return "weak", f"values right but --verify exit {vcode}: {e.getvalue()[-150:]}"
    return outcome, f"--verify exit {vcode} ({out.getvalue().strip()[-120:]!r}); {detail}"


# -- several Python threads ---------------------------------------------------------------------
THREADS = """
import sys, threading, numpy as np, hhfast as hh
amps = [np.linspace(0, 20, 64) + k for k in range(4)]
def run(a):
    return hh.simulate(hh.step(start=2.0), t_stop=30.0, dt=0.01, amplitude=a, record="V")
seq = [run(a) for a in amps]
got = [None] * 4
def work(k):
    for _ in range(3):
        got[k] = run(amps[k])
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
same = all(np.array_equal(np.asarray(g.V), np.asarray(s.V))
           and np.array_equal(np.asarray(g.spike_count), np.asarray(s.spike_count))
           for g, s in zip(got, seq))
print("SAME" if same else "DIFFERENT")
"""


def _threads(layer):
    def f():
        env = {**os.environ}
        if layer:
            env["NUMBA_THREADING_LAYER"] = layer
        p = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True,
                           timeout=55, env=env)
        if p.returncode != 0:
            tail = (p.stderr.strip().splitlines() or [""])[-1]
            return "weak", f"exit {p.returncode}: {tail[:200]}"
        same = "SAME" in p.stdout
        return ("handled" if same else "silent"), p.stdout.strip()
    return f


ATTEMPTS.append(("threads", "4 threads x 3 simulate calls each (default layer): results as "
                 "sequential", _threads(None), VERDICT))
ATTEMPTS.append(("threads", "the same with NUMBA_THREADING_LAYER=workqueue",
                 _threads("workqueue"), VERDICT))


# -- more CLI ----------------------------------------------------------------------------------
for val in ("-5", "0", "1e999", "2GB"):
    ATTEMPTS.append(("CLI run", f"HHFAST_RECORD_BUDGET={val}",
                     _cli_attempt("run", ["--t-stop", "5"], None,
                                  env={"HHFAST_RECORD_BUDGET": val}),
                     ("cli", "HHFAST_RECORD_BUDGET")))
for args, key in ((["--dt", "1e-9", "--t-stop", "1000"], "budget"),  # 1e12 steps, recorded
                  (["--dt", "1e-10", "--t-stop", "1000"], "dt"),  # 1e13 steps
                  (["--dt", "1000", "--t-stop", "5"], "dt"),
                  (["--dt", "1e-320"], "dt"),
                  (["--dt", "inf"], "dt")):
    ATTEMPTS.append(("CLI run", " ".join(args), _cli_attempt("run", args, key), ("cli", key)))


@verdict("CLI run", "an internal error (a bug) is told from a user error")
def _internal_error():
    import hhfast.engine as eng

    def boom(*a, **k):
        return {}["no such key"]  # a KeyError, as a bug would raise

    saved = hh.simulate, eng.simulate
    hh.simulate = eng.simulate = boom
    try:
        code, err = cli_call(["run", "--t-stop", "5", "--out", os.path.join(TMP, "x.png")])
    except Exception as e:  # noqa: BLE001 - an uncaught exception out of main
        return "weak", f"main raised {type(e).__name__}"
    finally:
        hh.simulate, eng.simulate = saved
    if code == 2:
        return "silent", f"exit 2, reported as a user error: {err.strip()[-150:]}"
    ok = code not in (0, 2) and "Traceback" in err and "bug" in err.lower()
    return ("handled" if ok else "weak"), f"exit {code}: {err.strip().splitlines()[-1][:150]}"


ATTEMPTS.append(("CLI run", "--param gK=-3 (refused by a check inside simulate): exit 2",
                 _cli_attempt("run", ["--param", "gK=-3"], None), ("cli", "gK")))


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def classify(thunk, expect):
    """-> (outcome, detail)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = thunk()
    except Hang:
        return "weak", "hang (> 60 s)"
    except MemoryError:
        return "weak", "MemoryError"
    except (ValueError, TypeError) as e:
        if callable(expect) or isinstance(expect, tuple) or expect == VERDICT:
            return "weak", f"{type(e).__name__}: {e}"
        named = expect.lower() in str(e).lower()
        return ("handled" if named else "weak"), f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - the audit records whatever happens
        return "weak", f"{type(e).__name__}: {e}"
    finally:
        signal.alarm(0)
    if expect == VERDICT:
        return r
    if isinstance(expect, tuple):
        kind, key = expect
        code, err = r
        lines = err.strip().splitlines()
        if kind == "cli-ok":
            return ("handled" if code == 0 else "weak"), f"exit {code}: {err.strip()[-200:]}"
        if code == 0:
            return "silent", "exit 0"
        if "Traceback" in err:
            return "weak", f"exit {code}, traceback: {lines[-1] if lines else ''}"
        # one line, or argparse's usage line followed by its one-line error
        body = [ln for ln in lines if not ln.startswith(("usage:", " "))]
        ok = code == 2 and len(body) == 1 and key.lower() in err.lower()
        return ("handled" if ok else "weak"), f"exit {code}: {err.strip()[:200]}"
    if callable(expect):
        try:
            good = bool(expect(r))
        except Exception as e:  # noqa: BLE001
            return "silent", f"check failed: {e}"
        return ("handled" if good else "silent"), repr(r)[:200]
    try:
        shown = repr(r)[:150]
    except Exception as e:  # noqa: BLE001 - a broken object is still a silent acceptance
        shown = f"an object whose repr fails ({type(e).__name__})"
    return "silent", f"returned {shown}"


def issue_area(area, label):
    """The area of issue 10's list an attempt belongs to (windows and truncation first)."""
    text = f"{area} {label}".lower()
    if "max_spikes" in text and "max_spikes=-1" not in text and "max_spikes=2.5" not in text \
            and "'3'" not in text:
        return "5 truncation (max_spikes)"
    if area in ("SimResult.rate", "continuation") or "window" in text:
        return "4 analysis windows"
    if area.startswith("sweep"):
        return "1 sweep stores and specs"
    if area == "reference":
        return "2 reference"
    if area in ("stimulus", "Stimulus.from_spec"):
        return "3 stimulus tables and specs"
    if area == "threads":
        return "6 threads"
    if area.startswith("CLI"):
        return "7 CLI"
    return "other simulate inputs"


def table(counts, title):
    print(f"\n| {title} | tried | handled well | weak | silently wrong |\n|---|---|---|---|---|")
    tot = Counter()
    for area in sorted(counts) if title == "issue 10 area" else counts:
        c = counts[area]
        tot.update(c)
        print(f"| {area} | {sum(c.values())} | {c['handled']} | {c['weak']} | {c['silent']} |")
    print(f"| total | {sum(tot.values())} | {tot['handled']} | {tot['weak']} | {tot['silent']} |")


def main():
    verbose = "--verbose" in sys.argv
    counts, by_issue = defaultdict(Counter), defaultdict(Counter)
    t_all = time.perf_counter()
    for area, label, thunk, expect in ATTEMPTS:
        t = time.perf_counter()
        outcome, detail = classify(thunk, expect)
        counts[area][outcome] += 1
        by_issue[issue_area(area, label)][outcome] += 1
        if verbose or outcome != "handled":
            detail = " ".join(str(detail).split())[:300]  # one line per attempt
            print(f"[{outcome:7s}] {area}: {label}: {detail} ({time.perf_counter() - t:.1f} s)",
                  flush=True)
    table(counts, "area")
    table(by_issue, "issue 10 area")
    print(f"\n{len(ATTEMPTS)} attempts in {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
