"""hh.fit: input checks, the optimisers on small problems, reproducibility, the CLI, and (slow)
recovery of hidden parameters (docs/architecture.md §12)."""

import json
import time

import numpy as np
import pytest

import hhfast as hh
from hhfast import config
from hhfast.cli import main
from hhfast.errors import InputError, InputValueError

# a small problem that reuses the default set's kernel (rk4 float64): 40 ms, two steps
T_STOP, WINDOW, DT = 40.0, (5.0, 35.0), 0.025
PROTOCOLS = [hh.step(5.0, 35.0, 3.0), hh.step(5.0, 35.0, 12.0)]
FEATURES = ["Spikecount", "time_to_first_spike", "mean_frequency", "voltage_base",
            "steady_state_voltage_stimend"]
HIDDEN2 = {"gNa": 120.0, "gK": 36.0}


def targets_of(hidden, protocols=PROTOCOLS, features=FEATURES, window=WINDOW, t_stop=T_STOP,
               rel=0.05, floor=0.2):
    """Targets ``{name: (value, sd)}`` of the hidden parameters, per protocol (features that
    are undefined there left out), computed by simulate(features=...), not by the fit."""
    r = hh.simulate(protocols, t_stop, dt=DT, features=features, feature_window=window,
                    **hidden)
    out = []
    for k in range(len(protocols)):
        d = {}
        for n in features:
            v = float(r.features[n][k])
            if np.isfinite(v):
                d[n] = (v, max(rel * abs(v), floor))
        out.append(d)
    return out


BASE = dict(protocols=PROTOCOLS, bounds={"gNa": (60.0, 240.0), "gK": (18.0, 72.0)},
            t_stop=T_STOP, dt=DT, feature_window=WINDOW)
TARGET = [{"Spikecount": (2, 0.5)}, {"Spikecount": (3, 0.5)}]


# ---- input checks: before anything is compiled (no_kernel) -----------------------------------
@pytest.mark.parametrize("change, match", [
    ({"bounds": {"gNaa": (1, 2)}}, "gNaa"),
    ({"bounds": {"gNa": (120, 120)}}, r"gNa.*lo < hi"),
    ({"bounds": {"gNa": (200, 100)}}, r"gNa.*lo < hi"),
    ({"bounds": {"gNa": (0, np.inf)}}, "finite"),
    ({"bounds": {}}, "bounds"),
    ({"optimizer": "pso"}, "pso"),
    ({"loss": "mean"}, "mean"),
    ({"target": [{"Spikecount": (2, 0.5)}]}, "one per protocol"),
    ({"target": [{"Spikecount": (2, 0)}, {"Spikecount": (3, 0.5)}]}, r"sd must be > 0"),
    ({"target": [{"Spikecount": (np.nan, 1)}, {"Spikecount": (3, 0.5)}]}, "finite"),
    ({"target": [{"Spikecount": 2}, {"Spikecount": (3, 0.5)}]}, r"\(mean, sd\)"),
    ({"max_evals": 10}, "max_evals"),
    ({"seed": -1}, "seed"),
    ({"protocols": ["step"]}, "protocols"),
    ({"target": [(np.arange(3.0), np.zeros(3)), {"Spikecount": (3, 0.5)}]}, "features="),
    ({"fixed": {"gNa": 100}}, "gNa"),
    ({"target": [{"Spikecont": (2, 0.5)}, {"Spikecount": (3, 0.5)}]}, "Spikecont"),
    ({"dt": -1.0}, "dt"),
    ({"bounds": {"gNa": (60, 240)}}, "two parameters"),
    ({"progress": True}, "progress must be None or a callable"),
])
def test_fit_refuses_bad_input(no_kernel, change, match):
    kw = {**BASE, "target": TARGET, **change}
    with pytest.raises(InputError, match=match):
        hh.fit(**kw)


def test_fit_refuses_bad_bounds_values_before_running(no_kernel):
    # Cm's lower bound 0 is not a capacitance simulate takes: the whole box is checked first
    with pytest.raises(InputError, match="Cm"):
        hh.fit(**{**BASE, "bounds": {"Cm": (0.0, 2.0), "gK": (18.0, 72.0)}}, target=TARGET)


# ---- the optimisers on a 2-parameter problem ---------------------------------------------------
@pytest.fixture(scope="module")
def target2():
    return targets_of(HIDDEN2)


