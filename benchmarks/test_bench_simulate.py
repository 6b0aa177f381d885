"""pytest-benchmark suite: simulate() per method on workload W (docs/performance.md) and at a few batch
sizes, in neuron-steps/s and as a ratio to a yardstick timed in the same session.

Run (the project's pytest options pass ``--benchmark-skip``; ``--benchmark-only`` overrides
it, ``--benchmark-enable`` does not)::

    python -m pytest benchmarks --benchmark-only                       # run and report
    python -m pytest benchmarks --benchmark-only --benchmark-autosave  # keep a baseline
    python -m pytest benchmarks --benchmark-only --benchmark-compare   # against the last one
    python -m pytest benchmarks --benchmark-only --benchmark-compare=0001 \\
        --benchmark-compare-fail=median:10%                           # gate a regression

Workload W: N = 1000 neurons, step current amplitude linspace(0, 20, N) µA/cm², T = 1000 ms,
dt = 0.01 ms (10^8 neuron-steps), spike counting on, no traces.  Compile time is excluded (one
untimed call first).  ``extra_info`` of every benchmark holds ``neuron_steps_per_s`` (from the
median) and ``ratio_to_numpy_euler``: the same model stepped by forward Euler in plain
vectorised NumPy over the batch (what one writes without hhfast), timed in this session.  The
C yardstick of issue 4 lives in ``benchmarks/yardstick/``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import hhfast as hh
from hhfast.model import HHParams, rates, steady_state

#: every fixed-step method of the registry
METHODS = tuple(m for m, s in hh.methods().items() if s.kind == "fixed")
W = dict(n=1000, t_stop=1000.0, dt=0.01)
#: batch sizes for the growth with N (50 ms runs keep the largest at 5e7 neuron-steps)
SIZES = (100, 1000, 10_000)
SCALING_T = 50.0


def _numpy_euler(amps, t_stop, dt):
    """Forward Euler for a batch in plain NumPy (the yardstick); returns spike counts."""
    p = HHParams.classic()
    V = np.zeros_like(amps)
    n, m, h = (np.full_like(amps, float(x)) for x in steady_state(0.0, p))
    thr = p.default_threshold
    rearm = thr - hh.config.SPIKE_REARM_MV  # the detector's hysteresis (architecture §3)
    armed = V < thr
    count = np.zeros(amps.size, dtype=np.int64)
    for _ in range(int(round(t_stop / dt))):
        an, bn, am, bm, ah, bh = rates(V, p)
        i_ion = (p.gNa * m**3 * h * (V - p.ENa) + p.gK * n**4 * (V - p.EK)
                 + p.gL * (V - p.EL))
        V = V + dt * (amps - i_ion) / p.Cm
        n = n + dt * (an * (1 - n) - bn * n)
        m = m + dt * (am * (1 - m) - bm * m)
        h = h + dt * (ah * (1 - h) - bh * h)
        up = armed & (V >= thr)
        count += up
        armed = (armed & ~up) | (V < rearm)
    return count


@pytest.fixture(scope="session")
def yardstick():
    """neuron-steps/s of the NumPy Euler yardstick (N = 1000, 100 ms; best of 3) and a check
    that it counts the same spikes as hhfast's euler."""
    amps = np.linspace(0, 20, 1000)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        count = _numpy_euler(amps, 100.0, 0.01)
        best = min(best, time.perf_counter() - t0)
    res = hh.simulate(hh.step(), 100.0, dt=0.01, method="euler", amplitude=amps, max_spikes=0)
    # same scheme, same dt: only round-off differs, which may flip a neuron at a threshold
    assert np.sum(count != res.spike_count) <= 2
    return 1000 * 10_000 / best


def _run(benchmark, yardstick, method, n, t_stop, dt, rounds):
    amps = np.linspace(0.0, 20.0, n)
    kw = dict(dt=dt, method=method, amplitude=amps, max_spikes=0)
    hh.simulate(hh.step(), 2 * dt, **kw)  # compile outside the timing
    res = benchmark.pedantic(hh.simulate, args=(hh.step(), t_stop), kwargs=kw, rounds=rounds,
                             iterations=1)
    steps = n * res.n_steps
    rate = steps / benchmark.stats.stats.median
    benchmark.extra_info.update(
        neuron_steps=steps,
        neuron_steps_per_s=rate,
        yardstick_numpy_euler_steps_per_s=yardstick,
        ratio_to_numpy_euler=rate / yardstick,
        spikes=int(res.spike_count.sum()),
    )
    assert not res.diverged.any()


@pytest.mark.parametrize("method", METHODS)
def test_workload_W(benchmark, yardstick, method):
    benchmark.group = "workload W (N=1000, 1000 ms, dt=0.01)"
    _run(benchmark, yardstick, method, W["n"], W["t_stop"], W["dt"], rounds=3)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("method", METHODS)
def test_growth_with_N(benchmark, yardstick, method, n):
    benchmark.group = f"growth with N ({method}, {SCALING_T:g} ms, dt=0.01)"
    _run(benchmark, yardstick, method, n, SCALING_T, 0.01, rounds=3)
