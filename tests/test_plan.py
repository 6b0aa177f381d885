"""Plans (``hh.plan``, ``RunPlan.run``) and the backend seam (``hh.backends``, ``backend=``).

A plan re-run with new per-neuron values must give what a fresh ``simulate`` call with those
values gives, bit for bit: ``run`` re-checks only the values it is given and re-uses everything
else the plan checked, so any value it forgot to carry over (or a check it skipped) shows up
as a difference or a missing refusal here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hhfast as hh
from hhfast.engine import backend as B
from hhfast.errors import InputTypeError, InputValueError
from hhfast.kernels import layout as L


def _same(a, b) -> None:
    """Two SimResults identical in every array (NaN where NaN) and every scalar field."""
    for f in ("spike_count", "first_spike", "diverged", "diverged_time", "window_count",
              "window_first", "window_last", "window_isi_sumsq", "spike_armed", "t",
              "recorded", "noise_current", "steps_accepted", "steps_rejected", "stop_time"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            assert np.array_equal(x, y, equal_nan=True), f
    assert np.array_equal(a.spike_times.array, b.spike_times.array, equal_nan=True)
    for d in ("final_state", "traces", "params"):
        x, y = getattr(a, d), getattr(b, d)
        assert x.keys() == y.keys(), d
        for k in x:
            assert np.array_equal(x[k], y[k], equal_nan=True), (d, k)
    assert (a.info or {}).keys() == (b.info or {}).keys()
    for k in a.info or {}:
        assert np.array_equal(a.info[k], b.info[k], equal_nan=True), k
    for f in ("method", "dt", "t_start", "t_stop", "n_steps", "window", "channel_noise",
              "rtol", "atol"):
        assert getattr(a, f) == getattr(b, f), f


N = 20
AMP = np.linspace(0.0, 20.0, N)

#: one call of each kind: fixed-step with recording, float32, current noise (white and OU),
#: adaptive, channel noise on gates
KINDS = {
    "rk4": dict(record="V,n", neurons=[0, 7, 19], record_every=3),
    "float32": dict(method="euler", dtype=np.float32, window=(5.0, 30.0)),
    "noise": dict(method="heun", noise_sigma=np.linspace(0.0, 2.0, N),
                  noise_tau=np.where(np.arange(N) % 2 == 0, 0.0, 3.0), seed=7, record="V"),
    "dopri5": dict(method="dopri5", rtol=1e-6, record="V", record_every=50),
    "channel": dict(channel_noise="subunit", area=50.0, record="V,K_open", seed=3),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_rerun_equals_a_fresh_simulate_bitwise(kind):
    kw = KINDS[kind]
    p = hh.plan(hh.step(start=2.0), 40.0, 0.01, amplitude=AMP, **kw)
    new = dict(gNa=np.linspace(90.0, 130.0, N), amplitude=AMP[::-1].copy(), V0=-60.0)
    _same(p.run(**new), hh.simulate(hh.step(start=2.0), 40.0, 0.01, **{**kw, "amplitude": AMP,
                                                                       **new}))
    # the plan itself is unchanged by a re-run: with no values it is the original call
    _same(p.run(), hh.simulate(hh.step(start=2.0), 40.0, 0.01, amplitude=AMP, **kw))


def test_reruns_do_not_leak_into_each_other():
    p = hh.plan(hh.step(), 30.0, amplitude=AMP, record="V")
    first = p.run(gK=30.0)
    p.run(gK=40.0, amplitude=5.0, threshold=-20.0, spike_armed=False)
    _same(p.run(gK=30.0), first)
    assert first.spike_count.sum() > 0  # the comparison is not between two empty runs


def test_values_that_give_a_plan_noise_add_the_noise_term_as_simulate_would():
    p = hh.plan(hh.step(), 20.0, amplitude=AMP, seed=11)
    assert p.noise is None
    noisy = p.run(noise_sigma=1.5, trial=np.arange(N)[::-1].copy())
    _same(noisy, hh.simulate(hh.step(), 20.0, amplitude=AMP, seed=11, noise_sigma=1.5,
                             trial=np.arange(N)[::-1].copy()))
    assert noisy.noise_current is not None
    # and back: sigma 0 everywhere is a deterministic run again
    q = hh.plan(hh.step(), 20.0, amplitude=AMP, noise_sigma=1.0)
    _same(q.run(noise_sigma=0.0), hh.simulate(hh.step(), 20.0, amplitude=AMP, noise_sigma=0.0))
    assert q.run(noise_sigma=0.0).noise_current is None


#: refused by run as simulate refuses them, or (what simulate takes and run does not, or a
#: channel value without a channel model) as an unknown keyword
@pytest.mark.parametrize("values, exc, words", [
    (dict(gNa=-1.0), InputValueError, "gNa must be >= 0"),
    (dict(gNa=np.array([120.0] * (N - 1) + [np.nan])), InputValueError, "gNa must be finite"),
    (dict(Cm=0.0), InputValueError, "Cm must be > 0"),
    (dict(amplitude="x"), InputTypeError, "amplitude must be a number"),
    (dict(n0=1.5), InputValueError, "n0 must be in [0, 1]"),
    (dict(spike_rearm=-1.0), InputValueError, "spike_rearm must be >= 0"),
    (dict(gNa=1e39), InputValueError, "gNa = 1e+39 in magnitude is not representable in float32"),
    (dict(temperature=1e4), InputValueError, "temperature"),
    (dict(noise_sigma=-1.0), InputValueError, "noise_sigma must be >= 0"),
    (dict(noise_I0=2.0), InputValueError, "noise_I0 = 2.0"),  # white noise has no I0
    (dict(spike_armed=True, V0=60.0), InputValueError, "spike_armed: True where V0"),
    (dict(trial=-1), InputValueError, "trial must be in"),
    (dict(area=10.0), InputTypeError, "unexpected keyword argument(s) ['area']"),
    (dict(dt=0.1), InputTypeError, "unexpected keyword argument(s) ['dt']"),
])
def test_new_values_are_checked_as_simulate_checks_them(no_kernel, values, exc, words):
    p = hh.plan(hh.step(), 5.0, amplitude=AMP, dtype=np.float32)
    with pytest.raises(exc) as e:
        p.run(**values)
    assert words in str(e.value)
    if "unexpected" not in words:  # simulate refuses them, with the same words
        with pytest.raises(exc) as e2:
            hh.simulate(hh.step(), 5.0, dtype=np.float32, **{"amplitude": AMP, **values})
        assert words in str(e2.value)


def test_checks_across_values_and_the_method_check_see_the_plan_values(no_kernel):
    # expeuler's own check (gL > 0) and the channel count (rho * area >= 1) read the values
    # the plan holds together with the new ones
    with pytest.raises(InputValueError, match="gL must be > 0 for method='expeuler'"):
        hh.plan(hh.step(), 5.0, method="expeuler").run(gL=0.0)
    p = hh.plan(hh.step(), 5.0, channel_noise="subunit", area=np.array([1.0, 100.0]))
    with pytest.raises(InputValueError, match="rho_Na \\* area"):
        p.run(rho_Na=0.5)
    with pytest.raises(InputValueError, match="area must be > 0"):
        p.run(area=np.array([1.0, -1.0]))
    # a detector state that V0 in the plan makes unreachable
    q = hh.plan(hh.step(), 5.0, V0=np.array([0.0, 60.0]))
    with pytest.raises(InputValueError, match="spike_armed: True where V0 is not below"):
        q.run(spike_armed=True)


@pytest.mark.parametrize("value", [np.ones(N + 1), np.ones((2, N)), np.ones((N, 1))])
def test_a_value_that_changes_the_batch_shape_is_refused(no_kernel, value):
    p = hh.plan(hh.step(), 5.0, amplitude=AMP)
    with pytest.raises(InputValueError, match=r"gNa has shape .* does not broadcast to the "
                                              r"plan's batch shape \(20,\)"):
        p.run(gNa=value)


def test_a_value_smaller_than_the_batch_broadcasts(no_kernel):
    p = hh.plan(hh.step(), 5.0, amplitude=AMP.reshape(4, 5))
    q = p.with_values(gNa=np.linspace(100.0, 110.0, 5), bias=1.0)
    assert q.shape == (4, 5) and q.values["gNa"].shape == (4, 5)
    assert q.values["gNa"][3, 4] == 110.0 and q.values["bias"][2, 1] == 1.0
    assert p.values["gNa"][3, 4] == 120.0 and p.values["bias"][2, 1] == 0.0  # p is unchanged


def test_a_plan_checks_like_simulate_and_runs_nothing(no_kernel):
    with pytest.raises(InputValueError, match="gK must be >= 0"):
        hh.plan(hh.step(), 5.0, gK=-3.0)
    p = hh.plan(hh.step(), 5.0, amplitude=AMP)  # makes the plan; no kernel reached
    assert isinstance(p, hh.RunPlan) and p.n == N and p.backend.name == "cpu"
    with pytest.raises(AttributeError):
        p.dt = 0.1  # frozen


def test_truncation_warning_of_a_rerun_points_at_the_caller():
    p = hh.plan(hh.step(), 100.0, amplitude=10.0, max_spikes=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.run(gNa=120.0)
    ours = [w for w in caught if issubclass(w.category, hh.TruncationWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__


# -- backends ------------------------------------------------------------------------------------
def test_backends_lists_the_cpu_as_available():
    listed = hh.backends()
    assert listed["cpu"] == B.BackendStatus("cpu", True, "", B.CPUBackend.description)


class _Unavailable(B.CPUBackend):
    name = "nowhere"
    description = "a backend this machine lacks"

    def available(self):
        return False, "no such device here"


class _Spy(B.CPUBackend):
    """The CPU backend, recording what each launch was given."""

    name = "spy"

    def __init__(self):
        self.launches = []

    def launch(self, kernel, batch, *terms):
        self.launches.append((batch, terms))
        super().launch(kernel, batch, *terms)


@pytest.fixture
def extra_backends():
    made = [B.register_backend(_Unavailable()), B.register_backend(_Spy())]
    yield made
    for b in made:
        del B.BACKENDS[b.name]


@pytest.mark.parametrize("value, exc, words", [
    ("gpu", InputValueError, "backend must be one of ['cpu', 'cuda', 'nowhere', 'spy'], got "
                          "'gpu'"),
    (3, InputTypeError, "backend must be a name"),
    ("nowhere", InputValueError, "backend='nowhere' is not available on this machine: no such "
                                 "device here"),
])
def test_a_backend_that_cannot_run_is_refused_before_anything(no_kernel, extra_backends, value,
                                                              exc, words):
    for call in (hh.simulate, hh.plan):
        with pytest.raises(exc) as e:
            call(hh.step(), 5.0, backend=value)
        assert words in str(e.value)
    st = hh.backends()["nowhere"]
    assert (st.available, st.reason) == (False, "no such device here")


@pytest.mark.parametrize("kw, terms", [
    (dict(), ()),
    (dict(noise_sigma=1.0), (L.NoiseBatch,)),
    (dict(channel_noise="subunit"), (L.NoiseBatch, L.ChannelBatch)),
    (dict(method="dopri5"), (L.AdaptiveBatch,)),
])
def test_a_backend_gets_one_batch_and_the_terms_of_the_run(extra_backends, kw, terms):
    """The kernel call contract: ``kernel(batch, *terms)`` with the layout's structures, one
    launch per chunk, padded to the backend's lanes; the result is the CPU's."""
    spy = extra_backends[1]
    n = 2 * hh.config.BLOCK + 3
    res = hh.simulate(hh.step(), 3.0, amplitude=np.linspace(0, 20, n), backend="spy", **kw)
    assert len(spy.launches) == 1
    batch, got = spy.launches[0]
    assert isinstance(batch, L.Batch) and tuple(type(t) for t in got) == terms
    assert batch.y.shape == (4, 3 * hh.config.BLOCK)  # padded to whole blocks
    _same(res, hh.simulate(hh.step(), 3.0, amplitude=np.linspace(0, 20, n), **kw))


def test_register_backend_refuses_what_is_not_a_backend():
    with pytest.raises(InputTypeError, match="must be a hhfast.engine.backend.Backend"):
        B.register_backend(object())
    with pytest.raises(InputValueError, match="already registered"):
        B.register_backend(B.CPUBackend())
