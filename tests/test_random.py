"""The counter-based generator (hhfast.random, hhfast.kernels.philox): Philox4x32-10 against
Random123's known answers and a plain-Python Philox, the polynomial log / sincos against
libm and extended precision, the normals' distribution, and the vectorised lane loop."""

import json
import math
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from scipy import stats

from hhfast import config
from hhfast import random as hr
from hhfast.kernels.fastexp import prefer_wide_vectors
from hhfast.kernels.philox import (
    Z_MAX,
    box_muller,
    normals4,
    philox4x32_10,
    sincos2pi,
    uniform_from_u32,
    vlog,
)

# -- a plain-Python Philox4x32-10, from the definition in Salmon et al. (SC 2011) -------------
MASK32 = 0xFFFFFFFF


def philox_reference(ctr, key):
    """Philox4x32-10 in Python integers: 10 rounds of two 32x32->64 products, key bumped by
    the Weyl constants between rounds."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + 0x9E3779B9) & MASK32
            k1 = (k1 + 0xBB67AE85) & MASK32
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32)
    return c0, c1, c2, c3


# Random123 kat_vectors, philox4x32 10 (also in the test suites of several independent ports)
KATS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK32,) * 4, (MASK32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@njit(fastmath=config.FASTMATH, error_model="numpy")
def _philox_scalar(c0, c1, c2, c3, k0, k1):
    return philox4x32_10(c0, c1, c2, c3, k0, k1)


@pytest.mark.parametrize(("ctr", "key", "expected"), KATS)
def test_random123_known_answers(ctr, key, expected):
    assert tuple(int(w) for w in hr.philox4x32(np.array(ctr), np.array(key))) == expected
    assert tuple(int(w) for w in _philox_scalar(*[np.uint32(v) for v in ctr + key])) == expected
    assert philox_reference(ctr, key) == expected  # the test's own reference is right too


@given(st.lists(st.integers(0, MASK32), min_size=6, max_size=6))
def test_numba_philox_equals_python_philox(words):
    ctr, key = tuple(words[:4]), tuple(words[4:])
    assert tuple(int(w) for w in hr.philox4x32(ctr, key)) == philox_reference(ctr, key)


def test_philox_broadcasts_and_is_a_batch_of_independent_calls():
    rng = np.random.default_rng(3)
    ctr = rng.integers(0, 1 << 32, size=(3, 5, 4), dtype=np.uint64)
    key = np.array([0x12345678, 0x9ABCDEF0])
    out = hr.philox4x32(ctr, key)
    assert out.shape == (3, 5, 4) and out.dtype == np.uint32
    for idx in np.ndindex(3, 5):
        assert tuple(int(w) for w in out[idx]) == philox_reference(
            tuple(int(v) for v in ctr[idx]), (0x12345678, 0x9ABCDEF0))


def test_counter_layout_and_uniforms():
    # counter = (trial low, trial high, step, stream), key = (seed low, seed high);
    # uniforms (w + 0.5) 2^-32, exact in float64
    seed = (0xCAFEBABE << 32) | 0x0DDBA11
    trial = (7 << 32) | 0xFFFFFFFE
    u = hr.uniforms(seed, trial, 123456, stream=9)
    w = philox_reference((0xFFFFFFFE, 7, 123456, 9), (0x0DDBA11, 0xCAFEBABE))
    assert u.shape == (4,)
    assert [float(v) for v in u] == [(x + 0.5) / 2**32 for x in w]
    assert list(hr.key_from_seed(seed)) == [0x0DDBA11, 0xCAFEBABE]


def test_uniform_range_never_zero_or_one():
    @njit
    def f(w):
        return uniform_from_u32(w)

    assert f(np.uint32(0)) == 2.0**-33
    assert f(np.uint32(MASK32)) == 1.0 - 2.0**-33
    assert f(np.uint32(1 << 31)) + f(np.uint32((1 << 31) - 1)) == 1.0  # symmetric about 1/2


# -- the polynomial log and sincos -----------------------------------------------------------

@njit(fastmath=config.FASTMATH, error_model="numpy")
def _vlog_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = vlog(x[i])
    return out


@njit(fastmath=config.FASTMATH, error_model="numpy")
def _sincos_array(x):
    s = np.empty_like(x)
    c = np.empty_like(x)
    for i in range(x.size):
        s[i], c[i] = sincos2pi(x[i])
    return s, c


def _uniform_grid():
    """Uniforms (w + 0.5) 2^-32: 10^6 random words plus the edges of (0, 1), both sides of 1/2
    and of sqrt(1/2) (where vlog's reduction switches exponent)."""
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.integers(0, 1 << 32, 10**6), np.arange(4096),
                        MASK32 - np.arange(4096), (1 << 31) + np.arange(-2048, 2048),
                        3037000499 + np.arange(-2048, 2048)])
    return (w + 0.5) * 2.0**-32


