"""Every fixed-step kernel of the registry vectorises: its machine code does its arithmetic in
packed 512-bit instructions and calls no libm function (a call in the lane loop would stop
the vectoriser: Numba has no vector exp, hence ``kernels/fastexp.py``).

Skipped where the CPU has no AVX-512 (the kernels then use the widest vectors there are; this
test only reads the assembly on the machine the figures of the README come from)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from llvmlite import binding as llvm

import hhfast as hh
from hhfast.kernels import METHODS

FIXED = [m for m, s in METHODS.items() if s.kind == "fixed"]
AVX512 = bool(llvm.get_host_cpu_features().get("avx512f", False))


@pytest.mark.skipif(not AVX512, reason="the CPU has no AVX-512")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", FIXED)
def test_kernel_is_vectorised_without_calls(method, dtype):
    hh.simulate(hh.step(), 0.02, method=method, dtype=dtype)  # compile (or load) this type
    kernel = METHODS[method].run
    sig = next(s for s in kernel.signatures if s[0].dtype == np.dtype(dtype))
    asm = kernel.inspect_asm(sig)
    suffix = "pd" if dtype == np.float64 else "ps"
    # packed fused multiply-adds on zmm registers: the rate functions, exp and the update
    fma = re.findall(rf"\bvfn?m(?:add|sub)\w*{suffix}\s+[^\n]*zmm", asm)
    assert len(fma) >= 20, f"{method}: only {len(fma)} packed 512-bit FMAs"
    # no call into libm anywhere in the kernel (calls left are Numba's runtime and the
    # parallel launcher, through registers)
    named = set(re.findall(r"\bcall[lq]?\s+([A-Za-z_][\w.@]*)", asm))
    libm = {c for c in named if re.search(r"exp|log|pow|sqrt|div", c, re.I)}
    assert not libm, f"{method}: calls {sorted(libm)}"
