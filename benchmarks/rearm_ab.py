"""In-process A/B throughput of the spike detector's re-arm change: this tree's hhfast against a
baseline tree's package copied under the name ``hhfast_base`` (its imports are relative), timed
in one process, interleaved (9 rounds), so that the load of a shared machine hits both alike.

    cp -r /path/to/baseline/hhfast DIR/hhfast_base
    PYTHONPATH=. python benchmarks/rearm_ab.py ROUNDS OUT.json DIR

Workload W (1000 neurons, steps linspace(0, 20, 1000) µA/cm², dt = 0.01 ms, 100 ms, 1 thread),
euler and rk4, noiseless and white noise (sigma = 1): median neuron-steps/s, the ratio to the
same tree's noiseless euler, and after/before.
"""
import json
import sys
import time

import numpy as np

sys.path.insert(0, sys.argv[3])
import hhfast_base as B  # noqa: E402

import hhfast as A  # noqa: E402

amp = np.linspace(0.0, 20.0, 1000)
T = 100.0
rows = [(lib, m, n) for m in ("euler", "rk4") for n in ("none", "white") for lib in ("after", "before")]
mods = {"after": A, "before": B}
def run(lib, m, n, t):
    kw = {} if n == "none" else dict(noise_sigma=1.0)
    hh = mods[lib]
    t0 = time.perf_counter()
    hh.simulate(hh.step(), t, method=m, amplitude=amp, num_threads=1, max_spikes=0, **kw)
    return time.perf_counter() - t0
for r in rows:
    run(*r, 0.02)  # compile or load
print("compiled", flush=True)
times = {r: [] for r in rows}
for _ in range(int(sys.argv[1])):
    for r in rows:
        times[r].append(run(*r, T))
steps = 1000 * round(T / 0.01)
med = {r: float(np.median(v)) for r, v in times.items()}
out = []
for r in rows:
    lib, m, n = r
    ab = med[("before", m, n)] / med[("after", m, n)] if lib == "after" else None
    out.append(dict(tree=lib, method=m, noise=n, steps_per_s=steps / med[r],
                    ratio_to_euler=med[(lib, "euler", "none")] / med[r], after_over_before=ab))
    tail = f"  after/before {ab:.3f}" if ab is not None else ""
    print(f"{lib:7s} {m:6s} {n:6s} {steps / med[r]:10.3e} x{out[-1]['ratio_to_euler']:.3f}{tail}",
          flush=True)
what = f"W: 1000 neurons x {steps // 1000} steps, 1 thread, median of {sys.argv[1]} interleaved"
with open(sys.argv[2], "w") as f:
    json.dump(dict(workload=what + " in one process", rows=out), f, indent=1)
