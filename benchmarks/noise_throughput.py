"""Throughput of noisy runs against noiseless ones on workload W, and cold compile times.

Workload W (docs/performance.md): 1000 neurons, step currents linspace(0, 20, 1000) µA/cm²
from t = 0, ``--t-stop`` ms (default 1000) at dt = 0.01 ms, spike counting, no traces,
``--threads`` threads (default 2).  Noisy rows add white noise (``noise_sigma = 1``
µA/cm²·ms^½) or an OU current (``noise_sigma = 1`` µA/cm², ``noise_tau = 2`` ms) to every
neuron.  Rows are interleaved per repeat (the machine is shared: only ratios taken in one run
mean something); each row's median over ``--repeats`` is reported, and the noisy/noiseless
ratio per method.

``--baseline DIR``: also time the noiseless kernels of another source tree (e.g. an export of
the commit before the noise was added) in a child process, interleaved with this tree's:
noiseless speed before/after in the same run.

``--brian2 PYTHON``: the peer row, Brian2 (a Python with ``brian2`` installed, e.g. the venv
``benchmarks/peers.py`` creates) in C++ standalone mode with ``--threads`` OpenMP threads on
the same noisy W: ``dv/dt = (...) + 1*mV*xi*ms**-0.5`` (white noise, 1 mV/ms^½, i.e.
1 µA/cm²·ms^½ at Cm = 1 µF/cm²), ``method="euler"`` (Euler–Maruyama), with and without the
noise term; build time excluded, best of ``--repeats`` runs of the built program.

``--compile``: cold compile time (empty temporary Numba cache, a child process per kernel) of
each method's noiseless and noisy kernel (float64), for this tree and the ``--baseline``.

Usage::

    python benchmarks/noise_throughput.py [--methods euler rk4] [--repeats 5]
        [--baseline /tmp/base] [--compile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
import hhfast as hh
method, t_stop, threads, noise, repeats = sys.argv[1:6]
kw = {} if noise == "none" else dict(noise_sigma=1.0, noise_tau=0.0 if noise == "white" else 2.0)
amp = np.linspace(0.0, 20.0, 1000)
hh.simulate(hh.step(), 0.02, method=method, amplitude=amp, **kw)  # compile or load
out = []
for _ in range(int(repeats)):
    t = time.perf_counter()
    hh.simulate(hh.step(), float(t_stop), method=method, amplitude=amp,
                num_threads=int(threads), **kw)
    out.append(time.perf_counter() - t)
print(json.dumps(out))
"""

COLD = r"""
import sys, time
import numpy as np
import hhfast as hh
method, noise = sys.argv[1:3]
kw = {} if noise == "none" else dict(noise_sigma=1.0)
t = time.perf_counter()
hh.simulate(hh.step(), 0.02, method=method, **kw)
print(time.perf_counter() - t)
"""


