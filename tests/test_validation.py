"""Bad input: a clear ValueError/TypeError naming the argument, before any kernel runs."""

import math

import numpy as np
import pytest

import hhfast as hh
from hhfast import config
from hhfast.stimulus import Stimulus

S = hh.step()


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(dt=0.0), ValueError, "dt"),
    (dict(dt=-0.01), ValueError, "dt"),
    (dict(dt=float("nan")), ValueError, "dt"),
    (dict(dt=float("inf")), ValueError, "dt"),
    (dict(dt="0.01"), TypeError, "dt"),
    (dict(t_stop=float("inf")), ValueError, "t_stop"),
    (dict(t_stop=float("nan")), ValueError, "t_stop"),
    (dict(t_stop=0.005), ValueError, "t_stop"),
    (dict(t_stop=-1.0), ValueError, "t_stop"),
    (dict(method="rk45"), ValueError, "method"),
    (dict(method=3), ValueError, "method"),  # None is the default (rk4, or euler with channel noise)
    (dict(gK=-1.0), ValueError, "gK"),
    (dict(gNa=np.array([120.0, -0.5])), ValueError, "gNa"),
    (dict(gL=np.array([0.3, np.nan])), ValueError, "gL"),
    (dict(Cm=0.0), ValueError, "Cm"),
    (dict(Cm=np.array([1.0, -1.0])), ValueError, "Cm"),
    (dict(temperature=float("inf")), ValueError, "temperature"),
    (dict(amplitude=np.array([1.0, np.inf])), ValueError, "amplitude"),
    (dict(bias="lots"), TypeError, "bias"),
    (dict(amplitude=np.array([True, False])), TypeError, "amplitude"),
    (dict(n0=1.5), ValueError, "n0"),
    (dict(h0=-0.1), ValueError, "h0"),
    (dict(V0=float("nan")), ValueError, "V0"),
    (dict(threshold=float("nan")), ValueError, "threshold"),
    (dict(record="V,x"), ValueError, "record"),
    (dict(record="V,V"), ValueError, "record"),
    (dict(record=5), TypeError, "record"),
    (dict(record_every=0), ValueError, "record_every"),
    (dict(record_every=1.5), TypeError, "record_every"),
    (dict(max_spikes=-1), ValueError, "max_spikes"),
    (dict(max_spikes=2.0), TypeError, "max_spikes"),
    (dict(neurons=[0, 7], amplitude=np.ones(3)), ValueError, "neurons"),
    (dict(neurons=[0.5]), TypeError, "neurons"),
    (dict(amplitude=np.ones(3), gK=np.ones(4)), ValueError, "broadcast"),
    (dict(amplitude=np.ones((0,))), ValueError, "empty"),
    (dict(window=(10, 5)), ValueError, "window"),
    (dict(window=5), TypeError, "window"),
    (dict(num_threads=0), ValueError, "num_threads"),
    (dict(num_threads=10_000), ValueError, "num_threads"),
    (dict(params="classic"), TypeError, "params"),
    (dict(params=hh.HHParams(gK=-3.0)), ValueError, "gK"),
    (dict(gk=30.0), TypeError, "gk"),
    (dict(method="expeuler", gL=np.array([0.3, 0.0])), ValueError, "gL"),
])
def test_bad_input_is_refused_by_name(no_kernel, kwargs, exc, match):
    args = dict(t_stop=10.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        hh.simulate(S, **args)


def test_bad_stimulus(no_kernel):
    with pytest.raises(TypeError, match="stimulus"):
        hh.simulate(lambda t: 1.0, 10.0)
    with pytest.raises(TypeError, match=r"stimulus\[1\]"):
        hh.simulate([S, "step"], 10.0)
    with pytest.raises(ValueError, match="c0"):  # refused where the table is made
        Stimulus(np.array([0.0]), np.array([np.nan]), np.array([0.0]))
    with pytest.raises(ValueError, match="broadcast"):
        hh.simulate([S, S], 10.0, amplitude=np.ones(3))


def test_recording_over_budget_says_how_much_and_how_to_ask_for_less(no_kernel, monkeypatch):
    monkeypatch.setattr(config, "RECORD_MEMORY_BUDGET", 10 * 2**20)  # 10 MiB
    # 1000 neurons x 4 variables x 10001 samples x 8 B = 0.30 GiB
    with pytest.raises(ValueError) as e:
        hh.simulate(S, 100.0, amplitude=np.ones(1000), record="V,n,m,h")
    msg = str(e.value)
    assert "0.30 GiB" in msg and "record_every" in msg and "neurons" in msg


def test_messages_carry_the_value(no_kernel):
    with pytest.raises(ValueError, match=r"-0\.5"):
        hh.simulate(S, 10.0, gK=np.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="inf"):
        hh.simulate(S, math.inf)
