"""Workload W against the C yardstick, timed in the same run.

Workload W (docs/performance.md): N = 1000 neurons, a step current with amplitude linspace(0, 20, N)
µA/cm² from t = 0, T = 1000 ms, dt = 0.01 ms (1e8 neuron-steps), spike counting on, no
traces.  The yardstick is ``hh_blocked.c`` (hand-written C, blocked layout, ``omp simd``,
glibc's vector exp), compiled here with the system compiler::

    gcc -O3 -march=native -ffast-math -fopenmp -shared -fPIC

hhfast and C runs are interleaved (method by method, repeat by repeat) so that load from
other processes hits both alike; the table gives medians of ``--repeats`` runs and the
spread (max/min) seen.  Both must produce the same spike count for every neuron.

Usage::

    python benchmarks/yardstick/run.py                 # W, 2 threads, 5 repeats
    python benchmarks/yardstick/run.py --T 200 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hhfast as hh
from hhfast.model import resting_state

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "hh_blocked.c"
CFLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp", "-shared", "-fPIC"]
C_BLOCK = 16  # BLOCK in hh_blocked.c
#: every fixed-step method of the registry; hh_blocked.c has a ``run_<name>`` for each of these
METHODS = tuple(m for m, s in hh.methods().items() if s.kind == "fixed")


def build(outdir: Path) -> dict[str, ctypes.CDLL] | str:
    """Compile the yardstick (double and float); return the libraries or why not."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return "no C compiler (gcc/cc) on PATH"
    libs = {}
    for name, defs in (("float64", ["-DREAL=double"]), ("float32", ["-DREAL=float", "-DSINGLE"])):
        so = outdir / f"hh_{name}.so"
        cmd = [cc, *CFLAGS, *defs, str(SOURCE), "-o", str(so), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"compiling the yardstick failed ({' '.join(cmd)}):\n{proc.stderr}"
        lib = ctypes.CDLL(str(so))
        for m in METHODS:
            fn = getattr(lib, f"run_{m}", None)
            if fn is None:  # a method without a C version: its rows have no C column
                continue
            fn.restype = None
            fn.argtypes = [ctypes.c_int64, ctypes.c_double, ctypes.c_int64] + [ctypes.c_void_p] * 4
        libs[name] = lib
    return libs


def run_c(lib, method, amp, T, dt, threads):
    """One W run of the C kernel; returns (seconds, spike counts)."""
    N = amp.size
    npad = -(-N // C_BLOCK) * C_BLOCK
    a = np.empty(npad)
    a[:N], a[N:] = amp, amp[-1]
    y0 = np.repeat(np.array(resting_state(), dtype=float)[:, None], npad, axis=1).copy()
    count = np.zeros(npad, dtype=np.int64)
    first = np.zeros(npad)
    lib.omp_set_num_threads(ctypes.c_int(threads))
    n_steps = int(round(T / dt))
    fn = getattr(lib, f"run_{method}")
    t = time.perf_counter()
    fn(npad, dt, n_steps, a.ctypes.data, y0.ctypes.data, count.ctypes.data, first.ctypes.data)
    return time.perf_counter() - t, count[:N]


def run_hh(method, amp, T, dt, threads, dtype):
    t = time.perf_counter()
    res = hh.simulate(hh.step(), t_stop=T, dt=dt, method=method, amplitude=amp,
                      num_threads=threads, dtype=dtype)
    return time.perf_counter() - t, res.spike_count


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--N", type=int, default=1000, help="neurons (default 1000)")
    ap.add_argument("--T", type=float, default=1000.0, help="simulated ms (default 1000)")
    ap.add_argument("--dt", type=float, default=0.01, help="step in ms (default 0.01)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    dtypes = args.dtypes.split(",")
    amp = np.linspace(0.0, 20.0, args.N)
    steps = args.N * round(args.T / args.dt)

    tmp = tempfile.TemporaryDirectory(prefix="hhfast-yardstick-")
    libs = build(Path(tmp.name))
    if isinstance(libs, str):
        print(f"SKIPPED the C yardstick: {libs}", file=sys.stderr)
        libs = {}

    # warm-up: compile (or load) every kernel, first-touch the C libraries
    for d in dtypes:
        for m in methods:
            run_hh(m, amp[:16], 1.0, args.dt, args.threads, np.dtype(d).type)
            if d in libs and hasattr(libs[d], f"run_{m}"):
                run_c(libs[d], m, amp[:16], 1.0, args.dt, args.threads)

    times: dict[tuple[str, str, str], list[float]] = {}
    counts = {}
    for _ in range(args.repeats):
        for d in dtypes:
            for m in methods:
                s, c = run_hh(m, amp, args.T, args.dt, args.threads, np.dtype(d).type)
                times.setdefault(("hhfast", d, m), []).append(s)
                counts[("hhfast", d, m)] = c
                if d in libs and hasattr(libs[d], f"run_{m}"):
                    s, c = run_c(libs[d], m, amp, args.T, args.dt, args.threads)
                    times.setdefault(("C", d, m), []).append(s)
                    counts[("C", d, m)] = c

    rows = []
    print(f"Workload: N={args.N}, T={args.T} ms, dt={args.dt} ms, {args.threads} threads, "
          f"median of {args.repeats} interleaved repeats; rates in neuron-steps/s")
    print("(ratios of medians; 'best' is the ratio of the fastest runs, less sensitive to other "
          "processes; spread = slowest/fastest run)")
    print(f"{'method':9} {'dtype':8} {'hhfast':>10} {'C yardstick':>12} {'hhfast/C':>9} "
          f"{'best':>5} {'hhfast/C64':>10} {'spread hh':>9} {'spread C':>8} {'spike counts':>14}")
    for d in dtypes:
        for m in methods:
            th = times[("hhfast", d, m)]
            rh = steps / statistics.median(th)
            row = dict(method=m, dtype=d, hhfast=rh, hhfast_spread=max(th) / min(th))
            line = f"{m:9} {d:8} {rh:10.3g}"
            if ("C", d, m) in times:
                tc = times[("C", d, m)]
                rc = steps / statistics.median(tc)
                rc64 = steps / statistics.median(times[("C", "float64", m)]) if (
                    "C", "float64", m) in times else float("nan")
                diff = counts[("hhfast", d, m)] - counts[("C", d, m)]
                agree = "equal" if not diff.any() else (
                    f"{np.count_nonzero(diff)} differ (max {np.abs(diff).max()})")
                best = min(tc) / min(th)
                row.update(C=rc, ratio=rh / rc, ratio_best=best, ratio_c64=rh / rc64,
                           C_spread=max(tc) / min(tc),
                           count_mismatches=int(np.count_nonzero(diff)),
                           spikes_total=int(counts[("hhfast", d, m)].sum()))
                line += (f" {rc:12.3g} {rh / rc:9.2f} {best:5.2f} {rh / rc64:10.2f} "
                         f"{max(th) / min(th):9.2f} {max(tc) / min(tc):8.2f} {agree:>14}")
            rows.append(row)
            print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), rows=rows), indent=1))
    mismatch = any(r.get("count_mismatches", 0) for r in rows if r["dtype"] == "float64")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