BRIAN = r"""
import json, sys, tempfile, time
T, dt, threads = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
noise, repeats = sys.argv[4] == "white", int(sys.argv[5])
from brian2 import (NeuronGroup, SpikeMonitor, defaultclock, ms, mV, run, set_device, prefs,
                    device)
import numpy as np
workdir = tempfile.mkdtemp(prefix="hhfast-brian2-noise-")
set_device("cpp_standalone", directory=workdir, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = threads
defaultclock.dt = dt * ms
xi = " + 1*mV*xi*ms**-0.5" if noise else ""
eqs = (
    "dv/dt = (I - 120*m**3*h*(v - 115*mV) - 36*n**4*(v + 12*mV) - 0.3*(v - 10.613*mV)) / ms"
    + xi + " : volt\n"
    "dn/dt = an*(1 - n) - bn*n : 1\n"
    "dm/dt = am*(1 - m) - bm*m : 1\n"
    "dh/dt = ah*(1 - h) - bh*h : 1\n"
    "an = 0.1/exprel((10*mV - v)/(10*mV))/ms : Hz\n"
    "bn = 0.125*exp(-v/(80*mV))/ms : Hz\n"
    "am = 1/exprel((25*mV - v)/(10*mV))/ms : Hz\n"
    "bm = 4*exp(-v/(18*mV))/ms : Hz\n"
    "ah = 0.07*exp(-v/(20*mV))/ms : Hz\n"
    "bh = 1/(exp((30*mV - v)/(10*mV)) + 1)/ms : Hz\n"
    "I : volt\n"
)
G = NeuronGroup(1000, eqs, threshold="v >= 50*mV", refractory="v >= 50*mV", method="euler")
G.v = 0 * mV; G.n = 0.3177; G.m = 0.0529; G.h = 0.5961
G.I = np.linspace(0, 20, 1000) * mV
S = SpikeMonitor(G, record=False)
run(T * ms)
device.build(directory=workdir, run=False)
best = float("inf")
for _ in range(repeats):
    t = time.perf_counter()
    device.run()
    best = min(best, time.perf_counter() - t)
print(json.dumps(dict(seconds=best, spikes=int(np.asarray(S.count[:]).sum()))))
"""


def _child(tree: Path, code: str, args, cache: str | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree))
    if cache:
        env["NUMBA_CACHE_DIR"] = cache
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=tree,
                       capture_output=True, text=True, check=True)
    return r.stdout.strip().splitlines()[-1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["euler", "rk4"])
    ap.add_argument("--t-stop", type=float, default=1000.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", type=Path, default=None)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--brian2", default=None, help="python of a venv with brian2")
    a = ap.parse_args(argv)

    rows = [(ROOT, m, n) for m in a.methods for n in ("none", "white", "ou")]
    if a.baseline:
        rows += [(a.baseline, m, "none") for m in a.methods]
    times = {r: [] for r in rows}
    n_steps = 1000 * round(a.t_stop / 0.01)
    for _ in range(a.repeats):  # interleaved: one timing of every row per round
        for r in rows:
            times[r] += json.loads(_child(r[0], CHILD, [r[1], a.t_stop, a.threads, r[2], 1]))
    med = {r: sorted(v)[len(v) // 2] for r, v in times.items()}
    print(f"W: 1000 neurons x {n_steps // 1000} steps, {a.threads} threads, "
          f"median of {a.repeats} (neuron-steps/s)")
    for (tree, m, n), t in med.items():
        who = "baseline" if tree != ROOT else "this tree"
        ratio = med[(ROOT, m, "none")] / t
        print(f"  {m:12s} {n:6s} {who:10s} {n_steps / t:10.3e}   x{ratio:.2f} of noiseless")

    if a.brian2:
        print(f"Brian2 C++ standalone, euler, {a.threads} OpenMP threads, best of {a.repeats}:")
        for noise in ("none", "white"):
            args = (a.t_stop, 0.01, a.threads, noise, a.repeats)
            r = subprocess.run([a.brian2, "-c", BRIAN, *map(str, args)], capture_output=True,
                               text=True, check=True, cwd=tempfile.gettempdir())
            out = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"  brian2       {noise:6s} {n_steps / out['seconds']:10.3e}   "
                  f"({out['spikes']} spikes)")

    if a.compile:
        print("cold compile (s), float64, empty cache per kernel:")
        trees = [("this tree", ROOT)] + ([("baseline", a.baseline)] if a.baseline else [])
        for m in a.methods:
            for who, tree in trees:
                for n in ("none", "white") if tree == ROOT else ("none",):
                    with tempfile.TemporaryDirectory() as cache:
                        t0 = time.perf_counter()
                        s = float(_child(tree, COLD, [m, n], cache))
                        print(f"  {m:12s} {n:6s} {who:10s} {s:6.1f} "
                              f"(process {time.perf_counter() - t0:.1f})")


if __name__ == "__main__":
    main()
