"""Work-precision of every method on the sparse workload S and the sustained-firing workload W.

S: 1000 neurons, 1-ms pulses every 100 ms (at 10, 110, ..., 910 ms) for 1000 ms, amplitudes
spread evenly from 0 to twice the 1-ms rheobase, so most neurons are quiet most of the time.
W: 1000 neurons, constant currents linspace(0, 20) µA/cm² from rest (``--w-t-stop`` ms,
default 200 as in ``hhfast bench --work-precision``).

Cost is wall seconds per neuron-second simulated (median of ``--repeats`` runs after a warm-up
that compiles; one run when a run takes over 5 s), error the worst spike-time error (ms) over
every spike of ``--n-ref`` neurons spread evenly over the batch, against the scipy reference
(DOP853, rtol = atol = 1e-11; inf when a spike count differs).  The reference is cached in
``--out`` (``<workload>_reference.npz``) so that a rerun only times the kernels::

    python benchmarks/sparse_workload.py                   # S and W, ~10 min on 2 busy cores
    python benchmarks/sparse_workload.py --workload S --quick

Writes ``sparse_workload.csv`` to ``--out`` and prints a table per workload and, for each
accuracy target, the cheapest fixed-step and the cheapest adaptive run that meet it.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np

import hhfast as hh
from hhfast.reference import solve

FIXED = {
    # rk4 up to just below its stability limit (~0.089 ms on a 10 uA/cm2 step); on S the
    # pulse edges (10, 110, ... ms) lie off the grid of 0.06, 0.07 and 0.08 (second order)
    "rk4": (0.0025, 0.005, 0.01, 0.02, 0.04, 0.05, 0.06, 0.07, 0.08),
    # order 1: far from 1e-4 ms at any affordable dt (1e-3 ms at 0.0005 ms, measured)
    "expeuler": (0.001, 0.01, 0.05),
    "euler": (0.001, 0.01, 0.05),
}
RTOLS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10)
TARGETS = (1e-2, 1e-3, 1e-4, 1e-5)
REF_RTOL = 1e-11


def workload(name: str, n: int, w_t_stop: float):
    """(stimulus, amplitudes, t_stop ms, description)."""
    if name == "S":
        rb = float(hh.rheobase(hh.pulses([(0.0, 1.0, 1.0)]), tol=1e-4, dt=0.001)[0])
        stim = hh.pulse_train(start=10.0, width=1.0, period=100.0, count=10, amplitude=1.0)
        return stim, np.linspace(0.0, 2.0 * rb, n), 1000.0, (
            f"S: {n} neurons, 1-ms pulses every 100 ms, 0-{2 * rb:.3f} uA/cm2 "
            f"(1-ms rheobase {rb:.4f}), 1000 ms")
    return hh.step(), np.linspace(0.0, 20.0, n), w_t_stop, (
        f"W: {n} neurons, steps 0-20 uA/cm2, {w_t_stop:g} ms")


def reference(name, stim, amps, idx, t_stop, out: Path):
    path = out / f"{name}_reference.npz"
    key = np.concatenate([amps[idx], [t_stop, REF_RTOL]])
    if path.exists():
        z = np.load(path)
        if z["key"].shape == key.shape and np.array_equal(z["key"], key):
            return z
    t0 = time.perf_counter()
    ref = solve(stim, t_stop, rtol=REF_RTOL, atol=REF_RTOL, record_dt=t_stop, max_spikes=256,
                amplitude=amps[idx])
    print(f"  reference on {idx.size} neurons: {time.perf_counter() - t0:.1f} s", flush=True)
    np.savez(path, key=key, spikes=ref.spike_times.array, count=ref.spike_count)
    return np.load(path)


def spike_errors(res, idx, ref):
    """Worst and median (over neurons that fired) spike-time error, count mismatches."""
    worst, per = 0.0, []
    mism = 0
    for k, i in enumerate(idx):
        c, cr = int(res.spike_count[i]), int(ref["count"][k])
        if c != cr:
            mism += 1
            worst = math.inf
            continue
        if cr:
            e = float(np.max(np.abs(res.spike_times[int(i)] - ref["spikes"][k, :min(cr, 256)])))
            per.append(e)
            worst = max(worst, e)
    return worst, (float(np.median(per)) if per else 0.0), mism


def timed(stim, t_stop, amps, repeats, **kw):
    walls = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        res = hh.simulate(stim, t_stop, amplitude=amps, max_spikes=256, **kw)
        walls.append(time.perf_counter() - t0)
        if walls[0] > 5.0:
            break
    return res, float(np.median(walls))


def run(name, n, n_ref, repeats, quick, out, w_t_stop):
    stim, amps, t_stop, desc = workload(name, n, w_t_stop)
    print(desc, flush=True)
    idx = np.unique(np.round(np.linspace(0, n - 1, n_ref)).astype(np.int64))
    ref = reference(name, stim, amps, idx, t_stop, out)
    neuron_s = n * t_stop * 1e-3
    plan = [(m, dict(dt=dt)) for m, dts in FIXED.items() for dt in dts]
    plan += [("dopri5", dict(rtol=r)) for r in RTOLS]
    if quick:
        plan = plan[::2]
    rows = []
    for m in sorted({m for m, _ in plan}):
        hh.simulate(stim, 2.0, method=m, amplitude=amps[:16])  # compile outside the timing
    for m, kw in plan:
        res, wall = timed(stim, t_stop, amps, 1 if quick else repeats, method=m, **kw)
        worst, med, mism = spike_errors(res, idx, ref)
        row = {
            "workload": name, "method": m, "dt": kw.get("dt", math.nan),
            "rtol": kw.get("rtol", math.nan), "n_neurons": n, "t_stop": t_stop,
            "wall_s": wall, "cost": wall / neuron_s, "spike_error": worst, "median_error": med,
            "count_mismatch": mism,
            "mean_accepted": float(res.steps_accepted.mean()) if m == "dopri5" else math.nan,
            "mean_rejected": float(res.steps_rejected.mean()) if m == "dopri5" else math.nan,
        }
        rows.append(row)
        knob = f"dt={row['dt']:g}" if m != "dopri5" else f"rtol={row['rtol']:g}"
        print(f"  {m:9s} {knob:12s} {wall:7.3f} s  cost {row['cost']:.3e}  worst {worst:.3g} ms"
              f"  median {med:.3g} ms", flush=True)
    return rows


def summary(rows):
    lines = ["| workload | target (ms) | cheapest fixed-step | cost | cheapest dopri5 | cost "
             "| fixed / dopri5 |", "|---|---|---|---|---|---|---|"]
    for wl in sorted({r["workload"] for r in rows}):
        for tgt in TARGETS:
            ok = [r for r in rows if r["workload"] == wl and r["spike_error"] <= tgt]
            fx = min((r for r in ok if r["method"] != "dopri5"), key=lambda r: r["cost"],
                     default=None)
            ad = min((r for r in ok if r["method"] == "dopri5"), key=lambda r: r["cost"],
                     default=None)
            f = f"{fx['method']} dt={fx['dt']:g}" if fx else "none"
            a = f"rtol={ad['rtol']:g}" if ad else "none"
            ratio = f"{fx['cost'] / ad['cost']:.2f}" if fx and ad else ""
            lines.append(f"| {wl} | {tgt:g} | {f} | {fx['cost'] if fx else math.nan:.3e} | {a} "
                         f"| {ad['cost'] if ad else math.nan:.3e} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", choices=["S", "W", "both"], default="both")
    ap.add_argument("--n-neurons", type=int, default=1000)
    ap.add_argument("--n-ref", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--w-t-stop", type=float, default=200.0)
    ap.add_argument("--quick", action="store_true", help="every other run, no repeats")
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for wl in (("S", "W") if a.workload == "both" else (a.workload,)):
        rows += run(wl, a.n_neurons, a.n_ref, a.repeats, a.quick, out, a.w_t_stop)
    with open(out / "sparse_workload.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print()
    print(summary(rows))
    print(f"\nwrote {out / 'sparse_workload.csv'}")


if __name__ == "__main__":
    main()