LONGDOUBLE_OK = np.finfo(np.longdouble).eps < 1e-18
needs_longdouble = pytest.mark.skipif(not LONGDOUBLE_OK,
                                      reason="needs an extended-precision numpy.longdouble")


def _ulp(got, exact):
    """|got - exact| in units of the float64 spacing at ``exact`` (``exact`` in longdouble)."""
    return np.abs((got.astype(np.longdouble) - exact)
                  / np.spacing(np.abs(exact).astype(np.float64)).astype(np.longdouble))


def _sincos2pi_exact(u):
    """sin(2 pi u), cos(2 pi u) in extended precision: of 2 pi y, y = u - q/4 with
    q = round(4u) (an exact subtraction), turned by q quarter turns."""
    q = np.round(4.0 * u)
    a = 2 * np.arccos(np.longdouble(-1)) * (u - q / 4.0).astype(np.longdouble)
    sy, cy = np.sin(a), np.cos(a)
    quarter = q.astype(np.int64) % 4
    return np.choose(quarter, [sy, cy, -sy, -cy]), np.choose(quarter, [cy, -sy, -cy, sy])


def test_vlog_within_3_ulp_of_math_log():
    # Measured max 2.0 ulp over the uniforms' domain and over [e^-700, e^700] (degree-9 series
    # in s^2 with truncation 2.3e-17, one division and the Cody-Waite k ln 2; math.log itself
    # is within 1 ulp of exact).  Tolerance 3 ulp.
    x = _uniform_grid()
    sub = x[::10]
    exact = np.array([math.log(v) for v in sub])
    assert _ulp(_vlog_array(sub), exact.astype(np.longdouble)).max() <= 3.0
    wide = np.exp(np.random.default_rng(1).uniform(-700.0, 700.0, 100_000))
    exact = np.array([math.log(v) for v in wide])
    assert _ulp(_vlog_array(wide), exact.astype(np.longdouble)).max() <= 3.0
    assert _vlog_array(np.array([1.0]))[0] == 0.0


@needs_longdouble
def test_vlog_within_2_ulp_of_exact():
    # against log in 80-bit extended precision (error ~1e-19, 1/2000 ulp): measured max 1.98
    x = _uniform_grid()
    assert _ulp(_vlog_array(x), np.log(x.astype(np.longdouble))).max() <= 2.0


@needs_longdouble
def test_sincos2pi_within_2_ulp_of_exact():
    # Reference: sin and cos in extended precision of 2 pi y, y = u - q/4 (q = round(4u),
    # computed here in numpy; the subtraction is exact) turned by q quarter turns.  Reducing
    # first is required: sin(2 pi u) with 2 pi u rounded even to 64 bits is off by ~3e-19
    # absolute, ~1e6 ulp where sin(2 pi u) ~ 1e-9 (u within 2^-33 of 1/2).  Measured max
    # 1.55 ulp (sine and cosine), tolerance 2 ulp.
    x = _uniform_grid()
    s, c = _sincos_array(x)
    s_ref, c_ref = _sincos2pi_exact(x)
    assert _ulp(s, s_ref).max() <= 2.0
    assert _ulp(c, c_ref).max() <= 2.0


