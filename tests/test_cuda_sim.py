"""The CUDA backend under numba's CUDA simulator, against the CPU backend
(docs/architecture.md §3.3).

The simulator must be chosen before numba is imported (``NUMBA_ENABLE_CUDASIM=1``), so the
CUDA runs happen in a child process, which prints its comparisons as JSON; this process never
sets the variable, so no other test sees the simulator.  The simulator runs each thread in
Python (the step, the event rules and Philox are the CPU's compiled functions, called per
step), so the runs are a few neurons and a few hundred steps.

What the CPU backend gives is the reference: the CUDA driver is a separate implementation of
the time loop, the stimulus edges, the terms' scheduling, recording and the copies to and
from the card, sharing only the per-lane physics with it.  Tolerances: float64 trajectories
agree to rounding (the CPU's lane loop is vectorised, the simulator's calls are scalar: a
fused multiply-add can round differently, ~1e-16 relative per step, growing at most ~1e3-fold
over a spike), so spike times to 1e-9 ms and states and traces to 1e-9 relative; the
Philox normals bit for bit (the same counters through the same function).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hhfast as hh
from hhfast.errors import InputValueError

ROOT = Path(__file__).resolve().parents[1]

# The child: runs the cases named on its command line on backend="cuda" (simulated) and
# "cpu", prints one JSON object of comparisons.
CHILD = textwrap.dedent(r"""
    import json, sys, warnings
    import numpy as np
    import hhfast as hh
    from hhfast.engine import BACKENDS
    from hhfast.errors import InputValueError
    from hhfast.kernels import cuda as K

    warnings.simplefilter("ignore")
    out = {}

    def both(stim, **kw):
        return hh.simulate(stim, backend="cpu", **kw), hh.simulate(stim, backend="cuda", **kw)

    def compare(name, a, b):
        ta, tb = a.spike_times.array, b.spike_times.array
        out[name] = dict(
            counts_equal=bool((a.spike_count == b.spike_count).all()),
            spikes=int(a.spike_count.sum()),
            nan_equal=bool((np.isnan(ta) == np.isnan(tb)).all()),
            dt_spike=float(np.nanmax(np.abs(ta - tb), initial=0.0)),
            state=max(float(np.nanmax(np.abs(a.final_state[k] - b.final_state[k])
                                      / (1 + np.abs(a.final_state[k])), initial=0.0))
                      for k in a.final_state),
            diverged_equal=bool((a.diverged == b.diverged).all()),
            diverged=int(a.diverged.sum()),
            divt_equal=bool(np.array_equal(a.diverged_time, b.diverged_time, equal_nan=True)),
            window_equal=bool((a.window_count == b.window_count).all()),
            dt_window=float(np.nanmax(np.abs(a.window_first - b.window_first), initial=0.0)),
            trace=max([float(np.nanmax(np.abs(a.traces[k] - b.traces[k])
                                       / (1 + np.abs(a.traces[k])), initial=0.0))
                       for k in a.traces] or [0.0]),
            trace_nan_equal=all(bool((np.isnan(a.traces[k]) == np.isnan(b.traces[k])).all())
                                for k in a.traces),
            armed_equal=bool((a.spike_armed == b.spike_armed).all()),
        )

    # rest, one spike, repetitive firing, and a neuron driven to blow up (rk4 at dt = 0.05)
    gist = hh.stimulus.gist()
    det = dict(t_stop=12.0, dt=0.01, record="V,m", record_every=7, window=(0.5, 11.0),
               amplitude=np.array([0.0, 1.0, 3.0]))
    cases = sys.argv[1].split(",")
    if "det" in cases:
        out["cuda_listed"] = hh.backends()["cuda"].available
        compare("rk4", *both(gist, method="rk4", **det))
        BACKENDS["cuda"].max_chunk = 2   # 3 neurons in two chunks: the same numbers
        one = hh.simulate(gist, method="rk4", backend="cuda", **det)
        BACKENDS["cuda"].max_chunk = 1 << 22
        full = hh.simulate(gist, method="rk4", backend="cuda", **det)
        out["chunked_bitwise"] = bool(
            np.array_equal(one.spike_times.array, full.spike_times.array, equal_nan=True)
            and all(np.array_equal(one.traces[k], full.traces[k], equal_nan=True)
                    for k in full.traces))
        compare("blowup", *both(hh.stimulus.step(), method="rk4", t_stop=3.0, dt=0.05,
                                amplitude=np.array([10.0, 2e4]), record="V"))
        try:
            hh.simulate(gist, t_stop=1.0, method="dopri5", backend="cuda")
            out["dopri5"] = "ran"
        except InputValueError as e:
            out["dopri5"] = str(e)
        try:
            hh.simulate(gist, t_stop=1.0, features=["Spikecount"], backend="cuda")
            out["features"] = "ran"
        except InputValueError as e:
            out["features"] = str(e)
    if "philox" in cases:
        rng = np.random.default_rng(7)
        tr = np.concatenate([[0, 1, 2**32 - 1, 2**32, 2**64 - 1],
                             rng.integers(0, 2**63, 59, dtype=np.uint64)]).astype(np.uint64)
        st = rng.integers(0, 2**32, tr.size)
        sm = rng.choice([0, 1, 2, 3, 5, 2**31], tr.size)
        seed = 2**63 + 12345
        g, c = K.normals(seed, tr, st, sm), hh.random.normals(seed, tr, st, sm)
        out["philox_bitwise"] = bool((g.view(np.uint64) == c.view(np.uint64)).all())
        out["philox_n"] = int(g.size)
    if "noise" in cases:
        kw = dict(t_stop=4.0, dt=0.01, seed=11, record="V",
                  noise_sigma=np.array([0.0, 3.0, 4.0]), noise_tau=np.array([0.0, 0.0, 2.0]),
                  bias=8.0)
        compare("noise_euler", *both(hh.stimulus.step(), method="euler", **kw))
    if "faces" in cases:  # the backend keyword through fi_curve, rheobase and sweep
        fa = [hh.fi_curve([4.0, 20.0], t_stop=60.0, refine=False, backend=x)
              for x in ("cpu", "cuda")]
        out["fi_equal"] = bool(np.allclose(fa[0].sustained_rate, fa[1].sustained_rate,
                                           rtol=1e-9, atol=0))
        out["fi_rates"] = [float(v) for v in fa[1].sustained_rate]
        rb = [float(hh.rheobase(hh.stimulus.pulses([(0.0, 0.5, 1.0)]), hi=100.0, tol=0.5,
                                t_stop=4.0, backend=x)[0]) for x in ("cpu", "cuda")]
        out["rheobase"] = rb
        g = hh.grid(amplitude=[0.0, 10.0, 30.0])
        sw = [hh.sweep(g, hh.stimulus.step(), t_stop=5.0, progress=False, backend=x)
              for x in ("cpu", "cuda")]
        out["sweep_equal"] = bool(all(
            np.array_equal(np.asarray(sw[0][k]), np.asarray(sw[1][k]), equal_nan=True)
            for k in ("spike_count", "first_spike")))
        out["sweep_spikes"] = int(np.asarray(sw[1]["spike_count"]).sum())
    if "float32" in cases:
        a, b = both(gist, method="rk4", dtype=np.float32, **det)
        compare("rk4_f32", a, b)
    if "methods" in cases:
        for m in ("euler", "heun", "expeuler", "rush_larsen", "rl2"):
            compare(m, *both(gist, method=m, **det))
    if "channel" in cases:
        for c in ("channel", "shielding", "subunit"):
            compare(f"ch_{c}", *both(hh.stimulus.step(), channel_noise=c, t_stop=3.0, dt=0.01,
                                     seed=3, bias=6.0, area=np.array([30.0, 100.0]),
                                     noise_sigma=np.array([0.0, 1.0]), record="V,K_open"))
    print("JSON" + json.dumps(out))
