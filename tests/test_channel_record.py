"""The first recorded sample of a channel-noise run: V and the open fractions of the initial
state (n0⁴ and m0³h0 from the binomial occupancies), not the gates."""

import numpy as np
import pytest

import hhfast as hh
from hhfast.model import steady_state


@pytest.mark.parametrize("model", ["channel", "subunit"])
def test_sample0_is_open_fractions(model):
    V0 = np.array([0.0, 10.0, 25.0])
    n0, m0, h0 = steady_state(V0)
    r = hh.simulate(hh.step(), 0.03, channel_noise=model, area=100.0, amplitude=0.0, V0=V0,
                    n0=n0, m0=m0, h0=h0, record="V,K_open,Na_open")
    # the initial state is set, not computed: exact up to the rounding of a power (1e-14)
    np.testing.assert_allclose(r.traces["V"][:, 0], V0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(r.traces["K_open"][:, 0], n0**4, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.traces["Na_open"][:, 0], m0**3 * h0, rtol=1e-12, atol=1e-15)
    # n0 itself (0.32 at rest) is far from n0⁴ (0.010): the test can tell gates from fractions
    assert np.all(np.abs(n0 - n0**4) > 0.1)
