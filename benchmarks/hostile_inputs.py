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
        if callable(expect) or isinstance(expect, tuple):
            return "weak", f"{type(e).__name__}: {e}"
        named = expect.lower() in str(e).lower()
        return ("handled" if named else "weak"), f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - the audit records whatever happens
        return "weak", f"{type(e).__name__}: {e}"
    finally:
        signal.alarm(0)
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


def main():
    verbose = "--verbose" in sys.argv
    counts = defaultdict(Counter)
    for area, label, thunk, expect in ATTEMPTS:
        outcome, detail = classify(thunk, expect)
        counts[area][outcome] += 1
        if verbose or outcome != "handled":
            print(f"[{outcome:7s}] {area}: {label}: {detail}")
    print("\n| area | tried | handled well | weak | silently wrong |\n|---|---|---|---|---|")
    tot = Counter()
    for area, c in counts.items():
        n = sum(c.values())
        tot.update(c)
        print(f"| {area} | {n} | {c['handled']} | {c['weak']} | {c['silent']} |")
    print(f"| total | {sum(tot.values())} | {tot['handled']} | {tot['weak']} | {tot['silent']} |")


if __name__ == "__main__":
    main()
