"""``fi_curve(progress=...)``: called with ``(done, total)`` in neuron-ms, ``done`` monotone from
0 to ``total``; the curve is the same with and without it; ``fi_curve(rtol=, atol=)`` for
dopri5 (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest

import hhfast as hh
from hhfast import config
from hhfast.errors import InputTypeError, InputValueError

CUR = np.linspace(0.0, 20.0, 41)  # 41 currents: two pieces of 32 with a callback


def _calls(**kw):
    calls = []
    fi = hh.fi_curve(CUR, t_stop=100.0, method="euler",
                     progress=lambda done, total: calls.append((done, total)), **kw)
    return fi, calls


def _check(calls):
    done = [d for d, _ in calls]
    totals = {t for _, t in calls}
    assert len(totals) == 1  # fixed by the first call
    total = totals.pop()
    assert all(isinstance(d, int) for d in done) and isinstance(total, int)
    assert done[0] == 0 and done[-1] == total > 0  # starts at 0, ends at total
    assert all(b > a for a, b in zip(done, done[1:], strict=False))  # strictly increasing
    return total


@pytest.mark.parametrize("kw", [{}, {"branch": "both"}])
def test_progress_is_monotone_ends_at_total_and_changes_nothing(kw):
    plain = hh.fi_curve(CUR, t_stop=100.0, method="euler", **kw)
    fi, calls = _calls(**kw)
    _check(calls)
    # the main run reports from inside (its pieces) and each bisection round after it
    assert len(calls) >= 5
    for name in ("sustained_rate", "sustained_rate_quiet", "pattern"):
        a, b = getattr(plain, name), getattr(fi, name)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)  # bitwise: pieces do not change a neuron
    assert (plain.onset, plain.block, plain.band) == (fi.onset, fi.block, fi.band)


def test_progress_counts_neuron_milliseconds():
    # noisy: one stage, trials x currents x t_stop neuron-ms, nothing reserved for bisection
    _, calls = _calls(noise_sigma=2.0, trials=2)
    assert _check(calls) == 2 * CUR.size * 100
    # without refinement: the main run only
    _, calls = _calls(refine=False)
    assert _check(calls) == CUR.size * 100
    assert [d for d, _ in calls] == [0, 32 * 100, CUR.size * 100]  # a piece of 32, then 9


def test_an_exception_in_progress_cancels_the_curve():
    class Stop(Exception):
        pass

    seen = []

    def stop(done, total):
        seen.append(done)
        if done > 0:
            raise Stop

    with pytest.raises(Stop):
        hh.fi_curve(CUR, t_stop=100.0, method="euler", progress=stop)
    assert seen == [0, 32 * 100]  # stopped after the first piece


def test_bad_progress_and_fixed_step_tolerances_are_refused_first(no_kernel):
    with pytest.raises(InputTypeError, match="progress must be a callable"):
        hh.fi_curve(CUR, progress=5)
    with pytest.raises(InputValueError, match="rtol only apply to adaptive methods"):
        hh.fi_curve(CUR, method="rk4", rtol=1e-4)
    with pytest.raises(InputValueError, match="rtol must be >= 1e-13"):
        hh.fi_curve(CUR, method="dopri5", rtol=1e-20)


def test_dopri5_tolerances_reach_the_runs():
    """fi_curve(rtol=, atol=) is simulate's step-control tolerance: the rest-protocol curve
    equals sustained_rate of one simulate call with those tolerances, and it is recorded in
    ``info``."""
    cur = np.array([5.0, 8.0, 12.0])
    kw = dict(method="dopri5", rtol=1e-3, atol=1e-2)
    fi = hh.fi_curve(cur, t_stop=100.0, refine=False, **kw)
    res = hh.simulate(hh.step(), 100.0, amplitude=cur, window=(50.0, 100.0), max_spikes=0, **kw)
    np.testing.assert_array_equal(fi.sustained_rate, hh.sustained_rate(res))
    assert fi.info["rtol"] == 1e-3 and fi.info["atol"] == 1e-2
    assert config.ADAPTIVE_RTOL != 1e-3  # so the default would not pass for it
