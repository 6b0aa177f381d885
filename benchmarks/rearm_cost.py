"""What the re-arm hysteresis of the spike detector costs: throughput and cold compile of the
euler and rk4 kernels, noiseless and with white noise, in this tree and a baseline tree.

Throughput: workload W (1000 neurons, step currents linspace(0, 20, 1000) µA/cm², dt = 0.01 ms,
``--t-stop`` ms, spike counting, no traces) on ``--threads`` threads; noisy rows add white
noise (``noise_sigma = 1``).  Every row runs in its own child process, rows interleaved per
repeat (the machine is shared: only ratios taken in one run mean something); the median over
``--repeats`` in neuron-steps/s and as a ratio to the noiseless euler of the same tree.

Cold compile (``--compile``): each kernel in a fresh process with an empty Numba cache
(``NUMBA_CACHE_DIR`` in a temporary folder): wall and CPU seconds of the first call (CPU is
the figure to compare on a loaded machine).

    python benchmarks/rearm_cost.py --baseline /tmp/base [--repeats 5] [--compile]
        [--out benchmarks/results/rearm_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
import hhfast as hh
method, t_stop, threads, noise = sys.argv[1:5]
kw = {} if noise == "none" else dict(noise_sigma=1.0)
amp = np.linspace(0.0, 20.0, 1000)
hh.simulate(hh.step(), 0.02, method=method, amplitude=amp, **kw)  # compile or load
t = time.perf_counter()
hh.simulate(hh.step(), float(t_stop), method=method, amplitude=amp, num_threads=int(threads),
            max_spikes=0, **kw)
print(time.perf_counter() - t)
"""

COLD = r"""
import sys, time
import hhfast as hh
method, noise = sys.argv[1:3]
kw = {} if noise == "none" else dict(noise_sigma=1.0)
w, c = time.perf_counter(), time.process_time()
hh.simulate(hh.step(), 0.02, method=method, **kw)
print(time.perf_counter() - w, time.process_time() - c)
"""


def _child(tree: Path, code: str, args, cache: str | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), HHFAST_QUIET_COMPILE="1")
    if cache:
        env["NUMBA_CACHE_DIR"] = cache
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=tree,
                       capture_output=True, text=True, check=True)
    return r.stdout.strip().splitlines()[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--methods", nargs="+", default=["euler", "rk4"])
    ap.add_argument("--t-stop", type=float, default=200.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/rearm_cost.json"))
    a = ap.parse_args(argv)
    trees = {"this tree": ROOT, "baseline": a.baseline.resolve()}
    rows = [(who, m, n) for who in trees for m in a.methods for n in ("none", "white")]
    times = {r: [] for r in rows}
    n_steps = 1000 * round(a.t_stop / 0.01)
    for _ in range(a.repeats):
        for r in rows:
            times[r].append(float(_child(trees[r[0]], CHILD, [r[1], a.t_stop, a.threads,
                                                              r[2]])))
    med = {r: sorted(v)[len(v) // 2] for r, v in times.items()}
    out = {"workload": f"W: 1000 neurons x {n_steps // 1000} steps, {a.threads} threads, "
                       f"median of {a.repeats}", "throughput": [], "compile": []}
    print(out["workload"] + " (neuron-steps/s, ratio to euler noiseless of the same tree)")
    for (who, m, n), t in med.items():
        ratio = med[(who, "euler", "none")] / t
        out["throughput"].append(dict(tree=who, method=m, noise=n, steps_per_s=n_steps / t,
                                      ratio_to_euler=ratio))
        print(f"  {who:10s} {m:6s} {n:6s} {n_steps / t:10.3e}   x{ratio:.3f}")
    if a.compile:
        print("cold compile, float64, empty cache per kernel (wall s, CPU s):")
        for m in a.methods:
            for n in ("none", "white"):
                for who, tree in trees.items():
                    with tempfile.TemporaryDirectory() as cache:
                        w, c = map(float, _child(tree, COLD, [m, n], cache).split())
                    out["compile"].append(dict(tree=who, method=m, noise=n, wall_s=w, cpu_s=c))
                    print(f"  {who:10s} {m:6s} {n:6s} {w:6.1f} {c:6.1f}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
