"""Model: presets, temperature factor, rate functions and their removable singularities."""

import numpy as np
import pytest

import hhfast as hh
from hhfast import model


def test_presets_match_the_1952_convention():
    c = hh.HHParams.classic()
    assert (c.gNa, c.gK, c.gL, c.ENa, c.EK, c.EL, c.Cm, c.V_rest, c.temperature) == (
        120.0, 36.0, 0.3, 115.0, -12.0, 10.613, 1.0, 0.0, 6.3)
    m = hh.HHParams.modern()
    assert (m.ENa, m.EK, m.EL, m.V_rest) == pytest.approx((50.0, -77.0, -54.387, -65.0))
    assert hh.HHParams.classic(gK=30.0).gK == 30.0


def test_temperature_factor_closed_form():
    # phi = 3^((T - 6.3)/10): 1 at 6.3 °C, exactly 3 ten degrees warmer
    assert model.temperature_factor(6.3) == pytest.approx(1.0, abs=1e-15)
    assert model.temperature_factor(16.3) == pytest.approx(3.0, rel=1e-14)
    a = model.rates(5.0, hh.HHParams(temperature=16.3))
    b = model.rates(5.0, hh.HHParams())
    np.testing.assert_allclose(a, 3.0 * np.array(b), rtol=1e-13)


@pytest.mark.parametrize("u, index, limit", [(10.0, 0, 0.1), (25.0, 2, 1.0)])
def test_removable_singularities_give_the_limit(u, index, limit):
    # alpha_n = 0.01(10-u)/(e^((10-u)/10) - 1) -> 0.1 and alpha_m = 0.1(25-u)/(...) -> 1 at 0/0
    for p in (hh.HHParams.classic(), hh.HHParams.modern()):
        r = model.rates(p.V_rest + u, p)[index]
        assert np.isfinite(r)
        assert r == pytest.approx(limit, rel=1e-15)
        # continuity: the series branch and the direct branch meet (relative 1e-13)
        for du in (1e-3, 0.1000001, 0.2):
            near = model.rates(p.V_rest + u + du, p)[index]
            z = -du / 10.0
            direct = limit * z / np.expm1(z)  # independent closed form
            assert near == pytest.approx(direct, rel=1e-13)


def test_steady_state_and_equilibrium():
    p = hh.HHParams.classic()
    V, n, m, h = model.resting_state(p)
    assert V == 0.0 and all(0 < g < 1 for g in (n, m, h))
    # the classic EL = 10.613 mV was chosen to make V = 0 (nearly) an equilibrium
    assert abs(model.derivatives(0, [V, n, m, h], 0.0, p)[0]) < 1e-2
    assert abs(model.equilibrium(0.0, p)[0]) < 1e-2
    Ve, *gates = model.equilibrium(5.0, p)
    np.testing.assert_allclose(model.derivatives(0, [Ve, *gates], 5.0, p), 0.0, atol=1e-9)


@pytest.mark.parametrize("field, value", [("gK", -1.0), ("Cm", 0.0), ("gNa", float("nan"))])
def test_check_params_refuses(field, value):
    with pytest.raises(ValueError, match=field):
        model.check_params(hh.HHParams(**{field: value}))
