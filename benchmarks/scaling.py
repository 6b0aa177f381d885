"""Scaling, threads, small runs, memory, and compile/load times of hhfast.

Prints (and with ``--json`` writes):

* throughput (neuron-steps/s) against the batch size N = 1e3 .. 1e6, W's step currents,
  ``--work`` neuron-steps per point (default 1e8 = workload W) but at least 20 ms;
* 1 thread against 2 threads at N = 1000;
* the gist (1 neuron, 50 ms, rk4, dt = 0.01) warm: median wall time of 20 calls;
* peak memory of a 1e6-neuron run without recording, above the interpreter's baseline
  (``ru_maxrss`` in a fresh process, and tracemalloc's peak of Python-visible allocations);
* compile time of every kernel in a fresh process with an empty Numba cache, and load
  time in a second process that finds them cached; the cold first call (import + first
  ``simulate``) both ways.

Each timing is the median of ``--repeats`` runs (interleaved over N); the machine may be
shared, so the spread (max/min) is printed too.

Usage::

    python benchmarks/scaling.py                    # everything, ~3-5 minutes
    python benchmarks/scaling.py --skip compile --methods euler
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hhfast as hh

#: every fixed-step method of the registry
METHODS = tuple(m for m, s in hh.methods().items() if s.kind == "fixed")


def _w_run(method, N, T, threads, dtype=np.float64):
    amp = np.linspace(0.0, 20.0, N)
    t = time.perf_counter()
    hh.simulate(hh.step(), t_stop=T, dt=0.01, method=method, amplitude=amp,
                num_threads=threads, dtype=dtype)
    return time.perf_counter() - t


def _duration(work, N):
    """Simulated ms for a scaling point: ``work`` neuron-steps, but at least 20 ms (2000
    steps) so the per-call set-up (~0.2 µs per neuron) stays a small part of the cost."""
    return max(20.0, round(work / N * 0.01, 2))


def scaling(methods, work, repeats, threads, sizes):
    out = []
    for m in methods:
        _w_run(m, 16, 0.1, threads)  # compile / load
        times = {N: [] for N in sizes}
        for _ in range(repeats):
            for N in sizes:
                T = _duration(work, N)
                times[N].append(_w_run(m, N, T, threads))
        base = None
        for N in sizes:
            T = _duration(work, N)
            rate = N * round(T / 0.01) / statistics.median(times[N])
            base = base or rate
            out.append(dict(method=m, N=N, T=T, rate=rate, rel=rate / base,
                            spread=max(times[N]) / min(times[N])))
            spread = max(times[N]) / min(times[N])
            print(f"{m:9} N={N:>8} T={T:>7} ms  {rate:10.3g} neuron-steps/s  "
                  f"x{rate / base:5.2f} of N={sizes[0]}  spread {spread:.2f}", flush=True)
    return out


def threads_cmp(methods, repeats, T):
    out = []
    for m in methods:
        t1, t2 = [], []
        for _ in range(repeats):
            t1.append(_w_run(m, 1000, T, 1))
            t2.append(_w_run(m, 1000, T, 2))
        r1 = 1000 * T / 0.01 / statistics.median(t1)
        r2 = 1000 * T / 0.01 / statistics.median(t2)
        out.append(dict(method=m, one=r1, two=r2, speedup=r2 / r1))
        print(f"{m:9} N=1000 T={T} ms  1 thread {r1:.3g}  2 threads {r2:.3g}  x{r2 / r1:.2f}",
              flush=True)
    return out


def gist_warm():
    stim = hh.pulses([(0, 1, 150), (10, 11, 50)])
    hh.simulate(stim, t_stop=50)
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        hh.simulate(stim, t_stop=50, dt=0.01, method="rk4")
        ts.append(time.perf_counter() - t)
    med = statistics.median(ts)
    print(f"gist (1 neuron x 50 ms, rk4, dt=0.01) warm: median {med * 1e3:.2f} ms, "
          f"min {min(ts) * 1e3:.2f} ms", flush=True)
    return dict(median_s=med, min_s=min(ts))


_MEMORY_CHILD = r"""
import json, sys, tracemalloc
import numpy as np
import hhfast as hh

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])  # KiB

