"""Cold compile time of every kernel: each (method, dtype) in a fresh process with an empty
Numba cache (``NUMBA_CACHE_DIR`` in a temporary folder), then the time to load it from that
cache in a second process.

    python benchmarks/compile_times.py [--method rk4 ...] [--dtype float64 ...]

Prints wall and CPU seconds of the first call (the compile) and of the cached load.  CPU
seconds are the figure to compare on a shared machine: wall time there grows with the load.
"""

from __future__ import annotations

import argparse
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
m, d = sys.argv[1], sys.argv[2]
w, c = time.perf_counter(), time.process_time()
hh.simulate(hh.step(), t_stop=0.01, dt=0.01, method=m, dtype=np.dtype(d))
print(f"{time.perf_counter() - w:.3f} {time.process_time() - c:.3f}")
"""


def main(argv=None) -> int:
    from hhfast.kernels import METHODS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"],
                    choices=["float64", "float32"])
    args = ap.parse_args(argv)
    print("method,dtype,compile_wall_s,compile_cpu_s,cached_wall_s,cached_cpu_s")
    for m in args.method:
        for d in args.dtype:
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache, HHFAST_QUIET_COMPILE="1",
                           PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
                times = []
                for _ in range(2):  # compile, then load from the cache
                    p = subprocess.run([sys.executable, "-c", PROBE, m, d], env=env,
                                       capture_output=True, text=True, check=True)
                    times += p.stdout.split()
                print(",".join([m, d, *times]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