@pytest.mark.parametrize("optimizer, max_evals, popsize, seed", [
    ("cma", 240, 8, 3),   # 30 generations of 8
    ("de", 200, 5, 4),    # 20 generations of 5 x 2 parameters
])
def test_fit_reduces_the_loss_and_is_reproducible(target2, optimizer, max_evals, popsize, seed):
    kw = dict(BASE, target=target2, optimizer=optimizer, seed=seed, max_evals=max_evals,
              popsize=popsize)
    a = hh.fit(**kw)
    b = hh.fit(**kw)
    # the same seed gives the same fit, bit for bit
    assert a.best == b.best and np.array_equal(a.history, b.history)
    assert np.array_equal(a.population, b.population)
    # a fixed budget of whole generations
    assert a.evaluations == max_evals
    # it learns: the best loss falls tenfold below the first generation's best, and lands
    # within 5 % of the hidden values (deterministic checks of this seed, not statistical ones;
    # measured: cma 11.3 -> 0.009, de 28.8 -> 0.39)
    assert a.loss < 0.1 * a.history[0, 1]
    for k, v in HIDDEN2.items():
        assert a.best[k] == pytest.approx(v, rel=0.05)
    assert np.all(np.diff(a.history[:, 2]) <= 0)  # best so far never increases
    # the result is self-consistent: best within the bounds, loss = sum of its z-scores
    for n, (lo, hi) in BASE["bounds"].items():
        assert lo <= a.best[n] <= hi
    assert a.loss == pytest.approx(sum(v for e in a.errors for v in e.values()), rel=1e-12)
    assert a.population.shape == (popsize * (1 if optimizer == "cma" else 2), 2)
    # another seed, another path
    c = hh.fit(**{**kw, "seed": seed + 1})
    assert c.best != a.best
    # progress: one call per generation, the evaluations and best loss of the history
    calls = []
    d = hh.fit(**kw, progress=lambda g, n, best: calls.append((g, n, best)))
    assert [g for g, _, _ in calls] == list(range(1, len(d.history) + 1))
    assert [n for _, n, _ in calls] == list(d.history[:, 0])
    assert [b for _, _, b in calls] == list(d.history[:, 2])


def test_fit_max_loss_and_nan_penalty():
    # a first spike wanted under a 0 µA/cm² protocol: the feature is undefined for every
    # member, so each scores config.FIT_NAN_PENALTY, and so does the best
    res = hh.fit(protocols=[hh.step(5.0, 35.0, 0.0)],
                 target=[{"time_to_first_spike": (3.0, 1.0)}],
                 bounds={"gL": (0.2, 0.4), "gK": (30.0, 40.0)}, t_stop=T_STOP, dt=DT,
                 feature_window=WINDOW, max_evals=32, popsize=16, loss="max")
    assert res.loss == config.FIT_NAN_PENALTY
    assert np.isnan(res.features[0]["time_to_first_spike"])


def test_fit_result_plot_and_json(target2):
    import matplotlib.figure

    res = hh.fit(**dict(BASE, target=target2, max_evals=32, popsize=16))
    fig = res.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["evaluations"] == 32 and set(d["best"]) == {"gNa", "gK"}
    assert len(d["history"]["best_so_far"]) == res.generations == 2


def test_fit_trace_target_spikecount_matches_the_run():
    pytest.importorskip("efel")
    # a recorded trace: eFEL's Spikecount in the window must equal the spikes hhfast counted
    # there (two independent detectors on the same run, both at threshold 50 mV above rest)
    r = hh.simulate(PROTOCOLS[1], T_STOP, dt=DT, record="V", window=WINDOW)
    res = hh.fit(protocols=[PROTOCOLS[1]], target=[(r.t, r.traces["V"][0])],
                 features=["Spikecount"], bounds={"gNa": (100.0, 140.0)}, t_stop=T_STOP,
                 dt=DT, feature_window=WINDOW, optimizer="de", max_evals=20, popsize=5)
    assert res.targets[0]["Spikecount"][0] == int(r.window_count[0]) > 0


# ---- the command line --------------------------------------------------------------------------
SPEC = """
t_stop = 40.0
dt = 0.025
feature_window = [5.0, 35.0]
optimizer = "cma"
max_evals = 32
popsize = 16
seed = 1

[bounds]
gNa = [60.0, 240.0]
gK = [18.0, 72.0]

[[protocols]]
stimulus = {type = "step", start = 5.0, stop = 35.0, amplitude = 12.0}
[protocols.target]
Spikecount = [3, 0.5]
"""