method, N = sys.argv[1], int(sys.argv[2])
hh.simulate(hh.step(), t_stop=0.1, method=method, amplitude=np.ones(16))   # load the kernel
amp = np.linspace(0, 20, N)  # the input (8 MB) is the caller's, not counted
base = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
tracemalloc.start()
res = hh.simulate(hh.step(), t_stop=5.0, dt=0.01, method=method, amplitude=amp)
cur, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps(dict(base_kib=base, peak_kib=status("VmHWM:"), tracemalloc_peak=peak,
                      spikes=int(res.spike_count.sum()))))
"""


def memory(methods, N):
    out = []
    for m in methods:
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, m, str(N)],
                              capture_output=True, text=True, check=True)
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        above = (d["peak_kib"] - d["base_kib"]) / 1024
        out.append(dict(method=m, N=N, rss_above_baseline_mib=above,
                        tracemalloc_peak_mib=d["tracemalloc_peak"] / 2**20))
        print(f"{m:9} N={N}: peak RSS {above:.0f} MiB above the baseline "
              f"({d['base_kib'] / 1024:.0f} MiB after import + kernel load, VmHWM reset); "
              f"tracemalloc peak {d['tracemalloc_peak'] / 2**20:.0f} MiB", flush=True)
    return out


_COMPILE_CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import hhfast as hh
t1 = time.perf_counter()
hh.simulate(hh.pulses([(0, 1, 150), (10, 11, 50)]), t_stop=50)
t2 = time.perf_counter()
spent = hh.warmup()
print(json.dumps(dict(import_s=t1 - t0, first_call_s=t2 - t1,
                      kernels={f"{m}/{d}": s for (m, d), s in spent.items()})))
"""


def compile_times():
    with tempfile.TemporaryDirectory(prefix="hhfast-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for label in ("cold (empty cache)", "cached (second process)"):
            proc = subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env,
                                  capture_output=True, text=True, check=True)
            d = json.loads(proc.stdout.strip().splitlines()[-1])
            d["label"] = label
            runs.append(d)
    cold, warm = runs
    # warmup() in the cold process compiled all but rk4/float64 (the first call did that one)
    print(f"import hhfast: {cold['import_s']:.2f} s cold, {warm['import_s']:.2f} s cached")
    print(f"first call (the gist, rk4 float64): {cold['first_call_s']:.1f} s with an empty "
          f"cache (compiles), {warm['first_call_s']:.2f} s with the cache")
    for k in cold["kernels"]:
        c = cold["kernels"][k]
        if k == "rk4/float64":
            c = cold["first_call_s"]
        print(f"  kernel {k:18} compile {c:6.1f} s   load from cache {warm['kernels'][k]:.3f} s")
    return runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--work", type=float, default=1e8, help="neuron-steps per scaling point")
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma list of: scaling,threads,gist,memory,"
                                               "compile")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    skip = set(filter(None, args.skip.split(",")))
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    res = {}
    if "scaling" not in skip:
        print(f"-- scaling ({args.threads} threads, {args.work:.0e} neuron-steps per point)")
        res["scaling"] = scaling(methods, args.work, args.repeats, args.threads, sizes)
    if "threads" not in skip:
        print("-- threads")
        res["threads"] = threads_cmp(methods, args.repeats, 200.0)
    if "gist" not in skip:
        print("-- small runs")
        res["gist"] = gist_warm()
    if "memory" not in skip:
        print("-- memory, no recording")
        res["memory"] = memory(methods, 1_000_000)
    if "compile" not in skip:
        print("-- compile and cache-load times (fresh processes)")
        res["compile"] = compile_times()
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
