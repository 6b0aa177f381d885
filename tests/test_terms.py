"""Noise and channel noise are terms of one driver (docs/architecture.md §3.1): a channel
model is a lane step plus a ChannelSpec, registered like a method, and reaches simulate and
the sweeps' cost estimate without touching any other file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numba import njit

import hhfast as hh
from hhfast.errors import InputTypeError, InputValueError
from hhfast.kernels import CHANNELS, cpu, register_channel
from hhfast.kernels.fastexp import always_inline
from hhfast.kernels.options import HOT
from hhfast.kernels.terms import channel as models


# -- a channel model defined outside hhfast: Fox-Lu gates, through a step of its own -----------
@njit(**HOT)
def outside_step(V, oK, oNa, g, I0, I1, I2, pb, l, h, cs):
    always_inline()
    return models.step_subunit(V, oK, oNa, g, I0, I1, I2, pb, l, h, cs)


OUTSIDE = dataclasses.replace(CHANNELS["subunit"], name="outside_subunit", step=outside_step,
                              cost_ns=9.5)


@pytest.fixture
def outside(monkeypatch):
    monkeypatch.setitem(CHANNELS, OUTSIDE.name, OUTSIDE)
    return OUTSIDE


@pytest.mark.slow  # compiles a channel kernel for this process (not cached); the fast set
# runs an outside method through simulate (tests/test_registry.py)
def test_an_outside_channel_model_runs_through_simulate_like_the_builtin(outside):
    # the same arithmetic through a kernel compiled for this process (the step is not in the
    # cached table): bit for bit the built-in model, noise and spikes included
    assert (outside.step, "channel") not in cpu.KERNELS
    kw = dict(t_stop=20.0, dt=0.01, amplitude=np.linspace(0, 10, 20), area=60.0, seed=5,
              noise_sigma=0.3, record="V,K_open")
    ours = hh.simulate(hh.step(), channel_noise="outside_subunit", **kw)
    ref = hh.simulate(hh.step(), channel_noise="subunit", **kw)
    assert ref.spike_count.sum() > 0
    for name in ("V", "K_open"):
        np.testing.assert_array_equal(ours.traces[name], ref.traces[name])
    np.testing.assert_array_equal(ours.spike_count, ref.spike_count)
    np.testing.assert_array_equal(ours.info["n"], ref.info["n"])


def test_the_sweep_cost_comes_from_the_spec(outside):
    from hhfast.sweeps.execute import _work_points

    slow = dataclasses.replace(OUTSIDE, name="outside_slow", cost_ns=OUTSIDE.cost_ns * 100)
    CHANNELS[slow.name] = slow
    try:
        a = _work_points("euler", 10_000, None, channel_noise="outside_subunit")
        b = _work_points("euler", 10_000, None, channel_noise="outside_slow")
    finally:
        del CHANNELS[slow.name]
    assert b < a  # a costlier model gets smaller batches (no config entry needed)


def test_register_channel_refuses_duplicates_and_non_specs():
    with pytest.raises(InputValueError, match="already registered"):
        register_channel(CHANNELS["channel"])
    with pytest.raises(InputTypeError, match="ChannelSpec"):
        register_channel("channel")


@pytest.mark.parametrize("field, value, error", [
    ("state", "fractions", InputValueError),
    ("sources", 0, InputValueError),
    ("cost_ns", -1.0, InputValueError),
    ("name", "not a name", InputValueError),
    ("step", None, InputTypeError),
])
def test_malformed_channel_specs_refused(field, value, error):
    with pytest.raises(error, match=field):
        dataclasses.replace(CHANNELS["channel"], **{field: value})


def test_every_builtin_channel_model_has_its_cached_kernel_and_scheme():
    for name, spec in CHANNELS.items():
        assert spec.name == name and spec.description and spec.reference
        assert "Euler–Maruyama" in spec.scheme
        assert (spec.step, "channel") in cpu.KERNELS
