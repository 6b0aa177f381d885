"""Before/after throughput of the kernels, two source trees timed in alternating processes.

    python benchmarks/engine_ab.py BEFORE_TREE AFTER_TREE [--rounds 3] [--T 200] [--json out]

Each round runs a child process per tree (BEFORE first, then AFTER, then the next round), so
that the load of a shared machine hits both alike.  A child compiles (or loads) every kernel
of its tree first, then times each configuration of workload W (docs/performance.md: 1000
neurons, step currents linspace(0, 20, 1000) µA/cm², dt = 0.01 ms, ``--T`` ms, spike counting,
no traces, 2 threads) — every fixed-step method, deterministic and with white noise
(σ = 1 µA/cm²·ms^½) or an OU current (σ = 1 µA/cm², τ = 2 ms), in float64 and float32, and the
channel-noise models (float64, 100 µm²) — and reports neuron-steps per second (best of
``--reps``).  The table gives, per configuration, the median over rounds of AFTER / BEFORE
measured in the same round, with the spread (min–max) of that ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import numba
import hhfast as hh
numba.set_num_threads(2)
T, reps, only = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
N = 1000
amp = np.linspace(0.0, 20.0, N)
fixed = [m for m, s in hh.methods().items() if s.kind == "fixed"]
confs = []
for d in ("float64", "float32"):
    for m in fixed:
        confs.append((f"{m} {d}", dict(method=m, dtype=np.dtype(d))))
        confs.append((f"{m} {d} white", dict(method=m, dtype=np.dtype(d), noise_sigma=1.0)))
        confs.append((f"{m} {d} OU", dict(method=m, dtype=np.dtype(d), noise_sigma=1.0,
                                          noise_tau=2.0)))
for c in ("channel", "shielding", "subunit"):
    confs.append((f"{c} channel-noise float64", dict(channel_noise=c, area=100.0)))
confs = [(n, kw) for n, kw in confs if all(w in n.split() for w in only.split())]
for _, kw in confs:  # compile or load every kernel first
    hh.simulate(hh.step(), t_stop=0.02, dt=0.01, amplitude=amp[:2], **kw)
out = {}
for name, kw in confs:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        hh.simulate(hh.step(), t_stop=T, dt=0.01, amplitude=amp, **kw)
        best = min(best, time.perf_counter() - t)
    out[name] = N * round(T / 0.01) / best
print(json.dumps(out))
"""


def child(tree: str, T: float, reps: int, cache: str | None, only: str = "") -> dict:
    env = dict(os.environ, HHFAST_QUIET_COMPILE="1")
    env.pop("NUMBA_CACHE_DIR", None)
    if cache:
        env["NUMBA_CACHE_DIR"] = cache
    p = subprocess.run([sys.executable, "-c", CHILD, tree, str(T), str(reps), only],
                       capture_output=True, text=True, check=True, env=env)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--T", type=float, default=200.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--cache-before", default=None, help="NUMBA_CACHE_DIR of BEFORE's children")
    ap.add_argument("--cache-after", default=None, help="NUMBA_CACHE_DIR of AFTER's children")
    ap.add_argument("--only", default="", help="only the configurations whose name has all "
                    "these words, e.g. 'float32' or 'rk4 white'")
    a = ap.parse_args(argv)
    rounds = []
    for r in range(a.rounds):
        t = time.perf_counter()
        b = child(a.before, a.T, a.reps, a.cache_before, a.only)
        f = child(a.after, a.T, a.reps, a.cache_after, a.only)
        rounds.append({"before": b, "after": f})
        print(f"round {r + 1}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    print("| configuration | before (neuron-steps/s) | after | after / before (median) | "
          "spread |")
    print("|---|---|---|---|---|")
    rows = {}
    for name in rounds[0]["before"]:
        ratios = [x["after"][name] / x["before"][name] for x in rounds]
        b = statistics.median(x["before"][name] for x in rounds)
        f = statistics.median(x["after"][name] for x in rounds)
        rows[name] = dict(before=b, after=f, ratio=statistics.median(ratios),
                          spread=(min(ratios), max(ratios)))
        print(f"| {name} | {b:.3g} | {f:.3g} | {statistics.median(ratios):.3f} | "
              f"{min(ratios):.3f}–{max(ratios):.3f} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(T=a.T, rounds=rounds, rows=rows), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
