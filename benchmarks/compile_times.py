"""Cold compile time of every kernel: each (kernel, dtype) in a fresh process with an empty
Numba cache (``NUMBA_CACHE_DIR`` in a temporary folder), then the time to load it from that
cache in a second process.

    python benchmarks/compile_times.py [--method rk4 ...] [--dtype float64 ...]
                                       [--terms plain noise] [--channel channel shielding ...]
                                       [--json out.json]

A kernel is a method with its terms: ``plain`` (deterministic), ``noise`` (current noise), and
each channel-noise model.  Each compile starts from an empty cache, so the shared helpers (the
right-hand side, the event pass, Philox) are compiled inside every figure: it is what a user
with a fresh installation waits for the first kernel.  Prints wall and CPU seconds of the
first call (the compile) and of the cached load.  CPU seconds are the figure to compare on a
shared machine: wall time there grows with the load.
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

PROBE = """
import sys, time
import numpy as np
import hhfast as hh
m, d, terms = sys.argv[1], sys.argv[2], sys.argv[3]
kw = dict(method=m) if terms != "channel" else dict(channel_noise=m)
if terms == "noise":
    kw["noise_sigma"] = 1.0
w, c = time.perf_counter(), time.process_time()
hh.simulate(hh.step(), t_stop=0.01, dt=0.01, dtype=np.dtype(d), **kw)
print(f"{time.perf_counter() - w:.3f} {time.process_time() - c:.3f}")
"""


def measure(name: str, dtype: str, terms: str) -> dict:
    """Compile in a fresh cache, then load from it: wall and CPU seconds of each."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, HHFAST_QUIET_COMPILE="1",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        times = []
        for _ in range(2):  # compile, then load from the cache
            p = subprocess.run([sys.executable, "-c", PROBE, name, dtype, terms], env=env,
                               capture_output=True, text=True, check=True)
            times += [float(x) for x in p.stdout.split()]
    return dict(kernel=name, terms=terms, dtype=dtype, compile_wall_s=times[0],
                compile_cpu_s=times[1], cached_wall_s=times[2], cached_cpu_s=times[3])


def main(argv=None) -> int:
    from hhfast.kernels import CHANNELS, METHODS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"],
                    choices=["float64", "float32"])
    ap.add_argument("--terms", nargs="+", default=["plain", "noise"], choices=["plain", "noise"])
    ap.add_argument("--channel", nargs="*", default=list(CHANNELS), choices=list(CHANNELS))
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    todo = [(m, d, t) for m in args.method for t in args.terms for d in args.dtype
            if METHODS[m].kind == "fixed" or (t == "plain" and d == "float64")]
    todo += [(c, d, "channel") for c in args.channel for d in args.dtype]
    print("kernel,terms,dtype,compile_wall_s,compile_cpu_s,cached_wall_s,cached_cpu_s")
    rows = []
    for m, d, t in todo:
        r = measure(m, d, t)
        rows.append(r)
        print(",".join(str(v) for v in r.values()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
