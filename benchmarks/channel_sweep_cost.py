"""Cost per neuron-step of the channel-noise kernels, per core, for the sweep's batch sizing
(``config.SWEEP_CORE_NS_PER_NEURON_STEP``).

Workload: 4096 neurons at 100 µm² (the default densities), zero current (spontaneous firing,
the kernels' cost does not depend on the area), 20 ms at dt = 0.01 ms (2000 steps), spike
counting, no traces; ``--threads`` Numba threads (default 1: the per-core cost).  The
deterministic and current-noise ``euler`` kernels run interleaved in the same repeats as a
yardstick (the machine is shared: only figures taken in one run compare).  Reported: the
best of ``--repeats`` wall times per row, as ns per neuron-step per thread
(``wall * threads / (neurons * steps)``).

Usage::

    python benchmarks/channel_sweep_cost.py [--repeats 5] [--threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import hhfast as hh

ROWS = {
    "euler": {},
    "euler+noise": dict(noise_sigma=1.0),
    "channel": dict(channel_noise="channel"),
    "shielding": dict(channel_noise="shielding"),
    "subunit": dict(channel_noise="subunit"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=4096)
    ap.add_argument("--t-stop", type=float, default=20.0)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    a = ap.parse_args()
    amp = np.zeros(a.neurons)
    for kw in ROWS.values():  # compile or load every kernel first
        hh.simulate(hh.step(), 0.02, dt=a.dt, method="euler", amplitude=amp[:16], **kw)
    times = {k: [] for k in ROWS}
    for _ in range(a.repeats):
        for name, kw in ROWS.items():
            t = time.perf_counter()
            res = hh.simulate(hh.step(), a.t_stop, dt=a.dt, method="euler", amplitude=amp,
                              num_threads=a.threads, max_spikes=0, **kw)
            times[name].append(time.perf_counter() - t)
    steps = res.n_steps
    out = {}
    print(f"{a.neurons} neurons x {steps} steps (dt={a.dt} ms), {a.threads} thread(s), best "
          f"of {a.repeats}")
    for name, ts in times.items():
        ns = min(ts) * a.threads / (a.neurons * steps) * 1e9
        out[name] = ns
        print(f"  {name:12s} {ns:7.2f} ns per neuron-step per thread  "
              f"({a.neurons * steps / min(ts):.3g} neuron-steps/s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"neurons": a.neurons, "steps": steps, "threads": a.threads,
                       "ns_per_neuron_step": out, "wall_s": times}, f, indent=1)


if __name__ == "__main__":
    main()
