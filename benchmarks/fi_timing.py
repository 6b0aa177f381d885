"""Time the f–I command of docs/guide/fi.md (`hh.fi_curve`, 501 currents, both branches) and compare it with
a plain `hh.simulate` of the same neuron-steps in the same run (the yardstick: the ratio is the
cost of the f–I layer — equilibria, eigenvalues, the bisection of the fold — on top of the
kernel).  Compile time is excluded (a warm-up call first).  Usage:

    python benchmarks/fi_timing.py [--repeats 3] [--num 501] [--branch both]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hhfast as hh
from hhfast import config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num", type=int, default=501)
    ap.add_argument("--branch", default="both", choices=["rest", "both"])
    ap.add_argument("--method", default="rk4")
    args = ap.parse_args()
    currents = np.linspace(0.0, 50.0, args.num)
    t_stop, dt = 1000.0, 0.01
    hh.simulate(hh.step(), t_stop=1.0, dt=dt, method=args.method, amplitude=10.0)  # compile

    branches = 2 if args.branch == "both" else 1
    run_ms = t_stop + (config.FI_RAMP_MS if args.branch == "both" else 0.0)
    steps_main = branches * args.num * round(run_ms / dt)
    for r in range(args.repeats):
        t0 = time.perf_counter()
        fi = hh.fi_curve(currents, t_stop=t_stop, dt=dt, method=args.method, branch=args.branch)
        t_fi = time.perf_counter() - t0
        t0 = time.perf_counter()
        hh.simulate(hh.step(), t_stop=run_ms, dt=dt, method=args.method, max_spikes=0,
                    amplitude=np.tile(currents, branches))
        t_sim = time.perf_counter() - t0
        print(f"repeat {r}: fi_curve({args.num} currents, branch={args.branch!r}) {t_fi:.2f} s; "
              f"plain simulate of its main batch ({steps_main:.2e} neuron-steps) {t_sim:.2f} s "
              f"= {steps_main / t_sim:.3g} neuron-steps/s; fi_curve / simulate = "
              f"{t_fi / t_sim:.2f}; onset {fi.onset:.4f}, band {fi.band}")


if __name__ == "__main__":
    main()