""")


def run_child(cases: str, timeout: float = 600) -> dict:
    """Run the child with the simulator on ``cases``; its JSON."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=str(ROOT))
    env.setdefault("NUMBA_NUM_THREADS", "1")
    p = subprocess.run([sys.executable, "-c", CHILD, cases], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-4000:]
    line = [s for s in p.stdout.splitlines() if s.startswith("JSON")][-1]
    return json.loads(line[4:])


def check_agree(r: dict, spike_tol: float = 1e-9, state_tol: float = 1e-9) -> None:
    """The comparisons of one case: counts, spike times, states, traces, window statistics,
    divergence and detector flags."""
    assert r["counts_equal"] and r["nan_equal"] and r["armed_equal"], r
    assert r["dt_spike"] <= spike_tol, r
    assert r["dt_window"] <= spike_tol and r["window_equal"], r
    assert r["state"] <= state_tol and r["trace"] <= state_tol and r["trace_nan_equal"], r
    assert r["diverged_equal"] and r["divt_equal"], r


@pytest.fixture(scope="module")
def default_cases() -> dict:
    return run_child("det,philox,noise,faces")


def test_cuda_listed_and_deterministic_runs_agree(default_cases):
    r = default_cases
    assert r["cuda_listed"] is True
    check_agree(r["rk4"])
    assert r["rk4"]["spikes"] >= 3  # the comparison saw spikes (gist: 1 + repetitive)
    assert r["chunked_bitwise"]


def test_cuda_divergence_flags(default_cases):
    r = default_cases["blowup"]
    assert r["diverged"] == 1  # the 2e4 µA/cm² neuron, and only it
    check_agree(r)


