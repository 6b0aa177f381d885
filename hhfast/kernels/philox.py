"""Counter-based random numbers for the kernels: Philox4x32-10 and a vectorisable Box–Muller.

Everything here is plain integer and floating-point arithmetic inlined into the caller, so a
lane loop that draws one set of numbers per lane is vectorised by LLVM like the rest of the
kernels (no call, no table, no branch; ``tests/test_random.py`` checks the assembly).

**Philox4x32-10** (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2,
3", SC 2011; the Random123 library): a bijection of a 128-bit counter (four 32-bit words)
under a 64-bit key (two words), built from ten rounds of::

    hi0, lo0 = M0 * c0          (the 64-bit product of two 32-bit words, split)
    hi1, lo1 = M1 * c2
    c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    k = (k0 + W0, k1 + W1)      (mod 2^32, between rounds)

A 32x32 -> 64-bit multiply of the low halves of 64-bit lanes is one instruction
(``pmuludq``; ``vpmuludq`` on 8 lanes of a zmm register with AVX-512), so a round costs two
multiplies, two shifts, two masks and four xors per lane.  The words are carried as ``uint64``
masked to 32 bits, every constant is a ``numpy.uint64``: Numba promotes any mix of signed and
unsigned integers (a bare Python int included) to ``float64``.

**Uniforms** ``u = (w + 0.5) * 2^-32`` from one 32-bit word: exact in float64, strictly inside
(0, 1) (from 2^-33 to 1 - 2^-33), symmetric about 1/2; one Philox call gives four.  53-bit
uniforms from two words would halve the normals per call to move the largest |z| from 6.76
(sqrt(-2 ln 2^-33)) to 8.65 sigma (sqrt(-2 ln 2^-54)); a standard normal exceeds 6.76 sigma
with probability 1.3e-11, which membrane noise never resolves, so the 32-bit form was chosen.

**Normals** by Box–Muller, ``z1 = r cos(2 pi u2)``, ``z2 = r sin(2 pi u2)``,
``r = sqrt(-2 ln u1)``: two exact normals per pair of uniforms, no rejection (a rejection
method would make lanes diverge).  ``math.log``, ``math.sin`` and ``math.cos`` are calls into
libm that stop the loop vectoriser, so they are written here as polynomials in the style of
``fastexp``:

* :func:`vlog`: ``x = 2^k m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` by integer operations on
  the bits; ``ln m = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...)`` with ``s = (m-1)/(m+1)``,
  ``|s| <= 0.1716``; the series to s^18 leaves a relative truncation error below 2.3e-17;
  ``k ln 2`` is added in two parts (Cody & Waite).
* :func:`sincos2pi`: ``sin(2 pi u)`` and ``cos(2 pi u)`` from ``u`` itself (no rounding of
  ``2 pi u``): ``y = u - q/4``, ``q = round(4u)``, is exact, ``|y| <= 1/8``; Taylor series in
  ``a = 2 pi y`` (``|a| <= pi/4``) to a^17 (sine, truncation < 1.1e-19) and a^16 (cosine,
  < 2e-18), then a rotation by ``q`` quarter turns.

Measured accuracy (``tests/test_random.py``): vlog within 2.0 ulp of exact, sine and cosine
within 1.6 ulp, the normals within 3.3 ulp of Box–Muller in extended precision.  The largest
``|z|`` reachable is ``Z_MAX = sqrt(-2 ln 2^-33) = 6.7637`` (u1 at its minimum).

The results are the same bits in a vectorised lane loop and in scalar code compiled with the
same flags; with ``contract`` in ``config.FASTMATH`` LLVM fuses multiply-adds where the CPU has
FMA, so normals (not the words or uniforms) can differ in the last bit between CPUs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .fastexp import INLINE, LN2_HI, LN2_LO, SHIFT64, _bits_of_f64, _f64_from_bits, select, vsqrt

#: Philox4x32 round multipliers and the Weyl increments of the key (Salmon et al. 2011).
M0 = 0xD2511F53
M1 = 0xCD9E8D57
W0 = 0x9E3779B9
W1 = 0xBB67AE85
ROUNDS = 10

_M0 = np.uint64(M0)
_M1 = np.uint64(M1)
_W0 = np.uint64(W0)
_W1 = np.uint64(W1)
_S32 = np.uint64(32)
_LO32 = np.uint64(0xFFFFFFFF)

#: 2^-32: the spacing of the uniforms
TWO_M32 = 2.0 ** -32
#: largest |z| a normal from :func:`box_muller` can take: sqrt(-2 ln(2^-33))
Z_MAX = 6.763705635001895

# bit pattern of sqrt(1/2) rounded to float64: the lower end of the mantissa range of vlog
_SQRT_HALF_BITS = np.int64(0x3FE6A09E667F3BCD)
_MANT_MASK = np.int64((1 << 52) - 1)
_S52 = np.int64(52)

# 1/(2k+1), k = 0..9: atanh(s)/s = sum s^(2k)/(2k+1)
_L = tuple(1.0 / (2 * k + 1) for k in range(10))
# (-1)^k (2 pi)^(2k+1) / (2k+1)!, k = 0..8 (sin(2 pi y) / y), and (-1)^k (2 pi)^(2k) / (2k)!
# (cos(2 pi y)), from 2 pi to 50 digits in exact decimal arithmetic, rounded to double.
_S = (6.283185307179586, -41.34170224039976, 81.60524927607506, -76.70585975306139,
      42.058693944897655, -15.09464257682299, 3.819952584848282, -0.7181223017785006,
      0.10422916220813984)
_C = (1.0, -19.739208802178716, 64.9393940226683, -85.45681720669373, 60.24464137187666,
      -26.4262567833744, 7.903536371318469, -1.714390711088672, 0.28200596845579123)


@njit(**INLINE)
def philox_round(c0, c1, c2, c3, k0, k1):
    """One Philox4x32 round on the counter words ``c0..c3`` under the key ``k0, k1``.

    The words are ``uint64`` holding values below 2^32 (see :func:`philox4x32_10`); returns
    the four new words, also below 2^32."""
    p0 = _M0 * c0
    p1 = _M1 * c2
    return (p1 >> _S32) ^ c1 ^ k0, p1 & _LO32, (p0 >> _S32) ^ c3 ^ k1, p0 & _LO32


@njit(**INLINE)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter ``(c0, c1, c2, c3)`` under the key ``(k0, k1)``.

    Parameters
    ----------
    c0, c1, c2, c3, k0, k1 : integer
        Counter and key words; only their low 32 bits are used.

    Returns
    -------
    tuple of 4 numpy.uint32
        The random words, as Random123's ``philox4x32(ctr, key)`` with ``ctr.v = {c0, ..,
        c3}``, ``key.v = {k0, k1}``.

    Notes
    -----
    The rounds run on ``uint64`` words masked to 32 bits: in a lane loop they fill the same
    8 lanes of a zmm register as the float64 arithmetic after them, and ``M * c`` is one
    ``vpmuludq``.  With ``uint32`` words LLVM vectorised the high half of the product as an
    emulated 32-bit ``mulhu`` (two multiplies and shuffles per product); measured 1.5x slower
    for Philox followed by a Box–Muller.
    """
    c0 = np.uint64(c0) & _LO32
    c1 = np.uint64(c1) & _LO32
    c2 = np.uint64(c2) & _LO32
    c3 = np.uint64(c3) & _LO32
    k0 = np.uint64(k0) & _LO32
    k1 = np.uint64(k1) & _LO32
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    for _ in range(ROUNDS - 1):
        k0 = (k0 + _W0) & _LO32
        k1 = (k1 + _W1) & _LO32
        c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    return np.uint32(c0), np.uint32(c1), np.uint32(c2), np.uint32(c3)


