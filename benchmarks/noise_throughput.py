"""Throughput of noisy runs against noiseless ones on workload W, and cold compile times.

Workload W (README, "Performance"): 1000 neurons, step currents linspace(0, 20, 1000) µA/cm²
from t = 0, ``--t-stop`` ms (default 1000) at dt = 0.01 ms, spike counting, no traces,
``--threads`` threads (default 2).  Noisy rows add white noise (``noise_sigma = 1``
µA/cm²·ms^½) or an OU current (``noise_sigma = 1`` µA/cm², ``noise_tau = 2`` ms) to every
neuron.  Rows are interleaved per repeat (the machine is shared: only ratios taken in one run
mean something); each row's median over ``--repeats`` is reported, and the noisy/noiseless
ratio per method.

``--baseline DIR``: also time the noiseless kernels of another source tree (e.g. an export of
the commit before the noise was added) in a child process, interleaved with this tree's:
noiseless speed before/after in the same run.

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
