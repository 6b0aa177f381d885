"""Every fixed-step method's lane step vectorises: inlined into the block driver's lane loop,
it does its arithmetic in packed 512-bit instructions and calls no libm function (a call in
the lane loop would stop the vectoriser: Numba has no vector exp, hence ``kernels/fastexp.py``).

Numba does not keep the assembly of cached kernels, so the step is compiled here, uncached,
inside a copy of the driver's lane loop (block-local arrays, the 512-bit preference, the same
flags); ``benchmarks/kernel_asm.py`` reads the assembly of the whole kernels.  Skipped where
the CPU has no AVX-512.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from _fast import method_dtypes
from llvmlite import binding as llvm
from numba import njit, typeof

from hhfast import config
from hhfast.kernels import METHODS
from hhfast.kernels.cpu import BLOCK
from hhfast.kernels.fastexp import prefer_wide_vectors
from hhfast.kernels.layout import NP

FIXED = [m for m, s in METHODS.items() if s.kind == "fixed"]
AVX512 = bool(llvm.get_host_cpu_features().get("avx512f", False))


@njit(inline="always", fastmath=config.FASTMATH, error_model="numpy")
def lane_loop(step, y, P, Iin, dt, n_steps):
    prefer_wide_vectors()
    pb = np.empty((NP, BLOCK), y.dtype)
    st = np.empty((4, BLOCK), y.dtype)
    I = np.empty((3, BLOCK), y.dtype)
    for l in range(BLOCK):
        for r in range(NP):
            pb[r, l] = P[r, l]
        for v in range(4):
            st[v, l] = y[v, l]
        for s in range(3):
            I[s, l] = Iin[s, l]
    for _ in range(n_steps):
        for l in range(BLOCK):
            V1, n1, m1, g1 = step(st[0, l], st[1, l], st[2, l], st[3, l], I[0, l], I[1, l],
                                  I[2, l], pb, l, dt, ())
            st[0, l], st[1, l], st[2, l], st[3, l] = V1, n1, m1, g1
    for l in range(BLOCK):
        for v in range(4):
            y[v, l] = st[v, l]


def harness(step):
    """A kernel running ``step`` in the lane loop, as :func:`hhfast.kernels.cpu.drive` does:
    the loop is inlined at Numba's level, ``step`` (a HOT helper) by LLVM (a closure, never
    cached: inspect_asm needs freshly compiled code)."""

    @njit(fastmath=config.FASTMATH, error_model="numpy")
    def kernel(y, P, Iin, dt, n_steps):
        lane_loop(step, y, P, Iin, dt, n_steps)

    return kernel


def vector_report(step, dtype):
    """(packed 512-bit FMAs, names of libm functions called) in the lane loop of ``step``."""
    kernel = harness(step)
    args = (np.ones((4, BLOCK), dtype), np.ones((NP, BLOCK), dtype),
            np.zeros((3, BLOCK), dtype), 0.01, 1)
    kernel(*args)
    asm = kernel.inspect_asm(tuple(typeof(a) for a in args))
    suffix = "pd" if dtype == np.float64 else "ps"
    # packed fused multiply-adds on zmm registers: the rate functions, exp and the update
    fma = re.findall(rf"\bvfn?m(?:add|sub)\w*{suffix}\s+[^\n]*zmm", asm)
    # libm functions referenced (LLVM calls them through a register loaded by movabsq, or
    # directly); Numba's runtime (NRT_*), the CPython API and Numba's own functions are not
    named = set(re.findall(r"\b(?:call[lq]?|movabsq)\s+\$?([A-Za-z_][\w.@]*)", asm))
    libm = {c for c in named if re.fullmatch(r"_*(exp|log|pow|sqrt|expm1|log1p)\w{0,8}", c)}
    # a HOT helper LLVM did not inline would be called by its mangled Numba name
    libm |= {c for c in named if "hhfast" in c}
    return len(fma), libm


@pytest.mark.skipif(not AVX512, reason="the CPU has no AVX-512")
@pytest.mark.parametrize("method, dtype", method_dtypes(FIXED))  # float32 of 4 methods: slow
def test_lane_step_is_vectorised_without_calls(method, dtype):
    step = METHODS[method].step
    n_fma, libm = vector_report(step, dtype)
    assert n_fma >= 20, f"{method}: only {n_fma} packed 512-bit FMAs"
    assert not libm, f"{method}: calls {sorted(libm)}"


@njit(inline="always", fastmath=config.FASTMATH, error_model="numpy")
def libm_step(V, n, m, g, I0, I1, I2, pb, l, dt, ts):
    return V + dt * math.exp(-V), n, m, g


@pytest.mark.skipif(not AVX512, reason="the CPU has no AVX-512")
def test_the_check_sees_a_libm_call():
    # the control: a step calling math.exp is not vectorised and the report says why
    n_fma, libm = vector_report(libm_step, np.float64)
    assert libm and n_fma < 20