def test_sincos2pi_against_math_sin_cos():
    # math.sin(2 pi u) is off by up to |2 pi u| eps/2 ~ 7e-16 absolute from rounding 2 pi u,
    # so the comparison is absolute: measured 7.2e-16, tolerance 1.5e-15.
    u = _uniform_grid()[::20]
    s, c = _sincos_array(u)
    assert np.abs(s - np.array([math.sin(2 * math.pi * v) for v in u])).max() < 1.5e-15
    assert np.abs(c - np.array([math.cos(2 * math.pi * v) for v in u])).max() < 1.5e-15
    # exact at the quarter turns
    s, c = _sincos_array(np.array([0.0, 0.25, 0.5, 0.75]))
    assert list(s) == [0.0, 1.0, 0.0, -1.0] and list(c) == [1.0, 0.0, -1.0, 0.0]


@needs_longdouble
def test_normals_are_box_muller_of_the_uniforms():
    # normals() against Box-Muller evaluated in extended precision from uniforms() of the same
    # counters (angle reduced exactly, as above): error budget log 2 ulp (-> 1 after the
    # sqrt) + sqrt 0.5 + sincos 1.55 + product 0.5 ~ 3.6 ulp of |z|; measured max 3.2;
    # tolerance 4 ulp.
    trial = np.arange(200_000)
    u = hr.uniforms(11, trial, 5, stream=2)
    z = hr.normals(11, trial, 5, stream=2)
    r01 = np.sqrt(-2 * np.log(u[:, 0].astype(np.longdouble)))
    r23 = np.sqrt(-2 * np.log(u[:, 2].astype(np.longdouble)))
    s1, c1 = _sincos2pi_exact(u[:, 1])
    s3, c3 = _sincos2pi_exact(u[:, 3])
    ref = np.stack([r01 * c1, r01 * s1, r23 * c3, r23 * s3], axis=1)
    assert _ulp(z, ref).max() <= 4.0


def test_radius_at_the_extreme_tail():
    # Box-Muller's radius r = sqrt(-2 ln u1) with u1 = (w + 0.5) 2^-32: P(r > t) is exactly
    # #{w : u1(w) < e^(-t^2/2)} / 2^32, within 2^-32 of the normal's e^(-t^2/2).  Check that
    # the computed radius crosses t at the right word for t up to 6.5 sigma and that the
    # largest radius (w = 0) is Z_MAX = sqrt(-2 ln 2^-33).
    @njit(fastmath=config.FASTMATH, error_model="numpy")
    def radius(w):
        z, _ = box_muller(uniform_from_u32(w), 0.0)  # cos(0) = 1: z = r
        return z

    assert radius(np.uint32(0)) == pytest.approx(math.sqrt(66 * math.log(2)), rel=4e-16)
    assert Z_MAX == pytest.approx(math.sqrt(66 * math.log(2)), rel=1e-15)
    assert radius(np.uint32(0)) <= Z_MAX  # the documented bound holds for the computed radius
    for t in (3.0, 4.0, 5.0, 6.0, 6.5):
        # words w < n have u1 < e^(-t^2/2): n = ceil(e^(-t^2/2) 2^32 - 0.5)
        n = math.ceil(math.exp(-t * t / 2) * 2**32 - 0.5)
        assert abs(n / 2**32 - math.exp(-t * t / 2)) <= 2.0**-32
        assert radius(np.uint32(n - 1)) > t >= radius(np.uint32(n))


# -- the distribution of the normals ---------------------------------------------------------

N_DRAWS = 10_000_000  # 2.5e6 counters x 4 normals