@njit(**INLINE)
def uniform_from_u32(w):
    """The float64 uniform ``(w + 0.5) * 2^-32`` of a 32-bit word ``w``: exact, in
    ``[2^-33, 1 - 2^-33]``, never 0 or 1."""
    return (np.float64(np.uint32(w)) + 0.5) * TWO_M32


@njit(**INLINE)
def vlog(x):
    """Natural logarithm of a positive, normal, finite float64 ``x`` as vectorisable
    arithmetic (no check: zero, subnormal, negative, inf and NaN arguments give garbage)."""
    ix = _bits_of_f64(x) - _SQRT_HALF_BITS
    k = np.float64(ix >> _S52)  # arithmetic shift: the exponent, so that x = 2^k m
    m = _f64_from_bits((ix & _MANT_MASK) + _SQRT_HALF_BITS)  # in [sqrt(1/2), sqrt(2))
    s = (m - 1.0) / (m + 1.0)  # m - 1 is exact (Sterbenz)
    z = s * s
    p = _L[0] + z * (_L[1] + z * (_L[2] + z * (_L[3] + z * (_L[4] + z * (_L[5] + z * (
        _L[6] + z * (_L[7] + z * (_L[8] + z * _L[9]))))))))
    return k * LN2_HI + ((s + s) * p + k * LN2_LO)


