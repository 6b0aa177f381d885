"""An exponential that LLVM can vectorise, and a cast helper for dtype-generic kernels.

Numba lowers ``math.exp`` to a call into libm, and a loop containing a call is not vectorised
(current Numba has no SVML), so the lane loops of the kernels ran one lane at a time.
:func:`vexp` is exp written as plain arithmetic, which the loop vectoriser turns into packed
instructions:

1. range reduction ``x = k·ln2 + r`` with ``k = round(x / ln2)`` (by the shifter trick, see
   ``SHIFT64``) and ``|r| <= ln2/2``; ``k·ln2`` is subtracted in two parts (Cody & Waite):
   ``ln2_hi`` has its low mantissa bits zero so ``k·ln2_hi`` is exact for ``|k| < 2^11``,
   ``ln2_lo`` is the rest of ln 2;
2. ``e^r`` by a near-minimax polynomial (degree 10 in float64, relative error 3.3e-16;
   degree 6 in float32, 2e-9), Horner's rule (fused multiply-adds by ``contract``);
3. ``2^k`` built from its exponent bits by a bit-cast (no libm call).

About 20 vector instructions, no table, no branch.  Accuracy (``tests/test_fastexp.py``):
at most 3 ulp from ``math.exp`` in float64 (degree 11 gave 1 ulp at ~5% of rk4's speed) and
1.1 ulp of float32 from the exact value in float32, over [-100, 100] in float64 and
[-80, 80] in float32 (the model needs |x| < 15 for any non-diverging trajectory, and down
to ~-100 for exponential Euler's decay factors).  Outside the range of normal results the
argument is clamped, and the
result is set to ``inf`` above the overflow threshold, so a diverging neuron still overflows
to inf/NaN and is detected; NaN propagates.

The Cody–Waite split only works if the compiler keeps ``(x - k·ln2_hi) - k·ln2_lo`` in that
order: the ``reassoc`` fast-math flag lets LLVM fold it into ``x - k·(ln2_hi + ln2_lo)``
(measured: 10 ulp more).  That is why ``config.FASTMATH`` leaves ``reassoc`` out.

:func:`like` casts a constant to the floating type of a value, so one kernel source compiles
to float64 or to float32 code (a bare Python float would promote float32 arithmetic to
float64).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

from .. import config
from .options import INLINE

LOG2E = 1.4426950408889634  # 1 / ln 2
LN2_HI = 0.6931471803691238  # ln 2 rounded to 32 significant bits: k·LN2_HI exact for |k|<2^11
LN2_LO = 1.9082149292705877e-10  # ln 2 - LN2_HI
LN2_HI32 = 0.693359375  # ln 2 to 12 bits: k·LN2_HI32 exact in float32 for |k| < 2^11
LN2_LO32 = -2.12194440e-4  # ln 2 - LN2_HI32

#: Clamp bounds of the argument (normal, finite results; 2^k stays a normal number).
X_MAX64, X_MIN64 = 709.0, -708.0
X_MAX32, X_MIN32 = 88.0, -87.0
#: Above these the true result overflows: return +inf.
X_OVF64 = 709.782712893384
X_OVF32 = 88.72283935546875


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (LLVM ``bitcast``, no instruction)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32."""
    if bits != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return types.float32(types.int32), codegen