@pytest.fixture(scope="module")
def draws():
    return hr.normals(20261130, np.arange(N_DRAWS // 4), 17).reshape(-1)


def test_moments(draws):
    # standard errors for N = 1e7 standard normals: mean 1/sqrt(N) = 3.2e-4, variance
    # sqrt(2/N) = 4.5e-4, skewness sqrt(6/N) = 7.7e-4, excess kurtosis sqrt(24/N) = 1.5e-3;
    # tolerance 5 standard errors each.
    n = draws.size
    assert abs(draws.mean()) < 5 / math.sqrt(n)
    assert abs(draws.var() - 1.0) < 5 * math.sqrt(2 / n)
    assert abs(stats.skew(draws)) < 5 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(draws)) < 5 * math.sqrt(24 / n)


def test_kolmogorov_smirnov(draws):
    # KS against scipy.stats.norm on 1e7 draws (fixed seed, so the p-value is one fixed number;
    # a wrong transform with a CDF error of 1e-3 would give D ~ 1e-3 and p ~ 1e-8700).
    res = stats.kstest(draws, "norm")
    assert res.pvalue > 1e-3
    assert res.statistic < 1.95 / math.sqrt(draws.size)  # the p = 0.001 critical value


def test_tail_frequencies():
    # P(|z| > t) = 2 Phi(-t): counts over N = 4e7 draws vs N p, standard error sqrt(N p (1-p)):
    # t = 3: 107,992 +- 328; 4: 2,534 +- 50; 5: 22.9 +- 4.8.  Tolerance 5 standard errors.
    # (6 sigma, p = 2e-9, needs ~1e10 draws: the radius test above checks that tail exactly.)
    counts = np.zeros(3, dtype=np.int64)
    n = 0
    for chunk in range(4):
        z = np.abs(hr.normals(99, np.arange(chunk * 2_500_000, (chunk + 1) * 2_500_000), 0))
        counts += [(z > t).sum() for t in (3.0, 4.0, 5.0)]
        n += z.size
    for t, c in zip((3.0, 4.0, 5.0), counts):
        p = 2 * stats.norm.sf(t)
        assert abs(c - n * p) < 5 * math.sqrt(n * p * (1 - p)), (t, c, n * p)


def test_no_correlation_within_a_call_or_between_neighbours(draws):
    # E[zi zj] = 0 with standard error 1/sqrt(n); E[z0^2 z1^2] = 1 (independent, not only
    # uncorrelated: z0, z1 share the radius), standard error sqrt(8/n) (E z^4 z^4 = 9).
    # Neighbours: consecutive trials, and the same trial at consecutive steps.
    z = draws.reshape(-1, 4)
    n = z.shape[0]
    se = 1 / math.sqrt(n)
    for i, j in ((0, 1), (0, 2), (1, 3), (2, 3), (0, 3)):
        assert abs(np.mean(z[:, i] * z[:, j])) < 5 * se
    assert abs(np.mean(z[:, 0] ** 2 * z[:, 1] ** 2) - 1.0) < 5 * math.sqrt(8 / n)
    assert abs(np.mean(z[1:, 0] * z[:-1, 0])) < 5 / math.sqrt(n - 1)
    next_step = hr.normals(20261130, np.arange(n), 18)
    assert abs(np.mean(z[:, 0] * next_step[:, 0])) < 5 * se


def test_moments_along_the_steps_of_one_neuron():
    # one trial over 2.5e6 consecutive steps (the sequence one noisy neuron sees): N = 1e7,
    # standard errors mean 3.2e-4, variance 4.5e-4, lag-1 correlation (step to step, same
    # word) 1/sqrt(N/4 - 1) = 6.3e-4; tolerance 5 standard errors.
    z = hr.normals(7, 123_456_789_012, np.arange(2_500_000), stream=3)
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / n)
    for w in range(4):
        assert abs(np.mean(z[1:, w] * z[:-1, w])) < 5 / math.sqrt(z.shape[0] - 1)


@given(seed=st.integers(0, (1 << 64) - 1), trial=st.integers(0, (1 << 64) - 1),
       step=st.integers(0, MASK32), stream=st.integers(0, MASK32))
