"""Memory of a huge sweep in its first minute (issue 22: a grid is never materialised).

Runs ``hhfast sweep`` on a TOML spec with one axis of N points given as ``{start, stop, num}``
in a subprocess, samples its resident set size (psutil) every 0.2 s, and kills it after
``--seconds``.  Prints one JSON line: peak RSS, RSS when the first metric chunk file appeared,
the number of metric chunk files written, and how the process ended.  ``--cap-gb`` sets an
address-space limit (RLIMIT_AS) on the child, so that measuring the old behaviour cannot take
the memory of a shared machine.

    python benchmarks/sweep_memory.py --points 1e9 --seconds 60 --cap-gb 6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=float, default=1e9)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--cap-gb", type=float, default=None)
    args = ap.parse_args()
    n = int(args.points)
    tmp = Path(tempfile.mkdtemp(prefix="hhfast-sweep-mem-"))
    spec = tmp / "big.toml"
    spec.write_text(f"""t_stop = 1.0
dt = 0.01
method = "euler"
metrics = ["spike_count"]
store = "{tmp / 'big.zarr'}"
[stimulus]
type = "step"
amplitude = 1.0
[axes]
amplitude = {{ start = 0.0, stop = 20.0, num = {n} }}
""")
    cap = None if args.cap_gb is None else int(args.cap_gb * 2**30)

    def limit():
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hhfast", "sweep", str(spec), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=limit)
    ps = psutil.Process(proc.pid)
    peak, at_first, t_first = 0, None, None
    chunk_dir = tmp / "big.zarr" / "spike_count" / "c"
    while proc.poll() is None and time.monotonic() - t0 < args.seconds:
        try:
            rss = ps.memory_info().rss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        if at_first is None and chunk_dir.exists() and any(chunk_dir.iterdir()):
            at_first, t_first = rss, time.monotonic() - t0
        time.sleep(0.2)
    ended = "exited" if proc.poll() is not None else "killed"
    if proc.poll() is None:
        proc.kill()
    out = proc.communicate()[0].decode(errors="replace")
    chunks = sum(1 for _ in chunk_dir.iterdir()) if chunk_dir.exists() else 0
    print(json.dumps({"points": n, "seconds": args.seconds, "cap_gb": args.cap_gb,
                      "peak_rss_gb": round(peak / 2**30, 3),
                      "rss_at_first_chunk_gb": None if at_first is None else
                      round(at_first / 2**30, 3),
                      "first_chunk_s": None if t_first is None else round(t_first, 1),
                      "chunk_files": chunks, "ended": ended, "rc": proc.returncode,
                      "output_tail": out[-300:]}))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
