"""Never silently wrong: stimulus tables, analysis windows, extreme dt and float32 ranges,
truncated spike times, several Python threads, and the CLI's user errors vs bugs."""

import math
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hhfast as hh
from hhfast import _checks as C
from hhfast import cli, config
from hhfast.errors import InputError, InputTypeError, InputValueError, TruncationWarning
from hhfast.stimulus import Stimulus

S = hh.step()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- item 3: stimulus tables are checked where they are made ---------------------------------
@pytest.mark.parametrize("t, c0, c1, exc, match", [
    ([1.0, 0.0], [0.0, 0.0], [0.0, 0.0], ValueError, r"strictly increasing.*t\[0\]=1\.0"),
    ([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], ValueError, "strictly increasing"),
    ([0.0], [0.0, 1.0], [0.0], ValueError, r"len\(c0\)=2"),
    ([0.0, 1.0], [0.0, 1.0], [0.0], ValueError, r"len\(c1\)=1"),
    ([[0.0]], [[0.0]], [[0.0]], ValueError, "1-D"),
    ([0.0, math.nan], [0.0, 0.0], [0.0, 0.0], ValueError, "t must be finite"),
    ([0.0], [math.inf], [0.0], ValueError, "c0 must be finite"),
    (["a"], [0.0], [0.0], TypeError, "Stimulus t"),
    ([True], [0.0], [0.0], TypeError, "Stimulus t"),
])
def test_stimulus_table_is_checked_where_it_is_made(t, c0, c1, exc, match):
    with pytest.raises(exc, match=match):
        Stimulus(t, c0, c1)
    spec = {"type": "piecewise", "t": t, "c0": c0, "c1": c1}
    with pytest.raises(exc, match="piecewise"):
        Stimulus.from_spec(spec)


@pytest.mark.parametrize("spec, key", [
    ({"type": "pulses", "pulses": [[0, 1, 5]], "amplitude": 3}, "amplitude"),
    ({"type": "step", "amp": 3}, "amp"),
    ({"type": "pulse_train", "count": 3, "duration": 1}, "duration"),
    ({"type": "ramp", "stop": 5, "holds": True}, "holds"),
    ({"type": "waveform", "times": [0, 1], "values": [0, 1], "extra": 1}, "extra"),
    ({"type": "piecewise", "t": [0], "c0": [1], "c1": [0], "c2": [0]}, "c2"),
    ({"type": "sum", "terms": [], "scale": 2}, "scale"),
    ({"type": "sum", "terms": [{"type": "step", "x": 1}]}, r"terms\[0\].*'x'"),
])
def test_unknown_spec_keys_are_refused_in_every_type(spec, key):
    with pytest.raises(ValueError, match=key):
        Stimulus.from_spec(spec)


@pytest.mark.parametrize("hold", ["false", "true", 0, 1, None])
def test_ramp_hold_must_be_a_bool(hold):
    with pytest.raises(TypeError, match="hold"):
        hh.ramp(hold=hold)
    with pytest.raises(TypeError, match="hold"):
        Stimulus.from_spec({"type": "ramp", "hold": hold})