def test_cuda_refuses_dopri5_by_name(default_cases):
    msg = default_cases["dopri5"]
    assert "dopri5" in msg and "cuda" in msg


def test_cuda_refuses_features_by_name(default_cases):
    # the features term is the CPU driver's only (docs/architecture.md §3.3): refused before
    # anything runs, naming the argument and the backend
    msg = default_cases["features"]
    assert "features" in msg and "cuda" in msg


def test_cuda_philox_normals_bitwise(default_cases):
    assert default_cases["philox_bitwise"] and default_cases["philox_n"] == 256


def test_cuda_current_noise_agrees(default_cases):
    r = default_cases["noise_euler"]
    check_agree(r)
    assert r["spikes"] >= 1


def test_cuda_refused_without_gpu_or_simulator():
    """This process has no simulator; without a GPU the backend is listed but unavailable, and
    a run is refused with one line naming it."""
    status = hh.backends()["cuda"]
    if status.available:  # pragma: no cover - a machine with a GPU
        pytest.skip("a CUDA GPU is present")
    assert status.reason and "\n" not in status.reason
    with pytest.raises(InputValueError, match="backend='cuda' is not available"):
        hh.simulate(hh.stimulus.step(), t_stop=1.0, backend="cuda")


def test_cuda_faces_take_the_backend(default_cases):
    """fi_curve, rheobase and sweep run on the backend they are given, with the CPU's
    numbers (rates to 1e-9 relative, the same bisection outcome, the same sweep metrics)."""
    r = default_cases
    assert r["fi_equal"] and r["fi_rates"][1] > 0, r["fi_rates"]
    assert r["rheobase"][0] == r["rheobase"][1] and np.isfinite(r["rheobase"][0])
    assert r["sweep_equal"] and r["sweep_spikes"] >= 1


@pytest.mark.parametrize("face", ["fi_curve", "rheobase", "sweep", "cli"])
def test_cuda_faces_refuse_without_gpu(face, tmp_path, capsys):
    """Every face refuses backend='cuda' up front, with the one line simulate gives."""
    if hh.backends()["cuda"].available:  # pragma: no cover - a machine with a GPU
        pytest.skip("a CUDA GPU is present")
    if face == "cli":
        from hhfast import cli

        assert cli.main(["run", "--backend", "cuda", "--t-stop", "1",
                         "--out", str(tmp_path / "r.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert "backend='cuda' is not available" in err and "\n" not in err
        return
    with pytest.raises(InputValueError, match="backend='cuda' is not available"):
        if face == "fi_curve":
            hh.fi_curve([1.0, 2.0], backend="cuda")
        elif face == "rheobase":
            hh.rheobase(hh.stimulus.step(), backend="cuda")
        else:
            hh.sweep(hh.grid(amplitude=[1.0]), hh.stimulus.step(), t_stop=1.0,
                     store=str(tmp_path / "s.zarr"), backend="cuda")
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.slow
def test_cuda_float32_every_method_and_channel_noise():
    """float32 (spike times within 1e-3 ms: float32 rounding, 6e-8 relative, over a
    1-ms-wide upstroke at ~100 mV/ms, plus the card's approximate float32 division, stays two
    orders below it), the other fixed-step methods and the three channel models."""
    r = run_child("float32,methods,channel", timeout=1200)
    check_agree(r["rk4_f32"], spike_tol=1e-3, state_tol=1e-3)
    for m in ("euler", "heun", "expeuler", "rush_larsen", "rl2"):
        check_agree(r[m])
    for c in ("channel", "shielding", "subunit"):
        check_agree(r[f"ch_{c}"])
    assert np.isfinite(r["rk4_f32"]["dt_spike"])


@pytest.mark.slow
def test_gpu_benchmark_script_quick_on_the_simulator(tmp_path):
    """benchmarks/gpu.py --quick on the simulator: its hhfast sections run, those whose tool
    is missing here (nvcc's library without a card, JAX, ncu) record why, and the JSON is
    written; the exit status is 0 either way."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=str(ROOT))
    env.setdefault("NUMBA_NUM_THREADS", "1")
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick",
                        "--out", str(tmp_path), "--only", "env", "hhfast_cuda", "yardstick",
                        "jax", "ncu", "diffrax"],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((tmp_path / "gpu.json").read_text())
    assert r["env"]["simulator"] is True
    rows = r["sections"]["hhfast_cuda"]["rk4 float64"]["rows"]
    assert [row["N"] for row in rows] == [64, 256]
    assert all(row["neuron_steps_per_s"] > 0 and row["count_mismatch_vs_rk4_f64"] == 0
               for row in rows)
    for name in ("yardstick", "jax", "ncu", "diffrax"):
        sec = r["sections"][name]
        assert "error" in sec or "seconds" in sec, (name, sec)
