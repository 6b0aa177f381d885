"""Measurements of the exact Markov-chain reference (``hhfast.reference.markov``).

* ``rate``: spontaneous firing rate (Hz) at I = 0 for areas 10..1000 µm² (classic HH, 6.3 °C,
  rho_Na = 60, rho_K = 18 per µm²), with its standard error sqrt(count) / (neurons x time);
  the first ``--burn`` ms of each neuron are left out (start from the rounded resting
  occupancies).
* ``dt``: convergence in the voltage step: the spontaneous rate at ``--dt-area`` and the
  gist's spike times at 10^4 µm² for dt = 0.04, 0.02, 0.01, 0.005 ms (same seeds).
* ``gist``: the gist's spike times (50 ms) at large areas against ``hhfast.reference.solve``
  (scipy, rtol = atol = 1e-10): mean and standard deviation over neurons of each spike time.
* ``speed``: neuron-seconds simulated per wall second, one thread, at each area (and the
  transitions per second); compile time excluded.

Results go to stdout and, as JSON, to ``--out``.  Usage::

    python benchmarks/markov_reference.py [--parts rate,dt,gist,speed] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import hhfast as hh
from hhfast.reference import markov, solve


def spontaneous(area, n, t_ms, burn, seed, dt=None, num_threads=None):
    kw = {} if dt is None else {"dt": dt}
    r = markov(hh.step(amplitude=0.0), burn + t_ms, seed=seed, area=np.full(n, float(area)),
               window=(burn, burn + t_ms), num_threads=num_threads, **kw)
    c = int(r.window_count.sum())
    T = n * t_ms * 1e-3
    return {"area": area, "neurons": n, "seconds_each": t_ms * 1e-3, "spikes": c,
            "rate_hz": c / T, "se_hz": np.sqrt(max(c, 1)) / T}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="rate,dt,gist,speed")
    ap.add_argument("--out", default=None)
    ap.add_argument("--burn", type=float, default=50.0)
    ap.add_argument("--dt-area", type=float, default=30.0)
    ap.add_argument("--big", type=float, nargs="*", default=[1e4, 1e5])
    args = ap.parse_args()
    parts = args.parts.split(",")
    out = {}
    markov(hh.step(amplitude=0.0), 1.0, seed=0)  # compile
    if "rate" in parts:
        plan = [(10, 8, 2000.0), (30, 8, 2000.0), (100, 8, 2000.0), (300, 4, 2000.0),
                (1000, 2, 5000.0)]
        out["rate"] = []
        for area, n, t in plan:
            row = spontaneous(area, n, t, args.burn, seed=11)
            out["rate"].append(row)
            print(f"area {area:6g} µm²: {row['rate_hz']:7.2f} ± {row['se_hz']:.2f} Hz "
                  f"({row['spikes']} spikes in {n} x {t / 1000:g} s)", flush=True)
    if "dt" in parts:
        out["dt"] = []
        ref = solve(hh.gist(), 50.0).spike_times[0]
        for dt in (0.04, 0.02, 0.01, 0.005):
            row = spontaneous(args.dt_area, 8, 2000.0, args.burn, seed=12, dt=dt)
            g = markov(hh.gist(), 50.0, seed=13, area=np.full(4, 1e4), dt=dt)
            err = [list(map(float, g.spike_times[i][:2] - ref[:2])) for i in range(4)]
            row.update(dt=dt, gist_1e4_error_ms=err)
            out["dt"].append(row)
            print(f"dt {dt:6g} ms: rate at {args.dt_area:g} µm² {row['rate_hz']:7.2f} ± "
                  f"{row['se_hz']:.2f} Hz; gist spike-time errors at 1e4 µm² (ms) "
                  f"{np.round(err, 4).tolist()}", flush=True)
    if "gist" in parts:
        ref = solve(hh.gist(), 50.0).spike_times[0]
        out["gist"] = {"reference_ms": ref.tolist(), "areas": []}
        for area in args.big:
            n = 8 if area <= 1e4 else (2 if area <= 1e5 else 1)
            t0 = time.perf_counter()
            g = markov(hh.gist(), 50.0, seed=14, area=np.full(n, area))
            wall = time.perf_counter() - t0
            st = np.array([g.spike_times[i] for i in range(n)])
            row = {"area": area, "neurons": n, "counts": g.spike_count.tolist(),
                   "times_ms": st.tolist(), "mean_error_ms": (st.mean(0) - ref).tolist(),
                   "sd_ms": st.std(0, ddof=1).tolist() if n > 1 else None, "wall_s": wall}
            out["gist"]["areas"].append(row)
            print(f"gist at {area:g} µm²: errors {np.round(st - ref, 5).tolist()} ms "
                  f"({wall:.1f} s)", flush=True)
    if "speed" in parts:
        out["speed"] = []
        for area, t in ((10, 2000.0), (100, 500.0), (1000, 100.0), (10000, 20.0)):
            t0 = time.perf_counter()
            r = markov(hh.step(amplitude=0.0), t, seed=15, area=float(area), num_threads=1)
            wall = time.perf_counter() - t0
            ev = int(r.info["events"].sum())
            row = {"area": area, "neuron_s_per_s": t * 1e-3 / wall, "events_per_s": ev / wall,
                   "ns_per_event": wall / ev * 1e9}
            out["speed"].append(row)
            print(f"speed at {area:6g} µm²: {row['neuron_s_per_s']:.3g} neuron-s/s, "
                  f"{row['events_per_s']:.3g} transitions/s ({row['ns_per_event']:.0f} "
                  f"ns each)", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