@pytest.mark.parametrize("make, exc, match", [
    (lambda: hh.step(start="0"), TypeError, "start"),
    (lambda: hh.step(amplitude=True), TypeError, "amplitude"),
    (lambda: hh.pulses([("0", 1, 1)]), TypeError, "start"),
    (lambda: hh.pulse_train(count=True), TypeError, "count"),
    (lambda: hh.pulse_train(count=2.0), TypeError, "count"),
    (lambda: hh.pulse_train(count=10**8), ValueError, "MAX_PULSES"),
    (lambda: hh.pulse_train(count=config.MAX_PULSES + 1), ValueError, "MAX_PULSES"),
    (lambda: hh.pulse_train(amplitude="x"), TypeError, "amplitude"),
    (lambda: hh.pulse_train(start=0.0, period=1e308, width=1.0, count=10), ValueError,
     "float range"),
    (lambda: hh.waveform(["a", "b"], [0, 1]), TypeError, "times"),
    (lambda: hh.waveform([0, 1e-300], [-1e300, 1e300]), ValueError, "overflows"),
    (lambda: hh.step(amplitude=1e308) * 10.0, ValueError, "finite"),
    (lambda: hh.pulses([(0, 1, 1e308), (0, 1, 1e308)]), ValueError, "finite"),
    (lambda: Stimulus.from_spec({"type": "pulse_train", "count": 100_000_000}), ValueError,
     "count"),
    (lambda: Stimulus.from_spec({"type": "sum", "terms": 5}), TypeError, "terms"),
])
def test_hostile_stimulus_arguments_are_refused_by_name(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_a_long_pulse_train_is_exact():
    # closed form: pulse k is [start + k*period, start + k*period + width)
    n, start, width, period = 60_000, 0.5, 0.3, 1.25
    s = hh.pulse_train(start=start, width=width, period=period, count=n, amplitude=2.0)
    k = np.arange(n)
    on = start + k * period
    assert np.array_equal(s.t[0::2], on) and np.array_equal(s.t[1::2], on + width)
    assert np.array_equal(s.c0, np.tile([2.0, 0.0], n)) and not s.c1.any()
    # touching pulses merge into one
    merged = hh.pulse_train(start=1.0, width=2.0, period=2.0, count=1000)
    assert merged.t.tolist() == [1.0, 2001.0] and merged.c0.tolist() == [1.0, 0.0]


pulse = st.tuples(st.integers(0, 20), st.integers(1, 8),
                  st.sampled_from([0.1, 0.2, 0.3, -1.5, 7.0, 1e-3]))


@given(st.lists(pulse, max_size=8), st.lists(st.floats(-1, 30), min_size=1, max_size=20))
def test_overlapping_pulses_add_pointwise(items, times):
    # reference: the direct sum over pulses of amp * [start <= t < stop]; the table sums the
    # same few numbers in another grouping, so agreement to 1e-12 (a few ulps of 7) is exact
    spec = [(a / 2, a / 2 + w / 2, amp) for a, w, amp in items]
    s = hh.pulses(spec)
    t = np.asarray(times)
    direct = sum((amp * ((t >= a) & (t < b)) for a, b, amp in spec), np.zeros_like(t))
    assert np.allclose(s(t), direct, rtol=0, atol=1e-12)


# -- item 4: analysis windows lie within the run ---------------------------------------------
@pytest.mark.parametrize("window, what", [
    ((-100.0, 100.0), "before the run starts"),
    ((100.0, 200.0), "after the run's end"),
    ((10.0, 60.0), "t1 is after"),
    ((-1e-3, 10.0), "before the run starts"),
])
def test_a_window_outside_the_run_is_refused(no_kernel, window, what):
    with pytest.raises(ValueError, match=what):
        hh.simulate(S, 50.0, window=window)


def test_windows_within_the_run_after_continuation():
    res = hh.simulate(S, 50.0, amplitude=10.0)
    kw = res.continuation()
    assert kw["t_start"] == 50.0
    with pytest.raises(ValueError, match="before the run starts"):
        hh.simulate(S, 100.0, amplitude=10.0, window=(0.0, 50.0), **kw)
    with pytest.raises(ValueError, match="after the run's end"):
        hh.simulate(S, 100.0, amplitude=10.0, window=(60.0, 200.0), **kw)
    more = hh.simulate(S, 100.0, amplitude=10.0, **kw)
    with pytest.raises(ValueError, match="t0"):
        more.count_rate(0.0, 50.0)
    # the exact O(1) window statistics agree with counting the stored times over the run
    times = more.spike_times[0]
    assert more.count_rate()[0] == pytest.approx(times.size / 0.050, rel=1e-12)
    assert more.count_rate(50.0, math.inf)[0] == more.count_rate(50.0, 100.0)[0] == more.count_rate()[0]


def test_rate_windows_outside_the_run_are_refused():
    res = hh.simulate(S, 50.0, amplitude=10.0)
    n = res.spike_times[0].size
    assert n >= 3  # 10 µA/cm² fires repetitively (period ~14.6 ms)
    for t0, t1 in ((-100, 100), (100, 200), (10, 60)):
        with pytest.raises(ValueError, match="rate window"):
            res.count_rate(t0, t1)
    for bad in ("a", True, math.nan):
        with pytest.raises((TypeError, ValueError), match="t0"):
            res.count_rate(bad, 10.0)
    # t1 = inf is the run's end (it used to divide by an infinite duration: 0 Hz)
    assert res.count_rate(0.0, math.inf)[0] == pytest.approx(n / 0.050, rel=1e-12)


def test_window_within_is_one_shared_check():
    C.window_within(0.0, 50.0, 0.0, 50.0)
    C.window_within(0.0, 50.0 * (1 + 1e-12), 0.0, 50.0)  # rounding of t_start + n*dt
    C.window_within(10.0, math.inf, 0.0, 50.0)
    for w in ((-1.0, 10.0), (50.0, 60.0), (0.0, 50.01)):
        with pytest.raises(InputValueError, match="window"):
            C.window_within(*w, 0.0, 50.0)


# -- item 5: nothing is silently truncated --------------------------------------------------
def test_more_spikes_than_max_spikes_warns_once_and_says_so():
    amp = np.array([0.0, 10.0, 10.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = hh.simulate(S, 100.0, amplitude=amp, max_spikes=2)
    ours = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(ours) == 1
    most = int(res.spike_count.max())
    assert most > 2
    msg = str(ours[0].message)
    assert "2 of 3 neurons" in msg and f"max_spikes={most}" in msg
    assert ours[0].filename == __file__  # points at the caller, not at the engine
    assert f"first 2 of up to {most}" in repr(res) and f"first 2 of up to {most}" in repr(
        res.spike_times)
    # the suggested max_spikes holds them all: no warning, nothing said in the repr
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        full = hh.simulate(S, 100.0, amplitude=amp, max_spikes=most)
        hh.simulate(S, 100.0, amplitude=amp, max_spikes=0)  # asked for no times: no warning
    assert "truncated" not in repr(full)
    assert np.array_equal(full.spike_times[1][:2], res.spike_times[1])


# -- item 6: simulate from several Python threads -------------------------------------------
THREADS_SCRIPT = textwrap.dedent("""
    import sys, threading
    import numpy as np
    import hhfast as hh
    amp = np.linspace(0.0, 20.0, 64)   # 4 blocks of 16: the kernel uses every Numba thread
    def run(k):
        r = hh.simulate(hh.step(), 40.0, amplitude=amp + k, record="V", record_every=50,
                        num_threads=None if k % 2 else 1)
        return r.spike_count, r.spike_times.array, r.V, r.final_state["V"]
    serial = [run(k) for k in range(6)]
    got = [None] * 6
    def worker(k):
        for _ in range(3):
            got[k] = run(k)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in ts: t.start()
    for t in ts: t.join()
    same = all(all(np.array_equal(a, b, equal_nan=True) for a, b in zip(s, g))
               for s, g in zip(serial, got))
    import numba
    print("layer", numba.threading_layer(), "threads", numba.get_num_threads(), "same", same)
    sys.exit(0 if same else 1)
""")


@pytest.mark.parametrize("layer", ["default", "workqueue"])
def test_simulate_from_several_threads_equals_serial_bitwise(layer):
    env = {**os.environ, "PYTHONPATH": ROOT, "NUMBA_NUM_THREADS": "2"}
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    p = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], capture_output=True, text=True,
                       timeout=600, env=env)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr[-2000:])
    assert "same True" in p.stdout
    if layer != "default":
        assert f"layer {layer}" in p.stdout