@njit(**INLINE)
def sincos2pi(u):
    """``(sin(2 pi u), cos(2 pi u))`` for a float64 ``u`` with ``|u| < 2^50``, as vectorisable
    arithmetic (the reduction ``u - round(4u)/4`` is exact: no error from rounding 2 pi u)."""
    t = u * 4.0 + SHIFT64
    qf = t - SHIFT64  # round(4u), by the shifter trick (see fastexp)
    q = _bits_of_f64(t)  # its low bits are those of round(4u)
    y = u - qf * 0.25  # exact, |y| <= 1/8
    z = y * y
    s = y * (_S[0] + z * (_S[1] + z * (_S[2] + z * (_S[3] + z * (_S[4] + z * (_S[5] + z * (
        _S[6] + z * (_S[7] + z * _S[8]))))))))
    c = _C[0] + z * (_C[1] + z * (_C[2] + z * (_C[3] + z * (_C[4] + z * (_C[5] + z * (
        _C[6] + z * (_C[7] + z * _C[8])))))))
    # rotate by q quarter turns: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s)
    odd = (q & np.int64(1)) != np.int64(0)
    sn = select(odd, c, s)
    cs = select(odd, s, c)
    sn = select((q & np.int64(2)) != np.int64(0), -sn, sn)
    cs = select(((q + np.int64(1)) & np.int64(2)) != np.int64(0), -cs, cs)
    return sn, cs


@njit(**INLINE)
def box_muller(u1, u2):
    """Two independent standard normals ``(r cos(2 pi u2), r sin(2 pi u2))``,
    ``r = sqrt(-2 ln u1)``, from two uniforms in (0, 1]."""
    r = vsqrt(-2.0 * vlog(u1))
    sn, cs = sincos2pi(u2)
    return r * cs, r * sn


@njit(**INLINE)
def normals4(k0, k1, trial, step, stream):
    """The four standard normals (float64) of one Philox call, as every part of hhfast draws
    them: counter ``(trial mod 2^32, trial // 2^32, step, stream)``, key ``(k0, k1)``;
    normals ``box_muller(u(w0), u(w1)) + box_muller(u(w2), u(w3))``.

    Parameters
    ----------
    k0, k1 : numpy.uint32
        The key: low and high words of the call's 64-bit seed.
    trial : int64 or uint64
        The neuron's noise identity (>= 0).
    step : integer
        Step index counted from t = 0, in ``[0, 2^32)``.
    stream : integer
        Which of the independent streams of a neuron, in ``[0, 2^32)``.

    Returns
    -------
    tuple of 4 float64
        Standard normals, ``|z| <= Z_MAX``.

    Notes
    -----
    Nothing is checked here: the caller validates the seed and keeps ``step`` below 2^32
    (higher bits are dropped).  A kernel that needs only ``z0, z1`` pays for one Box–Muller:
    the other is dead code once inlined, and LLVM removes it.
    """
    tr = np.uint64(trial)
    w0, w1, w2, w3 = philox4x32_10(tr, tr >> _S32, step, stream, k0, k1)
    z0, z1 = box_muller(uniform_from_u32(w0), uniform_from_u32(w1))
    z2, z3 = box_muller(uniform_from_u32(w2), uniform_from_u32(w3))
    return z0, z1, z2, z3