def test_cli_fit_writes_json_and_png(tmp_path, capsys):
    spec = tmp_path / "f.toml"
    spec.write_text(SPEC)
    assert main(["fit", str(spec), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    got = capsys.readouterr()
    assert "best loss" in got.out and "gNa = " in got.out and "generation" not in got.err
    # with progress: the CLI prints the library's progress calls on stderr
    assert main(["fit", str(spec), "--out", str(tmp_path / "r")]) == 0
    assert "fit: generation 1," in capsys.readouterr().err
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["evaluations"] == 32 and 60 <= d["best"]["gNa"] <= 240
    assert (tmp_path / "r.png").stat().st_size > 1000


@pytest.mark.parametrize("edit, match", [
    (("[bounds]", "[bounds]\ngXX = [1, 2]"), "gXX"),
    (("t_stop = 40.0", ""), "t_stop"),
    (("Spikecount = [3, 0.5]", "Spikecount = 3"), "Spikecount"),
    (("optimizer = \"cma\"", "optimizer = 3"), "optimizer"),
    (("[bounds]", "[params]\ngk = 30.0\n\n[bounds]"), "'params.gk' is not a model field"),
    (("[bounds]", "[params]\npreset = \"odd\"\n\n[bounds]"), "'params.preset'"),
    (("[bounds]", "[params]\ngK = \"30\"\n\n[bounds]"), "'params.gK' must be a number"),
])
def test_cli_fit_bad_spec_is_one_line(tmp_path, capsys, no_kernel, edit, match):
    spec = tmp_path / "f.toml"
    spec.write_text(SPEC.replace(*edit))
    assert main(["fit", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and match in err and "Traceback" not in err


# ---- recovery of hidden parameters (slow) ------------------------------------------------------
RECOVERY_PROTOCOLS = [hh.step(20.0, 120.0, a) for a in (-3.0, 8.0, 20.0)]
RECOVERY_FEATURES = ["Spikecount", "mean_frequency", "time_to_first_spike", "ISI_CV",
                     "AP_amplitude", "AP_duration_half_width", "AHP_depth", "voltage_base",
                     "steady_state_voltage_stimend"]
HIDDEN = {"gNa": 120.0, "gK": 36.0, "gL": 0.3, "EL": 10.613, "Cm": 1.0}
RECOVERY_BOUNDS = {"gNa": (60.0, 240.0), "gK": (18.0, 72.0), "gL": (0.15, 0.6),
                   "EL": (5.0, 20.0), "Cm": (0.5, 2.0)}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_recovers_hidden_parameters(seed):
    """Five hidden parameters from the features of three steps (hyperpolarising, near onset,
    strong), CMA-ES from a random start in the box (drawn from the seed), a fixed budget of
    6000 parameter sets: every parameter within 5 % (the issue's bar)."""
    tg = targets_of(HIDDEN, RECOVERY_PROTOCOLS, RECOVERY_FEATURES, (20.0, 120.0), 140.0,
                    rel=0.02, floor=0.05)
    t0 = time.perf_counter()
    res = hh.fit(protocols=RECOVERY_PROTOCOLS, target=tg, bounds=RECOVERY_BOUNDS, t_stop=140.0,
                 dt=DT, feature_window=(20.0, 120.0), optimizer="cma", max_evals=6000,
                 seed=seed)
    err = {k: res.best[k] / v - 1 for k, v in HIDDEN.items()}
    print(f"seed {seed}: {res}; relative errors "
          f"{ {k: f'{e:+.1e}' for k, e in err.items()} }; {time.perf_counter() - t0:.1f} s")
    assert all(abs(e) < 0.05 for e in err.values()), err


def test_budget_message_names_the_population():
    with pytest.raises(InputValueError, match="two generations of 32"):
        hh.fit(**BASE, target=TARGET, max_evals=40)


# ---- every argument of hh.fit and inference.simulator, with bad values -----------------------
WALK_BAD = {"string": "garbage", "nan": float("nan"), "inf": float("inf"), "negative": -1,
            "bool": True, "huge": 2**64, "shape": np.ones((2, 3, 4)), "object": object()}
S_WALK = hh.step(1.0, 2.0, 10.0)


def _walk_targets():
    from hhfast.inference import simulator

    return [
        (hh.fit, dict(protocols=[S_WALK], target=[{"Spikecount": (1.0, 1.0)}],
                      bounds={"gNa": (100.0, 140.0), "gK": (30.0, 40.0)}, t_stop=3.0,
                      feature_window=(1.0, 2.0)),
         {"threshold": {"negative"}, "progress": {"bool"}}),
        (simulator, dict(protocol=[S_WALK], features=["Spikecount"], names=["gNa"], t_stop=3.0,
                         feature_window=(1.0, 2.0)),
         {"threshold": {"negative", "shape"}, "fill": {"negative", "huge"}, "chunk": {"huge"}}),
    ]


@pytest.mark.parametrize("which", [0, 1])
def test_every_argument_refuses_bad_values_naming_it(no_kernel, which):
    """Each argument with each bad value: an InputError naming it (before any kernel), or
    accepted where the value is legitimate (listed), never another exception."""
    import inspect

    func, base, accepts = _walk_targets()[which]
    failures = []
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue  # simulate's own keywords: walked by tests/test_api_walk.py
        for kind, bad in WALK_BAD.items():
            try:
                func(**{**base, p.name: bad})
                outcome = "accepted"
            except InputError as e:
                outcome = "refused" if p.name in str(e) else f"refused without naming it: {e}"
            except AssertionError as e:  # the kernel was reached: accepted
                assert "kernel was reached" in str(e)
                outcome = "accepted"
            except Exception as e:  # noqa: BLE001 - what the walk looks for
                outcome = f"escaped {type(e).__name__}: {e}"
            if outcome == "accepted" and kind in accepts.get(p.name, ()):
                continue
            if outcome != "refused":
                failures.append(f"{p.name}={kind}: {outcome[:200]}")
    assert not failures, "\n".join(failures)