def test_the_kernel_lock_is_held_around_the_kernel(monkeypatch):
    import hhfast.engine as engine
    import hhfast.engine.launch as launch

    held = []
    real = launch.run_chunk

    def spy(*a, **k):
        # RLock: _is_owned() is True only for the thread holding it
        held.append(engine.KERNEL_LOCK._is_owned())
        return real(*a, **k)

    monkeypatch.setattr(launch, "run_chunk", spy)
    out = []
    ts = [threading.Thread(target=lambda: out.append(hh.simulate(S, 1.0))) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert held == [True] * 3 and len(out) == 3


# -- item 7: extreme dt, float32 ranges, the budget variable, the CLI -----------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(dt=1e-300), "MAX_STEPS"),
    (dict(dt=1e-9, t_stop=1e4), "MAX_STEPS"),
    (dict(t_start=1e20, t_stop=1e20 + 1e6, dt=1.0), r"t \+ dt == t"),
    (dict(gNa=1e40, dtype=np.float32), "gNa.*float32"),
    (dict(gL=1e-45, dtype=np.float32), "gL.*underflows float32"),
    (dict(V0=1e39, dtype=np.float32), "V0"),
    (dict(amplitude=np.array([1.0, -1e39]), dtype=np.float32), "amplitude"),
    (dict(threshold=4e38, dtype=np.float32), "threshold"),
    (dict(Cm=1e-39, dtype=np.float32), "Cm"),
    (dict(Cm=1e-320), "1/Cm"),
    (dict(temperature=1e4), "temperature"),
    (dict(temperature=900.0, dtype=np.float32), "temperature"),
    (dict(temperature=-300.0), "temperature"),
])
def test_extreme_values_are_refused_before_the_kernel(no_kernel, kwargs, match):
    args = dict(t_stop=10.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hh.simulate(S, **args)


def test_float32_limits_leave_ordinary_values_alone():
    # values float32 holds well run, and float64 takes what float32 refuses
    res = hh.simulate(S, 1.0, gNa=1e30, gL=1e-30, dtype=np.float32)
    assert res.shape == (1,)
    assert hh.simulate(S, 1.0, gL=1e-45).shape == (1,)


def test_errors_are_input_errors_and_still_value_or_type_errors(no_kernel):
    with pytest.raises(InputValueError) as e:
        hh.simulate(S, 10.0, dt=-1.0)
    assert isinstance(e.value, ValueError) and isinstance(e.value, InputError)
    with pytest.raises(InputTypeError) as e:
        hh.simulate(S, 10.0, dt="1")
    assert isinstance(e.value, TypeError) and isinstance(e.value, InputError)
    for make in (lambda: hh.pulses([(5, 1, 1)]), lambda: hh.fi_curve([1.0, 0.0]),
                 lambda: hh.HHParams(gK=-1.0) and hh.simulate(S, 1.0, params=hh.HHParams(gK=-1)),
                 lambda: hh.rheobase(S, lo=5.0, hi=1.0)):
        with pytest.raises(InputError):
            make()


@pytest.mark.parametrize("text, expect", [
    ("2000000000", 2_000_000_000), ("2e9", 2_000_000_000), ("abc", None), ("-5", None),
    ("0", None), ("nan", None), ("inf", None), ("", None),
])
def test_record_budget_variable_is_parsed_without_raising(text, expect):
    value, why = config._record_budget(text)
    assert value == expect
    assert (why is None) == (expect is not None)
    if why:
        assert "HHFAST_RECORD_BUDGET" in why and repr(text) in why


def test_a_bad_budget_variable_is_one_line_not_a_failed_import(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "HHFAST_RECORD_BUDGET": "lots"}
    p = subprocess.run([sys.executable, "-c", "import hhfast; print('imported')"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0 and "imported" in p.stdout, p.stderr
    p = subprocess.run([sys.executable, "-m", "hhfast", "run", "--t-stop", "2", "--out",
                        str(tmp_path / "r.png")], capture_output=True, text=True, timeout=600,
                       env=env)
    err = p.stderr.strip()
    assert p.returncode == 2 and "\n" not in err and "HHFAST_RECORD_BUDGET" in err, err


def test_cli_user_error_is_one_line(tmp_path, capsys):
    code = cli.main(["run", "--dt", "1e-300", "--out", str(tmp_path / "r.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "dt=1e-300" in err


def test_cli_shows_the_truncation_warning_as_one_line(tmp_path, capsys):
    # 10 µA/cm² for 300 ms fires ~20 spikes, more than the default max_spikes = 16
    code = cli.main(["run", "--step", "10", "--t-stop", "300", "--out", str(tmp_path / "r.png")])
    err = capsys.readouterr().err.strip()
    assert code == 0
    assert err.startswith("hhfast run: warning: 1 of 1 neurons fired more than max_spikes=16")
    assert "\n" not in err


def test_cli_internal_error_prints_the_traceback_and_asks_for_a_report(tmp_path, capsys,
                                                                      monkeypatch):
    def broken(*a, **k):
        return None + 1  # an internal TypeError, raised by Python, not by a check

    monkeypatch.setattr(hh.engine, "simulate", broken)  # what the CLI calls
    code = cli.main(["run", "--out", str(tmp_path / "r.png")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL
    assert "Traceback" in err and "TypeError" in err and "report" in err and "bug" in err


@pytest.mark.parametrize("exc", [RuntimeError("chunk 3 is damaged"), KeyError("x"),
                                 np.linalg.LinAlgError("singular")])
def test_cli_unexpected_exceptions_are_not_user_errors(tmp_path, capsys, monkeypatch, exc):
    def broken(*a, **k):
        raise exc

    monkeypatch.setattr(hh.fi, "fi_curve", broken)  # what the CLI calls
    code = cli.main(["fi", "--num", "2"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL and "Traceback" in err and type(exc).__name__ in err


def test_no_check_raises_a_plain_value_or_type_error():
    """Every input check raises an InputError (so the CLI sorts user errors by class alone):
    no ``raise ValueError`` / ``raise TypeError`` is left anywhere in the package (every
    subpackage, the kernel registry for method authors included), called or bare, not even
    as a control-flow step caught a line later."""
    import re
    from pathlib import Path

    root = Path(hh.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert {"_checks.py", "kernels/spec.py", "sweeps/spec.py", "accuracy/orders.py",
            "explorer/app.py"} <= {p.relative_to(root).as_posix() for p in files}
    plain = re.compile(r"\braise\s+(ValueError|TypeError)\b")
    found = [f"{p.relative_to(root)}:{i}" for p in files
             for i, line in enumerate(p.read_text().splitlines(), 1) if plain.search(line)]
    assert not found, found


def test_cli_plain_value_error_is_an_internal_error(tmp_path, capsys, monkeypatch):
    """A plain ValueError (NumPy's, say) is not a verdict on the input: traceback, exit 70."""
    def broken(*a, **k):
        np.reshape(np.arange(3), (2, 2))

    monkeypatch.setattr(hh.fi, "fi_curve", broken)  # what the CLI calls
    code = cli.main(["fi", "--num", "2"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL and "Traceback" in err and "ValueError" in err
