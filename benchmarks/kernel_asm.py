"""What vectorised in each fixed-step kernel of the registry: counts in its x86 assembly.

Numba keeps no assembly for kernels loaded from its cache, so each ``run`` is compiled here
afresh (uncached, same flags) and its assembly read: 512-bit registers (``zmm``), packed
divisions (one ``vdivpd``/``vdivps`` per division in the step) and references to libm
functions (none expected: the kernels use ``fastexp``)::

    python benchmarks/kernel_asm.py                   # every method, float64
    python benchmarks/kernel_asm.py --dtypes float64,float32 --methods heun,rl2
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
from numba import njit

import hhfast as hh
from hhfast import config


def report(method: str, dtype) -> dict:
    from hhfast.kernels import compiled

    hh.simulate(hh.step(), t_stop=0.02, dt=0.01, method=method, dtype=dtype)  # a signature
    kernel = compiled()[method]
    fresh = njit(parallel=True, nogil=True, fastmath=config.FASTMATH,
                 error_model="numpy")(kernel.py_func)
    sig = next(s for s in kernel.signatures if str(s[0].types[0].dtype) == np.dtype(dtype).name)
    t = time.perf_counter()
    fresh.compile(sig)
    asm = fresh.inspect_asm(sig)
    suffix = "pd" if np.dtype(dtype) == np.float64 else "ps"
    named = set(re.findall(r"\b(?:call[lq]?|movabsq)\s+\$?([A-Za-z_][\w.@]*)", asm))
    return dict(method=method, dtype=np.dtype(dtype).name, compile_s=time.perf_counter() - t,
                zmm=asm.count("zmm"), packed_div=len(re.findall(rf"\bvdiv{suffix}\b", asm)),
                libm=sorted(c for c in named
                            if re.fullmatch(r"_*(exp|log|pow|sqrt|expm1|log1p)\w{0,8}", c)),
                hhfast_calls=sorted(c for c in named if "hhfast" in c))


def main(argv=None) -> int:
    fixed = [m for m, s in hh.methods().items() if s.kind == "fixed"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default=",".join(fixed))
    ap.add_argument("--dtypes", default="float64")
    args = ap.parse_args(argv)
    for d in args.dtypes.split(","):
        for m in args.methods.split(","):
            hh.simulate(hh.step(), 0.02, method=m, dtype=d)  # the signature to recompile
            r = report(m, d)
            print(f"{r['method']:12s} {r['dtype']:8s} zmm {r['zmm']:5d}  packed divisions "
                  f"{r['packed_div']}  libm {r['libm'] or 'none'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
