"""Does the spike rate of a noisy neuron converge as dt shrinks?  (issue 22, item 6)

The protocol of the issue: classic HH at a constant 6.6 µA/cm² (a step at t = 0) with white
current noise ``noise_sigma = 3`` µA/cm²·ms^½, spike threshold 20 mV (above rest), 400
neurons (trials 0..399, ``seed`` 1) for 1000 ms; the mean rate over the whole run (Hz) and its
standard error (SD over neurons / sqrt(400)) at dt = 0.01, 0.005 and 0.0025 ms, for rk4 and
euler.  A detector that re-arms as soon as V is back below threshold counts the noise jitter
of each crossing as extra spikes, more of them the finer the step; with a re-arm margin
(``spike_rearm``, mV below threshold) the rate converges.

    python benchmarks/noisy_rate_dt.py [--rearm 0 10 ...] [--methods rk4 euler]
        [--neurons 400] [--t-stop 1000] [--out benchmarks/results/noisy_rate_dt.json]

``--rearm`` lists the margins to run (mV); ``default`` means the library's default (what an
unpatched hhfast, which has no ``spike_rearm``, always runs).  Each row of the JSON output:
method, rearm, dt, mean rate, SE, wall seconds; the table printed at the end gives the
relative change and its size in SE between dt = 0.005 and 0.0025.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import numpy as np

import hhfast as hh

DTS = (0.01, 0.005, 0.0025)


def rates(method: str, dt: float, rearm, neurons: int, t_stop: float, seed: int) -> np.ndarray:
    """Per-neuron spike rate (Hz) over the whole run, for the protocol above."""
    kw = {} if rearm == "default" else {"spike_rearm": float(rearm)}
    res = hh.simulate(hh.step(), t_stop, dt=dt, method=method, amplitude=6.6,
                      noise_sigma=3.0, threshold=20.0, trial=np.arange(neurons), seed=seed,
                      max_spikes=0, **kw)
    return res.spike_count / (res.t_stop - res.t_start) * 1000.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rearm", nargs="+", default=["default"])
    ap.add_argument("--methods", nargs="+", default=["rk4", "euler"])
    ap.add_argument("--neurons", type=int, default=400)
    ap.add_argument("--t-stop", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/noisy_rate_dt.json"))
    a = ap.parse_args(argv)
    has_rearm = "spike_rearm" in inspect.signature(hh.simulate).parameters
    rows = []
    for method in a.methods:
        for rearm in a.rearm:
            if rearm != "default" and not has_rearm:
                raise SystemExit("this hhfast has no spike_rearm: run with --rearm default")
            for dt in DTS:
                t = time.perf_counter()
                r = rates(method, dt, rearm, a.neurons, a.t_stop, a.seed)
                row = dict(method=method, rearm=rearm, dt=dt, rate=float(r.mean()),
                           se=float(r.std(ddof=1) / np.sqrt(r.size)),
                           wall_s=round(time.perf_counter() - t, 2))
                rows.append(row)
                print(json.dumps(row), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(dict(
        protocol=dict(amplitude=6.6, noise_sigma=3.0, threshold=20.0, neurons=a.neurons,
                      t_stop=a.t_stop, seed=a.seed, default_rearm=getattr(
                          hh.config, "SPIKE_REARM_MV", 0.0)),
        rows=rows), indent=1) + "\n")
    print("\nmethod  rearm     " + "  ".join(f"dt={dt:<8g}" for dt in DTS)
          + "  change 0.005->0.0025")
    for method in a.methods:
        for rearm in a.rearm:
            sel = {r["dt"]: r for r in rows if r["method"] == method and r["rearm"] == rearm}
            cells = "  ".join(f"{sel[dt]['rate']:6.2f}±{sel[dt]['se']:.2f}" for dt in DTS)
            a5, a25 = sel[0.005], sel[0.0025]
            d = a25["rate"] - a5["rate"]
            se = float(np.hypot(a5["se"], a25["se"]))
            print(f"{method:6s}  {rearm:8s}  {cells}  {100 * d / a5['rate']:+.2f} % "
                  f"({d / se:+.1f} SE, SE {se:.2f} Hz)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
