"""hhfast.inference.simulator: the callable sbi trains on, tested without sbi or PyTorch
(docs/architecture.md §12)."""

import numpy as np
import pytest

import hhfast as hh
from hhfast import config
from hhfast.errors import InputError
from hhfast.inference import simulator

T_STOP, WINDOW, DT = 40.0, (5.0, 35.0), 0.025
PROTOCOLS = [hh.step(5.0, 35.0, 2.0), hh.step(5.0, 35.0, 12.0)]
FEATURES = ["Spikecount", "time_to_first_spike", "voltage_base"]
THETA = np.array([[120.0, 36.0], [60.0, 36.0], [200.0, 20.0], [120.0, 70.0], [90.0, 30.0]])


def test_simulator_matches_simulate_and_fills_undefined_features():
    sim = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], t_stop=T_STOP, dt=DT,
                    feature_window=WINDOW)
    x = sim(THETA)
    assert x.shape == (5, 2 * 3) and x.dtype == np.float64
    assert np.isfinite(x).all()
    assert sim.columns == [(k, f) for k in range(2) for f in FEATURES]
    # each row is what simulate gives for that parameter set alone (one neuron per protocol;
    # another batch layout), NaN replaced by the fill value
    for i, (gna, gk) in enumerate(THETA):
        r = hh.simulate(PROTOCOLS, T_STOP, dt=DT, features=FEATURES, feature_window=WINDOW,
                        gNa=gna, gK=gk)
        want = np.array([r.features[f][k] for k, f in sim.columns])
        defined = np.isfinite(want)
        assert np.array_equal(x[i, defined], want[defined])  # bitwise: batch-invariant kernels
        assert np.all(x[i, ~defined] == config.INFERENCE_FILL)
    # the weak protocol leaves some parameter set without a spike: the fill is exercised
    j = sim.columns.index((0, "time_to_first_spike"))
    assert (x[:, j] == config.INFERENCE_FILL).any() and (x[:, j] > 0).any()


def test_simulator_chunks_fill_and_one_row():
    kw = dict(t_stop=T_STOP, dt=DT, feature_window=WINDOW)
    whole = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], **kw)(THETA)
    chunked = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], chunk=2, **kw)(THETA)
    assert np.array_equal(whole, chunked)
    filled = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], fill={"time_to_first_spike": 999.0},
                       **kw)(THETA)
    nan_at = whole == config.INFERENCE_FILL
    assert np.all(filled[nan_at] == 999.0) and np.array_equal(filled[~nan_at], whole[~nan_at])
    one = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], **kw)(THETA[0])  # a single theta row
    assert np.array_equal(one, whole[:1])


@pytest.mark.parametrize("change, match", [
    ({"names": ["gXX"]}, "gXX"),
    ({"features": ["Spikecont"]}, "Spikecont"),
    ({"features": []}, "features"),
    ({"fill": {"nope": 1.0}}, "nope"),
    ({"fill": np.nan}, "finite"),
    ({"chunk": 0}, "chunk"),
    ({"dt": 0.0}, "dt"),
])
def test_simulator_refuses_bad_input_before_compiling(no_kernel, change, match):
    kw = dict(protocol=PROTOCOLS, features=FEATURES, names=["gNa", "gK"], t_stop=T_STOP, dt=DT,
              feature_window=WINDOW)
    with pytest.raises(InputError, match=match):
        simulator(**{**kw, **change})


def test_simulator_refuses_wrong_theta_shape(no_kernel):
    sim = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], t_stop=T_STOP, dt=DT,
                    feature_window=WINDOW)
    with pytest.raises(InputError, match=r"theta must have shape \(n, 2\)"):
        sim(np.zeros((4, 3)))


def test_simulator_answers_torch_with_torch():
    torch = pytest.importorskip("torch")
    sim = simulator(PROTOCOLS, FEATURES, ["gNa", "gK"], t_stop=T_STOP, dt=DT,
                    feature_window=WINDOW)
    x = sim(torch.as_tensor(THETA, dtype=torch.float32))
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (5, 6)
