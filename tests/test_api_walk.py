"""Walk the public API with bad values of every argument (issue 22, item 3).

Every argument of every public entry point, read from its signature (``inspect.signature``;
``**kwargs`` arguments walked under the names they accept), is called with each of the bad
values of :data:`BAD` on top of a good base call.  Each call must either

* be refused with an :class:`hhfast.InputError` whose message names the argument, before any
  kernel (or scipy / Markov solver) runs — the ``no_kernel`` fixture turns a kernel launch
  into a failure — or
* be accepted, where the value is a legitimate one for that argument (a negative reversal
  potential, a huge threshold, an array of per-neuron values): those pairs are listed in
  the tables below, so an argument added without a check is caught (its bad values are
  expected to be refused until someone says otherwise here).

Any other exception (a plain ``ValueError``/``TypeError``, an ``AttributeError``, a Numba
typing error) fails the walk.  The walk runs no kernel, so it is fast.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import hhfast as hh
import hhfast.analysis as A
import hhfast.reference as R
from hhfast._checks import NOISE_VALUES, PER_NEURON
from hhfast.model import FIELDS

#: the bad values: wrong type, NaN, inf, negative, bool, an integer beyond int64, wrong shape,
#: unknown string, an arbitrary object
BAD = {
    "string": "garbage",
    "nan": float("nan"),
    "inf": float("inf"),
    "negative": -1,
    "bool": True,
    "huge": 2**64,
    "shape": np.ones((2, 3, 4)),
    "object": object(),
}

REACHED = "the kernel was reached"


class Reached(AssertionError):
    pass


# -- what is legitimately accepted, per argument name (shared by every face) ---------------
#: a real per-neuron value of any sign (potentials, currents, initial V, thresholds)
_SIGNED = {"negative", "huge", "shape"}
#: a real per-neuron value >= 0 or > 0 (conductances, capacitance, noise)
_NONNEG = {"huge", "shape"}
ACCEPTS: dict[str, set[str]] = {
    **{k: _SIGNED for k in ("ENa", "EK", "EL", "V_rest", "amplitude", "bias", "V0",
                            "threshold")},
    **{k: _NONNEG for k in ("gNa", "gK", "gL", "Cm", "noise_sigma", "noise_tau")},
    "temperature": {"negative", "shape"},  # °C; 2^64 °C overflows the rate factor
    "n0": {"shape"}, "m0": {"shape"}, "h0": {"shape"},
    "t_start": {"negative"},
    "neurons": {"negative"},  # -1: the last neuron, as Python indexing
    "tol": {"huge"},
    "rtol": {"huge"}, "atol": {"huge"},
    "record_dt": {"huge"},
    "record_every": {"huge"},  # beyond the run: the initial sample only (clamped to steps + 1)
    "width": {"huge"},  # spike_reliability's smoothing width, ms
    "spike_rearm": {"shape"},  # a per-neuron re-arm margin (mV >= 0); 2^64 is refused
    "spike_armed": {"bool"},  # the detector's state at t_start (True: armed, V0 below threshold)
}


#: (target, argument) -> the name its messages use instead (the protocol's own word)
ALIASES = {("pulses", "spec"): "pulses"}


def _accepts(overrides: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    return {**ACCEPTS, **(overrides or {})}


# -- the targets: (id, callable, good base call, names its **kwargs take, accepted) ---------
def _solve_result():
    return R.solve(hh.step(0.0, np.inf, 0.0), t_stop=1.0, record_dt=0.5)


_RES = None


def _res():
    global _RES
    if _RES is None:
        _RES = _solve_result()
    return _RES


def _simulate_keywords() -> tuple[str, ...]:
    return tuple(p.name for p in inspect.signature(hh.simulate).parameters.values()
                 if p.kind == p.KEYWORD_ONLY)


_PLAN = None


def _plan():
    global _PLAN
    if _PLAN is None:
        _PLAN = hh.plan(hh.step(), 1.0)
    return _PLAN


def _targets():
    S = hh.step()
    scalar_only = {k: set() for k in PER_NEURON}  # faces that take one number: no shapes
    T = [
        ("simulate", hh.simulate, dict(stimulus=S, t_stop=1.0), PER_NEURON, _accepts()),
        # dopri5: dt is the first trial step, which the controller shrinks at once
        ("simulate[dopri5]", hh.simulate, dict(stimulus=S, t_stop=1.0, method="dopri5"),
         (), _accepts({"dt": {"huge"}})),
        # a plan takes simulate's arguments (its **options: simulate's keywords) and checks
        # them as simulate does; RunPlan.run takes per-neuron values, a shape that would change
        # the plan's batch (here one neuron) refused
        ("plan", hh.plan, dict(stimulus=S, t_stop=1.0), _simulate_keywords() + PER_NEURON,
         _accepts()),
        ("RunPlan.run", lambda **kw: _plan().run(**kw), dict(), PER_NEURON + (
            "trial", "spike_armed"), _accepts({k: v - {"shape"} for k, v in ACCEPTS.items()})),
        ("fi_curve", hh.fi_curve, dict(currents=[0.0, 10.0], t_stop=10.0), FIELDS,
         _accepts({**{k: v - {"shape"} for k, v in ACCEPTS.items()}, "threshold": {
             "negative", "huge"}, "refine": {"bool"}})),
        ("rheobase", hh.rheobase, dict(stimulus=hh.pulses([(0.0, 1.0, 1.0)]), t_stop=5.0),
         PER_NEURON, _accepts({"lo": {"negative"}, "hi": {"huge"}})),
        ("sweep", hh.sweep, dict(grid=hh.grid(amplitude=[0.0, 10.0]), stimulus=S, t_stop=1.0,
                                 progress=False),
         PER_NEURON + ("seed",),
         _accepts({**{k: v - {"shape"} for k, v in ACCEPTS.items()}, **{
             k: set() for k in scalar_only if k not in ACCEPTS},
             "store": {"string"}, "progress": {"bool"}, "overwrite": {"bool"}})),
        ("grid", hh.grid, dict(amplitude=[0.0, 1.0]), ("amplitude", "gK"), _accepts(
            {"amplitude": set(), "gK": set()})),
        ("warmup", hh.warmup, dict(methods=["rk4"], dtypes=[np.float64]), (),
         _accepts({"progress": {"bool"}, "noise": {"bool"}, "features": {"bool"}})),
        ("reference.solve", R.solve, dict(stimulus=S, t_stop=1.0, record_dt=0.5),
         PER_NEURON, _accepts()),
        ("reference.markov", R.markov, dict(stimulus=S, t_stop=0.1, seed=0, area=1.0),
         tuple(k for k in PER_NEURON if k not in NOISE_VALUES) + ("clamp_V",),
         _accepts({"clamp_V": {"negative", "huge", "shape", "nan"},  # NaN: not clamped
                   "area": {"huge", "shape"},
                   "rho_Na": {"huge", "shape"}, "rho_K": {"huge", "shape"},
                   # the work budgets: inf means no limit, any number above the estimate runs
                   "max_events": {"inf", "huge"}, "max_step_events": {"inf", "huge"},
                   "progress": {"bool"}})),
        ("reference.dense_state", R.dense_state,
         dict(pieces=lambda: _res().info["dense"][0], t=0.5), (),
         _accepts({"t": {"shape"}})),
        ("SimResult.count_rate", lambda t0=None, t1=None: _res().count_rate(t0, t1), dict(), (),
         _accepts({"t1": {"inf"}})),
        ("spike_reliability", A.spike_reliability,
         dict(trains=[[1.0, 2.0], [1.0, 2.5]], width=1.0), (),
         _accepts({"trains": {"shape"}})),
        ("latency", A.latency, dict(res=lambda: _res()), (),
         _accepts({"onset": {"negative", "huge"}})),
        *[(f"analysis.{f}", getattr(A, f), dict(res=lambda: _res()), (), _accepts())
          for f in ("count_rate", "isi_mean", "isi_rate", "isi_cv", "firing_pattern",
                    "is_sustained", "sustained_rate", "window_metrics")],
        ("pulses", hh.pulses, dict(spec=[(0.0, 1.0, 1.0)]), (), _accepts()),  # "pulses[i]..."
        ("step", hh.step, dict(), (), _accepts(
            {"start": {"negative", "huge"}, "stop": {"huge", "inf"},
             "amplitude": {"negative", "huge"}})),
        ("pulse_train", hh.pulse_train, dict(), (), _accepts(
            {"start": {"negative", "huge"}, "period": {"huge"},
             "amplitude": {"negative", "huge"}})),
        ("ramp", hh.ramp, dict(), (), _accepts(
            {"start": {"negative"}, "stop": {"huge"}, "begin": {"negative", "huge"},
             "end": {"negative", "huge"}, "hold": {"bool"}})),
        ("waveform", hh.waveform, dict(times=[0.0, 1.0], values=[0.0, 1.0]), (), _accepts()),
        ("Stimulus", hh.Stimulus, dict(t=[0.0], c0=[1.0], c1=[0.0]), (), _accepts()),
        ("Stimulus.from_spec", hh.Stimulus.from_spec, dict(spec={"type": "step"}), (),
         _accepts()),
        ("Stimulus.__mul__", S.__mul__, dict(factor=2.0), (), _accepts(
            {"factor": {"negative", "huge"}})),
        ("reference.compare", R.compare, dict(result=lambda: _res(), reference=lambda: _res()),
         (), _accepts()),
        ("accuracy.observed_order", hh.accuracy.observed_order,
         dict(dts=[0.1, 0.05], errors=[1e-2, 2.5e-3]), (), _accepts()),
        ("reference.convergence", R.convergence,
         dict(method="rk4", dts=[0.02, 0.01], stimulus=S, t_stop=1.0), PER_NEURON,
         _accepts()),
        ("reference.stability_limit", R.stability_limit,
         dict(method="rk4", stimulus=S, t_stop=1.0), PER_NEURON,
         _accepts({"dt_max": {"huge"}})),  # one step over the whole run
        ("accuracy.validation_cases", hh.accuracy.validation_cases, dict(), (),
         _accepts({"t_stop": {"huge"}})),  # a list of cases: nothing runs
        ("accuracy.validate", hh.accuracy.validate,
         dict(methods=["rk4"], dts=[0.01], t_stop=1.0), (), _accepts(
             {k: {"inf", "huge"} for k in ("spike_tol", "v_tol")} | {"rtols": {"huge"}})),
        ("accuracy.work_precision", hh.accuracy.work_precision,
         dict(methods=["rk4"], dts={"rk4": [0.01]}, n_neurons=2, n_ref=1, t_stop=1.0,
              repeats=1, scipy_rtols=()), (), _accepts(
             {"current_max": {"negative", "huge"}, "ref_rtol": {"huge"}})),
        ("accuracy.cheapest", hh.accuracy.cheapest,
         dict(rows=[dict(method="rk4", dt=0.01, cost=1.0, spike_error=1e-3)]), (),
         _accepts()),
        ("open_sweep", hh.open_sweep, dict(store="missing.zarr"), (), _accepts()),
        ("verify_sweep", hh.verify_sweep, dict(store="missing.zarr"), (), _accepts()),
    ]
    return T


def _arguments(func, extra) -> list[str]:
    names = []
    for p in inspect.signature(func).parameters.values():
        if p.kind == p.VAR_KEYWORD:
            names.extend(extra)
        elif p.kind != p.VAR_POSITIONAL:
            names.append(p.name)
    return names


def _cases():
    for tid, func, base, extra, accepts in _targets():
        for arg in _arguments(func, extra):
            yield tid, func, base, arg, accepts.get(arg, set())


#: base arguments built lazily (a SimResult or reference pieces)
_LAZY = ("pieces", "res", "result", "reference")


def _base(base: dict) -> dict:
    return {k: (v() if callable(v) and k in _LAZY else v) for k, v in base.items()}


def _call(func, base, arg, bad):
    kw = _base(base)
    kw[arg] = bad
    try:
        func(**kw)
    except hh.InputError as e:
        return "refused", str(e)
    except AssertionError as e:
        if REACHED in str(e):
            return "accepted", ""
        raise
    except Exception as e:  # noqa: BLE001 - what the walk is looking for
        return "escaped", f"{type(e).__name__}: {e}"
    return "accepted", ""


@pytest.fixture
def no_solver(no_kernel, monkeypatch, tmp_path):
    """``no_kernel`` (conftest) for the scipy and Markov references too; runs in tmp_path
    (a sweep's store path is relative)."""
    import hhfast.markov as M

    _res()  # the SimResult the analysis targets take (a real scipy run, before the patch)

    def boom(*a, **k):  # pragma: no cover - only reached on a bug
        raise Reached(f"{REACHED}; the input should have been refused first")

    monkeypatch.setattr(R, "_one", boom)
    monkeypatch.setattr(M, "_run", boom)
    monkeypatch.chdir(tmp_path)


def test_base_calls_are_good(no_solver):
    """Each base call alone is accepted (else every refusal of the walk would be vacuous)."""
    for tid, func, base, *_ in _targets():
        kw = _base(base)
        if tid in ("open_sweep", "verify_sweep"):
            continue  # a missing store: their base call is itself a refusal
        try:
            func(**kw)
        except AssertionError as e:
            assert REACHED in str(e), (tid, e)


@pytest.mark.parametrize("tid", [t[0] for t in _targets()])
def test_every_argument_refuses_bad_values_naming_it(tid, no_solver):
    failures = []
    for t, func, base, arg, accepted in _cases():
        if t != tid:
            continue
        for kind, bad in BAD.items():
            outcome, msg = _call(func, base, arg, bad)
            if outcome == "escaped":
                failures.append(f"{arg}={kind}: escaped as {msg[:200]}")
            elif outcome == "accepted" and kind not in accepted:
                failures.append(f"{arg}={kind}: accepted")
            elif outcome == "refused" and ALIASES.get((tid, arg), arg) not in msg:
                failures.append(f"{arg}={kind}: refused without naming {arg!r}: {msg[:200]}")
    assert not failures, f"{tid}:\n  " + "\n  ".join(failures)


def test_walk_size():
    """The walk covers what it claims (counts reported in the closing note)."""
    cases = list(_cases())
    functions = {t for t, *_ in cases}
    assert len(functions) >= 30 and len(cases) >= 150


# -- the defects of issue 22 (and those the walk found), one by one ---------------------------
def _spec_sweep(**fixed):
    return lambda tmp: hh.sweep(hh.grid(amplitude=[0.0, 10.0]), hh.step(), 5.0,
                                store=str(tmp / "s.zarr"), progress=False, **fixed)


DEFECTS = [
    # issue 22: fi_curve returned the noiseless curve for a negative sigma
    ("noise_sigma", lambda tmp: hh.fi_curve([0.0, 10.0], t_stop=10.0, noise_sigma=-1.0)),
    # issue 22: a Numba TypingError / OverflowError from the int64 kernel argument
    ("max_steps", lambda tmp: hh.simulate(hh.step(), 1.0, method="dopri5", max_steps=2**64)),
    # issue 22: plain ValueError for seed and trial
    ("seed", lambda tmp: hh.simulate(hh.step(), 1.0, noise_sigma=1.0, seed=-1)),
    ("trial", lambda tmp: hh.simulate(hh.step(), 1.0, noise_sigma=1.0, trial=-1)),
    ("seed", lambda tmp: hh.fi_curve([0.0, 10.0], t_stop=10.0, trials=2, seed=2**64)),
    # issue 22: noise_I0 ignored for white noise, in every face
    ("noise_I0", lambda tmp: hh.simulate(hh.step(), 1.0, noise_sigma=1.0, noise_I0=2.0)),
    ("noise_I0", lambda tmp: hh.rheobase(hh.step(), t_stop=5.0, noise_I0=2.0)),
    ("noise_I0", _spec_sweep(noise_sigma=1.0, noise_I0=2.0)),
    # sweeps refuse what simulate refuses, before the store exists
    ("noise_sigma", _spec_sweep(noise_sigma=-1.0)),
    ("noise", lambda tmp: hh.sweep(hh.grid(noise_sigma=[0.0, 1.0]), hh.step(), 5.0,
                                   method="dopri5", store=str(tmp / "s.zarr"), progress=False)),
    ("trial", lambda tmp: hh.sweep(hh.grid(trial=[-1.0, 1.0]), hh.step(), 5.0,
                                   store=str(tmp / "s.zarr"), progress=False)),
    ("max_spikes", _spec_sweep(max_spikes="x")),
    # found by the walk: silently ignored arguments
    ("area", lambda tmp: R.solve(hh.step(), 1.0, area=10.0)),
    ("progress", lambda tmp: hh.warmup(["rk4"], progress="yes")),
    ("refine", lambda tmp: hh.fi_curve([0.0, 10.0], t_stop=10.0, refine="no")),
    # found by the walk: the scipy reference ran (for ~forever) before simulate's checks
    ("t_stop", lambda tmp: R.stability_limit("rk4", hh.step(), 2.0**64)),
    ("t_stop", lambda tmp: hh.accuracy.validate(["rk4"], [0.01], t_stop=2.0**64)),
    ("t_stop", lambda tmp: hh.accuracy.work_precision(["rk4"], {"rk4": [0.01]}, n_neurons=2,
                                                      n_ref=1, t_stop=2.0**64, repeats=1)),
    ("t_stop", lambda tmp: R.markov(hh.step(), 0.1, seed=0, dt=1.0)),
]


@pytest.mark.parametrize("word, call", DEFECTS, ids=[f"{i}-{w}" for i, (w, _) in
                                                      enumerate(DEFECTS)])
def test_defect_is_refused_first(word, call, no_solver, tmp_path):
    with pytest.raises(hh.InputError, match=word):
        call(tmp_path)
    assert not (tmp_path / "s.zarr").exists()  # before any store was created


def test_white_noise_continuation_still_passes_noise_I0_zero(no_kernel):
    """noise_I0 = 0 where noise_tau = 0 is what continuation() hands on: accepted."""
    with pytest.raises(AssertionError, match=REACHED):
        hh.simulate(hh.step(), 1.0, noise_sigma=[1.0, 1.0], noise_tau=[0.0, 2.0],
                    noise_I0=[0.0, 3.0])
