"""Property tests (hypothesis): invariants that must hold for any input in range."""

import numba
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import hhfast as hh

finite = dict(allow_nan=False, allow_infinity=False)


@given(
    dt=st.floats(0.001, 2.0, **finite),
    gNa=st.floats(0.0, 300.0, **finite),
    gK=st.floats(0.0, 100.0, **finite),
    gL=st.floats(0.01, 5.0, **finite),
    temperature=st.floats(-5.0, 40.0, **finite),
    current=st.floats(-50.0, 200.0, **finite),
)
def test_expeuler_keeps_gates_in_unit_interval(dt, gNa, gK, gL, temperature, current):
    # every gate update is a convex combination of x and x_inf in [0, 1], for any dt
    res = hh.simulate(hh.step(amplitude=current), t_stop=max(20.0, 5 * dt), dt=dt,
                      method="expeuler", gNa=gNa, gK=gK, gL=gL, temperature=temperature,
                      record="V,n,m,h")
    assert not res.diverged[0]
    for g in "nmh":
        x = res.traces[g]
        assert np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0



@given(
    dt=st.floats(0.001, 2.0, **finite),
    gNa=st.floats(0.0, 300.0, **finite),
    gK=st.floats(0.0, 100.0, **finite),
    current=st.floats(-50.0, 200.0, **finite),
    method=st.sampled_from(["rush_larsen", "rl2"]),
)
def test_rush_larsen_gates_stay_in_unit_interval(dt, gNa, gK, current, method):
    # the gates' updates are convex combinations of x and x_inf in [0, 1] at any dt; V is
    # explicit and may blow up, and then the recorded state is the last finite one
    res = hh.simulate(hh.step(amplitude=current), t_stop=max(20.0, 5 * dt), dt=dt,
                      method=method, gNa=gNa, gK=gK, record="n,m,h")
    for g in "nmh":
        x = res.traces[g]
        assert np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0

def _run(idx, amp, gk, temp, method, threads):
    return hh.simulate(hh.step(), 30.0, dt=0.02, method=method, amplitude=amp[idx],
                       gK=gk[idx], temperature=temp[idx], num_threads=threads, max_spikes=8)


@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from([m for m, s in hh.methods().items() if s.kind == "fixed"]),
)
def test_result_independent_of_batch_position_and_threads(n, seed, method):
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0, 30, n)
    gk = rng.uniform(20, 50, n)
    temp = rng.uniform(0, 20, n)
    whole = _run(np.arange(n), amp, gk, temp, method, numba.config.NUMBA_NUM_THREADS)
    perm = rng.permutation(n)
    shuffled = _run(perm, amp, gk, temp, method, 1)
    i = int(rng.integers(n))
    alone = _run(np.array([i]), amp, gk, temp, method, 1)
    j = int(np.flatnonzero(perm == i)[0])
    for v in "Vnmh":
        np.testing.assert_array_equal(shuffled.final_state[v], whole.final_state[v][perm])
        assert alone.final_state[v][0] == whole.final_state[v][i]
    np.testing.assert_array_equal(shuffled.spike_count, whole.spike_count[perm])
    np.testing.assert_array_equal(shuffled.spike_times.array, whole.spike_times.array[perm])
    np.testing.assert_array_equal(alone.spike_times[0], whole.spike_times[i])
    assert shuffled.spike_count[j] == alone.spike_count[0]


def test_result_independent_of_chunk_size(monkeypatch):
    from hhfast import config

    amp = np.linspace(0, 25, 53)
    ref = hh.simulate(hh.step(), 40.0, amplitude=amp)
    monkeypatch.setattr(config, "CHUNK_NEURONS", 17)  # not a multiple of the block size
    chunked = hh.simulate(hh.step(), 40.0, amplitude=amp)
    for v in "Vnmh":
        np.testing.assert_array_equal(chunked.final_state[v], ref.final_state[v])
    np.testing.assert_array_equal(chunked.spike_times.array, ref.spike_times.array)
