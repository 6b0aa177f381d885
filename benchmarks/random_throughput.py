"""Normals per second of hhfast's counter-based generator, drawn as a kernel draws them (one
``normals4`` per lane in a lane loop of ``config.BLOCK`` lanes, vectorised by LLVM), against
NumPy's ``default_rng().standard_normal`` (PCG64 + ziggurat) in the same run, one thread each.
Compile time is excluded (a warm-up call first); the best of ``--repeats`` is reported.

* ``lane loop, summed``: the normals are consumed in registers (summed), as the noisy
  kernels will add them to V or the OU current: the generator's own cost.
* ``lane loop, 2 per counter``: only z0, z1 of each counter used (the second Box–Muller is
  dead code): counters/s x 2, the cost of a kernel step that needs two normals.
* ``lane loop, stored``: the same, written to an array (adds the memory traffic).
* ``hhfast.random.normals``: the NumPy-level function (counter arrays in, normals out).
* ``numpy standard_normal``: NumPy's generator filling an array of the same size.

``--scalar`` also runs the whole measurement again in a child process with LLVM's loop and
SLP vectorisers off (``NUMBA_LOOP_VECTORIZE=0 NUMBA_SLP_VECTORIZE=0``, a temporary cache):
the gain from vectorising the lane loop.

Usage::

    python benchmarks/random_throughput.py [--n 20000000] [--repeats 5] [--scalar]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from hhfast import config
from hhfast import random as hr
from hhfast.kernels.fastexp import prefer_wide_vectors
from hhfast.kernels.philox import normals4

JIT = dict(nogil=True, fastmath=config.FASTMATH, error_model="numpy")


@njit(**JIT)
def lane_loop_sum(k0, k1, n_blocks, step):
    prefer_wide_vectors()
    acc = np.zeros(config.BLOCK)
    for b in range(n_blocks):
        base = b * config.BLOCK
        for i in range(config.BLOCK):
            z0, z1, z2, z3 = normals4(k0, k1, base + i, step, np.uint32(0))
            acc[i] += (z0 + z1) + (z2 + z3)
    return acc.sum()


@njit(**JIT)
def lane_loop_first_pair(k0, k1, n_blocks, step):
    # a kernel that needs two normals per step (white + OU noise) uses z0, z1 only: LLVM drops
    # the unused second Box-Muller, so this is one Philox call + one Box-Muller per counter
    prefer_wide_vectors()
    acc = np.zeros(config.BLOCK)
    for b in range(n_blocks):
        base = b * config.BLOCK
        for i in range(config.BLOCK):
            z0, z1, _, _ = normals4(k0, k1, base + i, step, np.uint32(0))
            acc[i] += z0 + z1
    return acc.sum()


@njit(**JIT)
def lane_loop_store(k0, k1, step, out):
    prefer_wide_vectors()
    n_blocks = out.shape[0]
    for b in range(n_blocks):
        base = b * config.BLOCK
        for i in range(config.BLOCK):
            z0, z1, z2, z3 = normals4(k0, k1, base + i, step, np.uint32(0))
            out[b, 0, i] = z0
            out[b, 1, i] = z1
            out[b, 2, i] = z2
            out[b, 3, i] = z3


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000_000, help="normals per measurement")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scalar", action="store_true",
                    help="also measure with the vectorisers off (child process)")
    args = ap.parse_args()
    per_block = 4 * config.BLOCK
    n_blocks = max(1, args.n // per_block)
    n = n_blocks * per_block
    k0, k1 = hr.key_from_seed(12345)
    out = np.empty((n_blocks, 4, config.BLOCK))
    trials = np.arange(n // 4)
    rng = np.random.default_rng(12345)
    buf = np.empty(n)

    # warm up (compile) every path
    lane_loop_sum(k0, k1, 1, 0)
    lane_loop_store(k0, k1, 0, out[:1])
    lane_loop_first_pair(k0, k1, 1, 0)
    hr.normals(1, trials[:4], 0)
    rng.standard_normal(out=buf[:4])

    cases = {
        "lane loop, summed": lambda: lane_loop_sum(k0, k1, n_blocks, 7),
        "lane loop, 2 per counter": lambda: lane_loop_first_pair(k0, k1, 2 * n_blocks, 7),
        "lane loop, stored": lambda: lane_loop_store(k0, k1, 7, out),
        "hhfast.random.normals": lambda: hr.normals(12345, trials, 7),
        "numpy standard_normal": lambda: rng.standard_normal(out=buf),
    }
    print(f"{platform.processor() or platform.machine()}, one thread, {n:.3g} normals, "
          f"best of {args.repeats}")
    ref = None
    for name, fn in cases.items():
        t = best(fn, args.repeats)
        rate = n / t
        ref = rate if name.startswith("numpy") else ref
        print(f"  {name:24s} {t * 1e3:8.1f} ms  {rate / 1e6:8.1f} M normals/s")
    base = n / best(cases["lane loop, summed"], args.repeats)
    print(f"lane loop (summed) / numpy: {base / ref:.2f}x")
    if args.scalar:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_LOOP_VECTORIZE="0", NUMBA_SLP_VECTORIZE="0",
                       NUMBA_CACHE_DIR=cache)
            print("with the vectorisers off:", flush=True)
            subprocess.run([sys.executable, __file__, "--n", str(args.n), "--repeats",
                            str(args.repeats)], env=env, check=True)


if __name__ == "__main__":
    main()
