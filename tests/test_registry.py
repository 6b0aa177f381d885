"""The method registry (hhfast.kernels.METHODS, hh.methods()): every list of methods derives
from it, and a method added outside hhfast (here a toy one defined in this module) reaches
simulate() and the CLI without touching any other file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numba import njit

import hhfast as hh
from hhfast.cli import build_parser
from hhfast.kernels import METHODS, MethodSpec, register
from hhfast.kernels.fastexp import always_inline, like
from hhfast.kernels.hh import dvdt
from hhfast.kernels.options import HOT


# -- a toy method: the gates stay where they start, V by forward Euler ------------------------
# (its whole definition: a lane step and a spec; the backend compiles the kernels)
@njit(**HOT)
def toy_step(V, n, m, g, I0, I1, I2, pb, l, dt, ts):
    always_inline()
    return V + like(V, dt) * dvdt(V, n, m, g, I0, pb, l), n, m, g


def toy_check(values):
    if (values["gK"] > 100).any():
        raise ValueError("gK must be <= 100 for method='toy'")


TOY = MethodSpec(name="toy", step=toy_step, order=1, kind="fixed", check=toy_check,
                 wp_range=(0.01,), description="frozen gates, V by Euler", reference="this test")


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(METHODS, "toy", TOY)
    return TOY


def _choices(parser, command, dest="method"):
    sub = next(a for a in parser._actions if a.dest == "command")
    return next(a for a in sub.choices[command]._actions if a.dest == dest).choices


def test_toy_method_reaches_the_cli_choices_and_defaults(toy):
    parser = build_parser()
    for command in ("demo", "fi", "rheobase", "run", "validate", "bench"):
        assert "toy" in _choices(parser, command), command
    args = parser.parse_args(["bench", "--work-precision"])
    assert "toy" in args.method  # bench's default is every fixed-step method
    assert "toy" in hh.methods()


def test_toy_method_runs_through_simulate_as_a_closed_form_says(toy):
    # With the gates frozen V' = (I - g_tot V + sum g E) / Cm = b (V_inf - V) is linear and
    # forward Euler gives V_k = V_inf + (V_0 - V_inf) (1 - b dt)^k exactly (in exact
    # arithmetic).  The recurrence and the power differ by rounding only: ~k ulp of |V| for
    # k = 500 steps, ~1e-13 mV; 1e-9 mV leaves room and still catches any wrong term.
    p = hh.HHParams.classic()
    n0, m0, h0 = 0.4, 0.1, 0.5
    amp = np.array([0.0, 3.0, 7.5])
    res = hh.simulate(hh.step(), t_stop=5.0, dt=0.01, method="toy", amplitude=amp, V0=-5.0,
                      n0=n0, m0=m0, h0=h0, record="V")
    g_na, g_k = p.gNa * m0**3 * h0, p.gK * n0**4
    g_tot = g_na + g_k + p.gL
    v_inf = (amp + g_na * p.ENa + g_k * p.EK + p.gL * p.EL) / g_tot
    b = g_tot / p.Cm
    k = np.arange(res.t.size)
    expected = v_inf[:, None] + (-5.0 - v_inf[:, None]) * (1 - b * 0.01) ** k
    np.testing.assert_allclose(res.V, expected, rtol=0, atol=1e-9)
    assert res.final_state["n"].tolist() == [n0] * 3
    assert res.method == "toy"


def test_a_method_check_runs_before_any_kernel(toy, no_kernel):
    with pytest.raises(ValueError, match="gK must be <= 100 for method='toy'"):
        hh.simulate(hh.step(), 1.0, method="toy", gK=np.array([36.0, 150.0]))


def test_expeuler_check_lives_in_its_spec(no_kernel):
    with pytest.raises(ValueError, match="gL must be > 0 for method='expeuler'"):
        METHODS["expeuler"].check({"gL": np.array([0.3, 0.0])})
    METHODS["expeuler"].check({"gL": np.array([0.3])})  # no error


def test_register_refuses_duplicates_and_non_specs(toy):
    with pytest.raises(ValueError, match="already registered"):
        register(TOY)
    with pytest.raises(TypeError, match="MethodSpec"):
        register("toy")


@pytest.mark.parametrize("field, value, match", [
    ("kind", "implicit", "kind"),
    ("order", 0, "order"),
    ("wp_range", (), "wp_range"),
    ("name", "not a name", "name"),
])
def test_malformed_specs_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TOY, **{field: value})


def test_a_fixed_step_spec_needs_its_step():
    with pytest.raises(TypeError, match="needs a callable step"):
        dataclasses.replace(TOY, step=None)


def test_specs_are_frozen_and_methods_returns_a_copy():
    spec = hh.methods()["rk4"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.order = 3
    hh.methods().pop("rk4")
    assert "rk4" in METHODS


def test_every_builtin_spec_is_complete():
    assert {"euler", "heun", "rk4", "expeuler", "rush_larsen", "rl2"} <= set(METHODS)
    for name, s in METHODS.items():
        assert s.name == name
        kernel = s.step if s.kind == "fixed" else s.run
        assert kernel.py_func.__module__ == f"hhfast.kernels.{name}"  # one file per method
        assert s.description and s.reference
        assert list(s.wp_range) == sorted(s.wp_range)
        s.check({f: np.array([getattr(hh.HHParams.classic(), f)]) for f in ("gL", "gK")})

