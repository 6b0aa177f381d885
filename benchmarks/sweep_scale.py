"""Sweeps at scale: wall time, peak memory, overhead versus raw simulate(), Dask scaling.

Every measurement runs in a fresh child process (so its peak RSS is its own) after a warm-up
call that loads the cached kernels (compile time excluded).  Runs:

* ``raw``    one ``hh.simulate`` call over the whole broadcast grid + ``window_metrics``:
             the yardstick, the same work without any sweep machinery;
* ``sweep``  ``hh.sweep`` of the same grid into a Zarr store (local, all cores);
* ``daskN``  the same sweep on ``LocalCluster(n_workers=N, threads_per_worker=1,
             processes=True)`` (the store written by the workers).

Throughput is neuron-steps/s; the overhead is sweep time / raw time - 1 in the same run.
Peak memory is the child's ``ru_maxrss`` (and, for Dask, the largest worker's) minus nothing:
compare it between grid sizes to see that it does not grow with the number of points.

    python benchmarks/sweep_scale.py --grid 1000x1000 --modes raw,sweep
    python benchmarks/sweep_scale.py --grid 100x1000 --modes raw,sweep,dask1,dask2 --repeats 3
    python benchmarks/sweep_scale.py --grid 1000x1000 --t-stop 20 --modes sweep --verify
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def _grid_axes(spec: str):
    import numpy as np

    na, ng = (int(x) for x in spec.lower().split("x"))
    return np.linspace(0.0, 20.0, na), np.linspace(20.0, 50.0, ng)


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds used by this process so far (all threads): unlike wall time, it hardly
    depends on what else the machine runs, so it measures overhead on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(mode: str, args) -> dict:
    import numpy as np

    import hhfast as hh
    from hhfast.analysis import window_metrics

    amps, gks = _grid_axes(args.grid)
    run = {"t_stop": args.t_stop, "dt": args.dt, "method": args.method}
    stim = hh.step(start=0.0)
    hh.simulate(stim, amplitude=np.ones(16), **{**run, "t_stop": args.dt * 10})  # warm-up
    rss0 = _maxrss_mib()
    n_steps = math.ceil(args.t_stop / args.dt * (1 - 1e-9))
    out = {"mode": mode, "points": amps.size * gks.size, "n_steps": n_steps,
           "rss_after_warmup_mib": rss0}
    if mode == "raw":
        c0, t0 = _cpu_s(), time.perf_counter()
        res = hh.simulate(stim, amplitude=amps[:, None], gK=gks[None, :], max_spikes=0, **run)
        window_metrics(res)
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = _cpu_s() - c0
        out["peak_rss_mib"] = _maxrss_mib()
        return out
    store = tempfile.mkdtemp(prefix="hhfast-bench-") + "/s.zarr"
    g = hh.grid(amplitude=amps, gK=gks)
    client = cluster = None
    try:
        if mode.startswith("dask"):
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=int(mode[4:]), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
            warm = hh.grid(amplitude=[1.0, 2.0], gK=[36.0])  # load kernels in every worker
            client.run(lambda: hh.simulate(stim, amplitude=np.ones(16),
                                           **{**run, "t_stop": args.dt * 10}) and None)
            hh.sweep(warm, stim, **{**run, "t_stop": args.dt * 10}, client=client,
                     progress=False)
        wc0 = sum(client.run(_cpu_s).values()) if client is not None else 0.0
        c0, t0 = _cpu_s(), time.perf_counter()
        hh.sweep(g, stim, **run, store=store, client=client, progress=False)
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = _cpu_s() - c0  # with Dask: the client's share (scheduling, bookkeeping)
        if client is not None:  # ... plus the workers' (a dead worker's would be lost)
            out["cpu_s"] += sum(client.run(_cpu_s).values()) - wc0
        out["peak_rss_mib"] = _maxrss_mib()
        if client is not None:
            rss = client.run(_maxrss_mib)
            out["worker_peak_rss_mib"] = max(rss.values())
        ds = hh.open_sweep(store)
        out["done"] = int(ds.done.sum())
        if args.verify:  # read and check every chunk of the finished store
            t0 = time.perf_counter()
            out["verify_damaged"] = len(hh.verify_sweep(store))
            out["verify_s"] = time.perf_counter() - t0
            out["store_mib"] = sum(p.stat().st_size for p in pathlib.Path(store).rglob("*")
                                   if p.is_file()) / 2**20
    finally:
        if client is not None:
            client.close()
            cluster.close()
        shutil.rmtree(store.rsplit("/", 1)[0], ignore_errors=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="1000x1000", help="AMPLITUDESxGK (default %(default)s)")
    p.add_argument("--t-stop", type=float, default=200.0)
    p.add_argument("--dt", type=float, default=0.05)
    p.add_argument("--method", default="expeuler")
    p.add_argument("--modes", default="raw,sweep", help="comma list of raw,sweep,dask1,dask2")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--verify", action="store_true",
                   help="after each sweep, time hh.verify_sweep over the finished store")
    p.add_argument("--json", help="append the results (one JSON object per line) here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args)))
        return 0
    results = []
    base = [sys.executable, __file__, "--grid", args.grid, "--t-stop", str(args.t_stop),
            "--dt", str(args.dt), "--method", args.method] + (["--verify"] if args.verify else [])
    for rep in range(args.repeats):
        for mode in args.modes.split(","):  # interleaved, so machine load hits all alike
            r = subprocess.run(base + ["--child", mode], capture_output=True, text=True,
                               check=True)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            res["repeat"] = rep
            res["neuron_steps_per_s"] = res["points"] * res["n_steps"] / res["wall_s"]
            results.append(res)
            extra = (f", worker peak {res['worker_peak_rss_mib']:.0f} MiB"
                     if "worker_peak_rss_mib" in res else "")
            print(f"{mode:6s} rep {rep}: {res['points']} points x {res['n_steps']} steps: "
                  f"{res['wall_s']:.1f} s (CPU {res.get('cpu_s', math.nan):.1f} s), "
                  f"{res['neuron_steps_per_s']:.3g} neuron-steps/s, "
                  f"peak RSS {res['peak_rss_mib']:.0f} MiB "
                  f"(after warm-up {res['rss_after_warmup_mib']:.0f}){extra}", flush=True)
            if "verify_s" in res:
                print(f"       verify_sweep: {res['verify_s']:.2f} s for a {res['store_mib']:.1f} "
                      f"MiB store, {res['verify_damaged']} damaged chunks", flush=True)
    best, cpu = {}, {}
    for r in results:
        best[r["mode"]] = min(best.get(r["mode"], math.inf), r["wall_s"])
        cpu[r["mode"]] = min(cpu.get(r["mode"], math.inf), r.get("cpu_s", math.nan))
    if "raw" in best:
        for m, w in best.items():
            if m != "raw":
                print(f"{m}: best wall {w:.1f} s = raw x {w / best['raw']:.3f} "
                      f"(overhead {100 * (w / best['raw'] - 1):+.1f} %); CPU {cpu[m]:.1f} s = "
                      f"raw x {cpu[m] / cpu['raw']:.3f} ({100 * (cpu[m] / cpu['raw'] - 1):+.1f} %)")
    if "dask1" in best and "dask2" in best:
        print(f"strong scaling 1 -> 2 workers: speed-up {best['dask1'] / best['dask2']:.2f}")
    if args.json:
        with open(args.json, "a") as f:
            for r in results:
                f.write(json.dumps({**r, "grid": args.grid, "dt": args.dt,
                                    "method": args.method, "t_stop": args.t_stop}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