def test_any_counter_gives_uniforms_inside_0_1_and_bounded_normals(seed, trial, step, stream):
    u = hr.uniforms(seed, trial, step, stream)
    z = hr.normals(seed, trial, step, stream)
    assert ((u > 0) & (u < 1)).all()
    assert (np.abs(z) <= Z_MAX).all()
    # the words behind them are Philox of the documented counter and key
    w = philox_reference((trial & MASK32, trial >> 32, step, stream), (seed & MASK32, seed >> 32))
    assert list(u) == [(x + 0.5) / 2**32 for x in w]


# -- the kernels' path: vectorised lane loop, same numbers -----------------------------------

@njit(nogil=True, fastmath=config.FASTMATH, error_model="numpy")
def _lane_loop(out, k0, k1, trial0, step):
    # as a kernel would draw: one normals4 per lane of a block of config.BLOCK lanes
    prefer_wide_vectors()
    for i in range(config.BLOCK):
        z0, z1, z2, z3 = normals4(k0, k1, trial0 + i, step, np.uint32(0))
        out[0, i] = z0
        out[1, i] = z1
        out[2, i] = z2
        out[3, i] = z3


def test_lane_loop_gives_the_public_numbers():
    seed = 0x0123456789ABCDEF
    key = hr.key_from_seed(seed)
    out = np.empty((4, config.BLOCK))
    trial0 = (5 << 32) - 3  # the block straddles a carry into the trial's high word
    _lane_loop(out, key[0], key[1], np.int64(trial0), np.int64(77))
    ref = hr.normals(seed, trial0 + np.arange(config.BLOCK), 77)
    assert out.T.tobytes() == ref.tobytes()


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="checks x86 assembly")
def test_lane_loop_is_vectorised_without_calls():
    out = np.empty((4, config.BLOCK))
    _lane_loop(out, np.uint32(1), np.uint32(2), np.int64(0), np.int64(0))
    asm = _lane_loop.inspect_asm(_lane_loop.signatures[0])
    # the compiled function itself, not the CPython wrapper that follows it
    start = re.search(r"^(_ZN[^\n]*_lane_loop[^\n]*):$", asm, re.M)
    assert start is not None
    body = asm[start.end():]
    end = re.search(r"^\.Lfunc_end", body, re.M)
    body = body[:end.start()] if end else body
    # Philox's 32x32->64 multiplies as packed (v)pmuludq on vector registers
    assert re.search(r"v?pmuludq\s+%[xyz]mm", body)
    # the log/sqrt/sincos arithmetic on packed doubles (divide in the log, sqrt for r)
    assert re.search(r"v?divpd\s", body) and re.search(r"v?sqrtpd\s", body)
    # nothing left to libm: no call at all
    assert not re.search(r"\bcall", body)


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(("kw", "exc", "match"), [
    (dict(seed=-1), ValueError, r"seed must be in \[0, 2\^64\), got -1"),
    (dict(seed=1 << 64), ValueError, "seed must be in"),
    (dict(seed=1.5), TypeError, "seed must be an integer, got 1.5"),
    (dict(seed=True), TypeError, "seed must be an integer"),
    (dict(trial=-1), ValueError, r"trial must be in \[0, 2\^64\), got -1"),
    (dict(trial=[0, 1 << 64]), ValueError, "trial must be in"),
    (dict(trial=[1.0, 2.0]), TypeError, "trial must be an integer or an array of integers"),
    (dict(trial="3"), TypeError, "trial must be an integer"),
    (dict(step=1 << 32), ValueError, r"step must be in \[0, 2\^32\), got 4294967296"),
    (dict(step=np.array([-2])), ValueError, "step must be in .* got -2"),
    (dict(stream=[-1, 1 << 63]), ValueError, "stream must be in .* got -1"),
    (dict(stream=0.0), TypeError, "stream must be an integer"),
])
def test_bad_input_refused_before_compiling(monkeypatch, kw, exc, match):
    def boom(*a):  # pragma: no cover - only reached on a bug
        raise AssertionError("the jitted loop was reached")

    monkeypatch.setattr(hr, "_normals_many", boom)
    monkeypatch.setattr(hr, "_uniforms_many", boom)
    args = dict(seed=1, trial=0, step=0, stream=0) | kw
    with pytest.raises(exc, match=match):
        hr.normals(**args)
    with pytest.raises(exc, match=match):
        hr.uniforms(**args)


