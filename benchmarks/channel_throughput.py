"""Throughput of the channel-noise models on workload W, beside the deterministic kernel and
the exact Markov reference (docs/performance.md).

Workload W: 1000 neurons, step currents linspace(0, 20, 1000) µA/cm² from t = 0, ``--t-stop``
ms (default 1000) at dt = 0.01 ms, spike counting, no traces, ``--threads`` threads (default
2); the channel models at ``--area`` µm² (default 100).  Rows are interleaved per repeat and
each row's median over ``--repeats`` is reported with its ratio to the deterministic ``euler``
kernel of the same run (the machine is shared: only ratios taken in one run mean something).
The Markov reference is too slow for all of W: it runs every ``--markov-stride``-th neuron of
W for ``--markov-ms`` ms at 10, 100 and 1000 µm² (its cost grows with the area, the Langevin
models' does not).

Usage::

    python benchmarks/channel_throughput.py [--threads 2] [--repeats 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--t-stop", type=float, default=1000.0)
    ap.add_argument("--area", type=float, default=100.0)
    ap.add_argument("--markov-stride", type=int, default=32)
    ap.add_argument("--markov-ms", type=float, default=200.0)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    a = ap.parse_args(argv)

    import hhfast as hh
    from hhfast.reference import markov

    cur = np.linspace(0.0, 20.0, 1000)
    rows = {"euler": dict(method="euler"),
            "euler, white current noise": dict(method="euler", noise_sigma=1.0),
            **{f"{m}": dict(channel_noise=m, area=a.area)
               for m in ("channel", "shielding", "subunit")},
            **{f"{m} float32": dict(channel_noise=m, area=a.area, dtype=np.float32)
               for m in ("channel", "shielding", "subunit")}}
    for kw in rows.values():  # compile (or load) first
        hh.simulate(hh.step(), 0.1, amplitude=cur[:16], num_threads=a.threads, **kw)
    steps = cur.size * round(a.t_stop / 0.01)
    times = {k: [] for k in rows}
    for _ in range(a.repeats):
        for name, kw in rows.items():
            t = time.perf_counter()
            hh.simulate(hh.step(), a.t_stop, amplitude=cur, num_threads=a.threads, max_spikes=0,
                        **kw)
            times[name].append(time.perf_counter() - t)
    out = {"workload": f"W: 1000 neurons x {a.t_stop:g} ms, dt 0.01 ms, {a.threads} threads",
           "area": a.area, "rows": {}}
    base = steps / np.median(times["euler"])
    print(f"{'row':32s} {'neuron-steps/s':>15s} {'neuron-s/s':>11s} {'x euler':>8s}")
    for name in rows:
        rate = steps / np.median(times[name])
        out["rows"][name] = dict(steps_per_s=rate, neuron_s_per_s=rate * 1e-5,
                                 ratio=rate / base)
        print(f"{name:32s} {rate:15.3g} {rate * 1e-5:11.4g} {rate / base:8.3f}", flush=True)
    sub = cur[:: a.markov_stride]
    markov(hh.step(), 0.1, seed=0, amplitude=sub[:2], num_threads=a.threads)
    for area in (10.0, 100.0, 1000.0):
        t = time.perf_counter()
        markov(hh.step(), a.markov_ms, seed=1, amplitude=sub, area=area, num_threads=a.threads,
               max_spikes=0)
        w = time.perf_counter() - t
        ns = sub.size * a.markov_ms * 1e-3 / w
        out["rows"][f"markov {area:g} µm²"] = dict(neuron_s_per_s=ns, ratio=ns * 1e5 / base)
        print(f"{'markov ' + format(area, 'g') + ' µm²':32s} {'':15s} {ns:11.4g} "
              f"{ns * 1e5 / base:8.2g}", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
