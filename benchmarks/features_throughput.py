"""Cost of the in-kernel features (docs/architecture.md §3.2): cold compile of a kernel with the
features term beside the same kernel without, and throughput with every feature on against
off on workload W, in one run.

Compile: each kernel in a fresh process with an empty Numba cache (``NUMBA_CACHE_DIR`` in a
temporary folder, as ``compile_times.py``), wall and CPU seconds of the first call; CPU
seconds are the figure to compare on a shared machine.

Throughput, workload W: 1000 neurons, step currents linspace(0, 20, 1000) µA/cm² from t = 0,
``--t-stop`` ms (default 500) at dt = 0.01 ms, ``--threads`` threads (default 2), no traces;
"features" asks for every name of ``hh.FEATURES`` over the window (50, t_stop).  Rows are
interleaved per repeat; each row's median over ``--repeats`` and its ratio to the same
method without features (the machine is shared: only ratios taken in one run mean much).

Usage::

    python benchmarks/features_throughput.py [--methods rk4 euler] [--threads 2]
                                             [--repeats 5] [--no-compile] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys, time
import numpy as np
import hhfast as hh
m, feat = sys.argv[1], sys.argv[2] == "1"
kw = dict(features=list(hh.FEATURES), feature_window=(0.005, 0.01)) if feat else {}
w, c = time.perf_counter(), time.process_time()
hh.simulate(hh.step(), t_stop=0.01, dt=0.01, method=m, **kw)
print(f"{time.perf_counter() - w:.3f} {time.process_time() - c:.3f}")
"""


def cold_compile(method: str, features: bool) -> dict:
    """Wall and CPU seconds of the first call of ``method``'s kernel in an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, HHFAST_QUIET_COMPILE="1",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.run([sys.executable, "-c", PROBE, method, "1" if features else "0"],
                           env=env, capture_output=True, text=True, check=True)
        wall, cpu = (float(x) for x in p.stdout.split())
    return dict(method=method, features=features, compile_wall_s=wall, compile_cpu_s=cpu)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["rk4", "euler"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--t-stop", type=float, default=500.0)
    ap.add_argument("--no-compile", action="store_true", help="skip the cold compiles")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args(argv)

    import hhfast as hh

    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
           "workload": f"W: 1000 neurons x {a.t_stop:g} ms, dt 0.01 ms, {a.threads} threads",
           "compile": [], "throughput": {}}
    if not a.no_compile:
        for m in a.methods:
            for feat in (False, True):
                r = cold_compile(m, feat)
                out["compile"].append(r)
                print(f"compile {m:8s} features={feat!s:5s} wall {r['compile_wall_s']:7.1f} s "
                      f"CPU {r['compile_cpu_s']:7.1f} s", flush=True)

    cur = np.linspace(0.0, 20.0, 1000)
    feat = dict(features=list(hh.FEATURES), feature_window=(50.0, a.t_stop))
    rows = {}
    for m in a.methods:
        rows[m] = dict(method=m)
        rows[f"{m} + features"] = dict(method=m, **feat)
    for kw in rows.values():  # compile (or load) first
        hh.simulate(hh.step(), 0.1, amplitude=cur[:16], num_threads=a.threads,
                    **{**kw, **({"feature_window": (0.05, 0.1)} if "features" in kw else {})})
    steps = cur.size * round(a.t_stop / 0.01)
    times = {k: [] for k in rows}
    for _ in range(a.repeats):
        for name, kw in rows.items():
            t = time.perf_counter()
            hh.simulate(hh.step(), a.t_stop, amplitude=cur, num_threads=a.threads,
                        max_spikes=0, **kw)
            times[name].append(time.perf_counter() - t)
    print(f"{'row':20s} {'neuron-steps/s':>15s} {'x same method':>14s}")
    for name in rows:
        rate = steps / np.median(times[name])
        base = steps / np.median(times[name.split(" + ")[0]])
        out["throughput"][name] = dict(steps_per_s=rate, ratio=rate / base,
                                       times_s=times[name])
        print(f"{name:20s} {rate:15.3g} {rate / base:14.3f}", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
