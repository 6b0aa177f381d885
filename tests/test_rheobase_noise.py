"""A noisy rheobase (issue 20): the amplitude at which the fraction ``level`` of ``trials``
noisy trials fire, found by bisection on that fraction with common random numbers."""

from __future__ import annotations

import numpy as np
import pytest

import hhfast as hh
from hhfast.errors import InputTypeError, InputValueError

PULSE = hh.pulses([(0.0, 1.0, 1.0)])
NOISY = dict(method="euler", noise_sigma=1.0, seed=3)  # one noisy kernel: noisy euler float64


def test_vanishing_noise_gives_the_deterministic_rheobase():
    """With sigma = 1e-7 µA/cm²·ms^½ the voltage noise is ~1e-7 mV, far below what moves the
    threshold by tol = 1e-3 µA/cm² (the deterministic rheobase is checked against the scipy
    reference in test_rheobase.py): every trial fires exactly where the deterministic neuron
    does, whatever the level."""
    det = hh.rheobase(PULSE, lo=0.0, hi=50.0, method="euler")
    for level in (0.1, 1.0):
        noisy = hh.rheobase(PULSE, lo=0.0, hi=50.0, method="euler", noise_sigma=1e-7,
                            trials=4, level=level)
        assert abs(noisy[0] - det[0]) <= 1e-3, (noisy, det)


def test_fresh_trials_fire_at_the_level_at_the_noisy_rheobase():
    """At the rheobase for level p found with n = 400 trials, 2000 fresh trials (another seed)
    fire with probability p.  The estimate's error: the bisection solves the empirical
    fraction = p, so P(a*) - p has SD ~ sqrt(p(1-p)/n) = 0.025 (p = 0.5), and the fresh
    fraction adds sqrt(p(1-p)/2000) = 0.011: SE 0.027, tolerance 0.14 (>= 5 SE).  The
    bracket's width (tol 1e-3 µA/cm², the probability rising by ~0.3 per µA/cm² here) adds
    < 1e-3.  Spontaneous firing in the 51 ms run is ~0.2 % at sigma = 1 (measured)."""
    levels = (0.2, 0.5, 0.8)
    found = [hh.rheobase(PULSE, lo=0.0, hi=50.0, trials=400, level=p, **NOISY)[0]
             for p in levels]
    assert found[0] < found[1] < found[2]  # a higher probability needs more current
    for p, a in zip(levels, found, strict=True):
        res = hh.simulate(PULSE, 51.0, amplitude=np.full(2000, a), max_spikes=0,
                          **{**NOISY, "seed": 99})
        frac = float((res.spike_count > 0).mean())
        se = np.sqrt(p * (1 - p) / 400 + p * (1 - p) / 2000)
        assert abs(frac - p) <= 5 * se, (p, a, frac, se)


def test_noisy_rheobase_is_reproducible_and_per_neuron():
    """The same seed gives the same value (common random numbers: a function of seed and
    trials); per-neuron values broadcast as without noise: more gK, harder to excite."""
    a = hh.rheobase(PULSE, lo=0.0, hi=50.0, trials=50, **NOISY)
    b = hh.rheobase(PULSE, lo=0.0, hi=50.0, trials=50, **NOISY)
    assert a[0] == b[0]
    g = hh.rheobase(PULSE, lo=0.0, hi=50.0, trials=50, gK=np.array([30.0, 45.0]), **NOISY)
    assert g.shape == (2,) and g[0] < g[1]
    # a bracket whose low end already fires for level of the trials: NaN, as without noise
    assert np.isnan(hh.rheobase(PULSE, lo=20.0, hi=50.0, trials=50, **NOISY)).all()


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(trials=5), InputValueError, "trials=5 needs noise"),
    (dict(level=0.5), InputValueError, "level=0.5 needs noise"),
    (dict(noise_sigma=1.0, level=0.0), InputValueError, r"level must be in \(0, 1\]"),
    (dict(noise_sigma=1.0, level=1.5), InputValueError, r"level must be in \(0, 1\]"),
    (dict(noise_sigma=1.0, trials=0), InputValueError, "trials"),
    (dict(noise_sigma=1.0, trial=[1]), InputTypeError, "sets the trial ids"),
    (dict(noise_sigma=1.0, method="dopri5"), InputValueError, "does not take noise"),
    (dict(noise_sigma=-1.0), InputValueError, "noise_sigma"),
    (dict(noise_sigma=1.0, seed=-1), InputValueError, "seed"),
    (dict(channel_noise="channel", method="rk4"), InputValueError, "channel_noise"),
])
def test_bad_noise_options_are_refused_before_any_run(no_kernel, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hh.rheobase(PULSE, lo=0.0, hi=50.0, **kwargs)
