"""A neuron's result does not depend on its batch, its position in it, or the thread count
(bitwise), in both float types; diverged lanes are frozen without disturbing their block."""

import numba
import numpy as np
import pytest
from _fast import method_dtypes

import hhfast as hh

RNG = np.random.default_rng(7)
N = 37  # not a multiple of the block size: the last block is padded
AMP = RNG.uniform(0.0, 25.0, N)
GK = RNG.uniform(25.0, 45.0, N)
#: every fixed-step method of the registry
FIXED = [m for m, s in hh.methods().items() if s.kind == "fixed"]
STIM = hh.pulse_train(start=1.0, width=2.0, period=7.0, count=5, amplitude=1.0) + hh.step(
    start=20.0, amplitude=0.5)


def _run(idx, method, dtype, threads):
    return hh.simulate(STIM, t_stop=60, dt=0.02, method=method, amplitude=AMP[idx],
                       gK=GK[idx], dtype=dtype, num_threads=threads, record="V",
                       record_every=50)


def _same(a, i, b, j):
    for s in ("V", "n", "m", "h"):
        assert a.final_state[s][i].tobytes() == b.final_state[s][j].tobytes()
    assert a.spike_count[i] == b.spike_count[j]
    assert a.spike_times[i].tobytes() == b.spike_times[j].tobytes()
    assert a.V[i].tobytes() == b.V[j].tobytes()


# float32 kernels of methods outside _fast.FAST_METHODS are compiled by the slow set only
@pytest.mark.parametrize("method, dtype", method_dtypes(FIXED))
def test_bitwise_independent_of_batch_position_threads(method, dtype):
    full = _run(np.arange(N), method, dtype, 1)
    assert full.spike_count.sum() > 0
    perm = RNG.permutation(N)
    shuffled = _run(perm, method, dtype, min(2, numba.config.NUMBA_NUM_THREADS))
    for j, i in enumerate(perm):
        _same(full, i, shuffled, j)
    for i in (0, 17, N - 1):  # alone, in a block padded with copies of itself
        alone = _run(np.array([i]), method, dtype, 1)
        _same(full, i, alone, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_diverged_lane_frozen_block_unaffected(dtype):
    # forward Euler at dt = 0.2 ms blows up when a spike starts, not below threshold
    amp = np.array([0.0, 200.0, 1.0, 0.0])
    res = hh.simulate(hh.step(), t_stop=20, dt=0.2, method="euler", amplitude=amp,
                      dtype=dtype, record="V")
    assert res.diverged.tolist() == [False, True, False, False]
    k = int(round(res.diverged_time[1] / 0.2))  # samples after the blow-up
    frozen = res.final_state["V"][1]
    assert np.isfinite(frozen)
    # the recorded trace holds the frozen (last finite) state from the blow-up on
    assert np.all(res.V[1, k:] == frozen) and np.all(np.isfinite(res.V[1]))
    for i in (0, 2, 3):  # the healthy lanes of the same block match runs without it
        alone = hh.simulate(hh.step(), t_stop=20, dt=0.2, method="euler", amplitude=amp[i],
                            dtype=dtype, record="V")
        assert res.V[i].tobytes() == alone.V[0].tobytes()