@intrinsic
def vsqrt(typingctx, x):
    """Square root as the ``llvm.sqrt`` intrinsic, which vectorises (Numba lowers
    ``math.sqrt`` to a call into libm, which does not)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        fn = builder.module.declare_intrinsic("llvm.sqrt", [args[0].type])
        return builder.call(fn, args)

    return x(x), codegen


@intrinsic
def select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select`` instruction.  Numba lowers a conditional
    expression to branches, which the loop vectoriser could not if-convert in the kernels'
    lane loops; a select vectorises to a masked blend.  Both ``a`` and ``b`` are evaluated."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, sig, args):
        c = context.cast(builder, args[0], sig.args[0], types.boolean)
        return builder.select(c, args[1], args[2])

    return a(cond, a, b), codegen


@intrinsic
def prefer_wide_vectors(typingctx):
    """Mark the function being compiled with LLVM's ``"prefer-vector-width"="512"``.

    On AVX-512 CPUs LLVM's default tuning (``prefer-256-bit``) makes the loop vectoriser use
    256-bit registers; the lane loops of the kernels run ~1.5x faster with 512-bit ones
    (8 float64 / 16 float32 lanes per instruction, as gcc's ``omp simd`` uses).  This is a
    per-function attribute (what clang's ``-mprefer-vector-width=512`` sets); it changes
    nothing on CPUs without AVX-512.  llvmlite only knows a fixed list of attribute names,
    so the string attribute is added to the set directly.
    """
    def codegen(context, builder, sig, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def always_inline(typingctx):
    """Mark the function being compiled with LLVM's ``alwaysinline`` (a ``HOT`` helper of
    :mod:`.options`).

    LLVM then inlines it into every caller when the caller's module is optimised (Numba links
    the callee's bitcode into the caller's module, from the on-disk cache too), so the
    caller's lane loop has no calls and vectorises, while Numba typed and lowered the helper
    once.  Inlining by Numba instead (``inline="always"``) re-typed every helper at every call
    site of every kernel: most of a kernel's cold compile (docs/architecture.md §3).
    """
    def codegen(context, builder, sig, args):
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def _bits_of_f64(typingctx, x):
    """Reinterpret the bits of a float64 as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_of_f32(typingctx, x):
    """Reinterpret the bits of a float32 as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return types.int32(types.float32), codegen


# Rounding x/ln2 to an integer k by adding SHIFT = 1.5 * 2^52: the sum's last mantissa bits
# are k itself (round to nearest), so t - SHIFT is k as a float and the low 12 bits of t's
# bit pattern plus the exponent bias give 2^k's exponent field -- no floor, no float->int
# conversion.  (Needs the ``reassoc`` flag off, or LLVM would cancel the two SHIFTs.)
SHIFT64 = 6755399441055744.0  # 1.5 * 2^52
SHIFT32 = 12582912.0  # 1.5 * 2^23

# Polynomials for e^r on |r| <= ln2/2, Chebyshev interpolants (near-minimax) computed with
# mpmath at 40 digits (mpmath.chebyfit(exp, [-ln2/2, ln2/2], n + 1)) and rounded to double:
# degree 10, max relative error 3.3e-16 (float64); degree 6, 2.0e-9 (float32).
P64 = (1.0, 1.0000000000000067, 0.5000000000000006, 0.16666666666554406,
       0.04166666666657314, 0.008333333385667782, 0.0013888888932488599,
       0.00019841170270440067, 2.4801504346997686e-05, 2.764018079620985e-06,
       2.7626357241447223e-07)
P32 = (1.0, 1.000000037716214, 0.5000000047117757, 0.16666415514653277,
       0.04166635289677516, 0.008375126398153335, 0.0013941108433972674)


@njit(**INLINE)
def _exp64_core(xc):
    """e^xc for X_MIN64 <= xc <= X_MAX64 (or NaN)."""
    t = xc * LOG2E + SHIFT64
    k = t - SHIFT64
    r = xc - k * LN2_HI
    r = r - k * LN2_LO
    p = P64[0] + r * (P64[1] + r * (P64[2] + r * (P64[3] + r * (P64[4] + r * (P64[5] + r * (
        P64[6] + r * (P64[7] + r * (P64[8] + r * (P64[9] + r * P64[10])))))))))
    return p * _f64_from_bits((_bits_of_f64(t) + np.int64(1023)) << np.int64(52))


@njit(**INLINE)
def _exp32_core(xc):
    """e^xc for X_MIN32 <= xc <= X_MAX32 (or NaN), float32."""
    t = xc * np.float32(LOG2E) + np.float32(SHIFT32)
    k = t - np.float32(SHIFT32)
    r = xc - k * np.float32(LN2_HI32)
    r = r - k * np.float32(LN2_LO32)
    p = np.float32(P32[0]) + r * (np.float32(P32[1]) + r * (np.float32(P32[2]) + r * (
        np.float32(P32[3]) + r * (np.float32(P32[4]) + r * (np.float32(P32[5]) + r * np.float32(
            P32[6]))))))
    return p * _f32_from_bits(np.int32((_bits_of_f32(t) + np.int32(127)) << np.int32(23)))


@njit(**INLINE)
def exp64(x):
    """e^x in float64 as vectorisable arithmetic (<= 1 ulp, see the module docstring)."""
    # clamp, written so that a NaN argument passes through unchanged
    xc = select(x > X_MAX64, X_MAX64, x)
    xc = select(xc < X_MIN64, X_MIN64, xc)
    return select(x > X_OVF64, math.inf, _exp64_core(xc))


@njit(**INLINE)
def exp32(x):
    """e^x in float32 as vectorisable arithmetic (<= 1 ulp, see the module docstring)."""
    xc = select(x > np.float32(X_MAX32), np.float32(X_MAX32), x)
    xc = select(xc < np.float32(X_MIN32), np.float32(X_MIN32), xc)
    return select(x > np.float32(X_OVF32), np.float32(math.inf), _exp32_core(xc))


def vexp(x):
    """e^x for a float64 or float32 scalar inside a kernel (dispatches on the type)."""
    raise NotImplementedError("vexp is only callable from Numba-compiled code")


# The two overloads below are typed once per float type and inlined by LLVM (``always_inline``,
# like a ``HOT`` helper of :mod:`.options`), not by Numba: numba-cuda lowers the IR that
# Numba's own overload inliner splices in incorrectly (a comparison with a module constant
# failed to type), so an ``inline="always"`` overload of code with constants would not compile
# for the CUDA backend (docs/architecture.md §3.3).
@overload(vexp, jit_options=dict(fastmath=config.FASTMATH))
def _vexp(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        def vexp32(x):
            always_inline()
            return exp32(x)
        return vexp32
    if isinstance(x, types.Float):
        def vexp64(x):
            always_inline()
            return exp64(x)
        return vexp64
    return None


def vexp_below(x):
    """e^x inside a kernel for x known to be at most ``X_MAX64`` (float32: ``X_MAX32``), or
    NaN: :func:`vexp` without the overflow tests (two instructions and two constants fewer
    in loops that are short of registers).  For exponential Euler's decay factors
    e^(-dt·rate) (rates are positive) and the capped exponents of the rate functions."""
    raise NotImplementedError("vexp_below is only callable from Numba-compiled code")


@njit(**INLINE)
def _exp64_below(x):
    return _exp64_core(select(x < X_MIN64, X_MIN64, x))


@njit(**INLINE)
def _exp32_below(x):
    return _exp32_core(select(x < np.float32(X_MIN32), np.float32(X_MIN32), x))


@overload(vexp_below, jit_options=dict(fastmath=config.FASTMATH))
def _vexp_below(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        def below32(x):
            always_inline()
            return _exp32_below(x)
        return below32
    if isinstance(x, types.Float):
        def below64(x):
            always_inline()
            return _exp64_below(x)
        return below64
    return None


def like(x, c):
    """``c`` cast to the floating type of ``x`` (inside a kernel)."""
    raise NotImplementedError("like is only callable from Numba-compiled code")


@overload(like, inline="always")
def _like(x, c):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x, c: np.float32(c)
    return lambda x, c: np.float64(c)


def rate_arg_max(x):
    """Cap (for the type of ``x``) on the exponents -u/80 and -u/18 of the rate functions:
    the product of three denominators ~665·e^(24a) must stay finite (float32: 3.4e38)."""
    raise NotImplementedError("rate_arg_max is only callable from Numba-compiled code")


@overload(rate_arg_max, inline="always")
def _rate_arg_max(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(3.125)
    return lambda x: np.float64(25.0)


def series_cutoff(x):
    """|z| below which the kernels take z/(e^z - 1) from its series, for the type of ``x``
    (``config.KERNEL_SERIES_CUTOFF64`` / ``KERNEL_SERIES_CUTOFF32``)."""
    raise NotImplementedError("series_cutoff is only callable from Numba-compiled code")


@overload(series_cutoff, inline="always")
def _series_cutoff(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        c32 = np.float32(config.KERNEL_SERIES_CUTOFF32)
        return lambda x: c32
    c64 = np.float64(config.KERNEL_SERIES_CUTOFF64)
    return lambda x: c64


def exp_arg_max(x):
    """Largest argument (for the type of ``x``) that :func:`vexp_below` accepts."""
    raise NotImplementedError("exp_arg_max is only callable from Numba-compiled code")


@overload(exp_arg_max, inline="always")
def _exp_arg_max(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(X_MAX32)
    return lambda x: np.float64(X_MAX64)