@pytest.mark.parametrize(("counter", "key", "exc", "match"), [
    ([0, 0, 0], [0, 0], ValueError, "counter must have 4 words on its last axis, got shape"),
    ([0, 0, 0, 0], [0], ValueError, "key must have 2 words"),
    ([0, 0, 0, 1 << 32], [0, 0], ValueError, r"counter must be in \[0, 2\^32\)"),
    ([0, 0, 0, 0], [-1, 0], ValueError, "key must be in .* got -1"),
    ([0.0, 0, 0, 0], [0, 0], TypeError, "counter must be an integer"),
    (np.zeros((2, 4), int), np.zeros((3, 2), int), ValueError, "do not broadcast"),
])
def test_philox_bad_input(monkeypatch, counter, key, exc, match):
    monkeypatch.setattr(hr, "_philox_many", None)  # a call would raise TypeError, not match
    with pytest.raises(exc, match=match):
        hr.philox4x32(counter, key)


def test_shapes_broadcast_and_draws_depend_only_on_the_counter():
    # any batch gives each counter the same numbers: a 2-D call equals scalar calls
    z = hr.normals(5, np.array([[0], [1 << 40]]), np.array([0, 3, 9]), stream=1)
    assert z.shape == (2, 3, 4)
    for i, tr in enumerate((0, 1 << 40)):
        for j, s in enumerate((0, 3, 9)):
            assert z[i, j].tobytes() == hr.normals(5, tr, s, stream=1).tobytes()
    # the blocked loop of a long call (two blocks and a remainder) gives the one-counter path
    n = 2 * config.BLOCK + 5
    z = hr.normals(5, np.arange(n), 3)
    assert z.tobytes() == np.concatenate([hr.normals(5, i, 3) for i in range(n)]).tobytes()
    # seed, stream, step and both trial words all change the numbers
    base = hr.normals(5, 1, 1, 1)
    for other in (hr.normals(6, 1, 1, 1), hr.normals(5 + (1 << 32), 1, 1, 1),
                  hr.normals(5, 1, 1, 2), hr.normals(5, 1, 2, 1), hr.normals(5, 2, 1, 1),
                  hr.normals(5, 1 + (1 << 32), 1, 1)):
        assert not np.any(other == base)


# -- the on-disk cache of the NumPy-level loops ----------------------------------------------

CACHE_PROBE = """
import json
from hhfast import random as hr
hr.normals(1, [0, 1], 0)
s = hr._normals_many.stats
print(json.dumps([sum(s.cache_hits.values()), sum(s.cache_misses.values())]))
"""


def _cache_probe():
    out = subprocess.run([sys.executable, "-c", CACHE_PROBE], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow  # 4 processes and a recompile; the fast set checks the same stamp on the
# kernels (tests/test_kernel_cache.py)
def test_cached_loops_are_recompiled_when_the_inlined_generator_changes():
    # Numba keys the cache of hhfast/random.py on that file alone; the loops inline
    # kernels/philox.py, so they carry the kernels' source stamp and a stale stamp (as after an
    # edit of philox.py) must force a recompile instead of serving old machine code.
    marker = Path(hr._normals_many._cache._cache_path) / "random_normals_many.hhfast-stamp"
    _cache_probe()  # the cache now holds the current loop
    assert _cache_probe() == [1, 0]  # a second process loads it
    good = marker.read_text()
    marker.write_text("sources of an older hhfast")
    assert _cache_probe() == [0, 1]  # not served from the stale cache
    assert marker.read_text() == good
    assert _cache_probe() == [1, 0]
