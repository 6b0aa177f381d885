"""Reproducible random numbers: the counter-based generator of hhfast's noise, from NumPy.

hhfast draws its random numbers statelessly, as a function of *which* number is wanted rather
than of how many came before: every number is ``Philox4x32-10(counter, key)`` (Salmon et al.,
SC 2011; the Random123 generator) with

* ``key = (seed mod 2^32, seed // 2^32)``: the call's 64-bit ``seed``;
* ``counter = (trial mod 2^32, trial // 2^32, step, stream)``: the neuron's noise identity
  ``trial`` (64 bits), the step index ``step`` counted from t = 0 (32 bits) and a ``stream``
  number (32 bits) that tells apart the independent sequences of one neuron.

So a number never depends on the batch, chunk, thread or Dask worker that computes it, and any
draw of a simulation can be reproduced here, outside it.  Each counter gives four 32-bit words,
hence four uniforms ``(w + 0.5) * 2^-32`` (in (0, 1), never 0 or 1) and four standard normals
by Box–Muller (``normals``: words 0, 1 -> normals 0, 1; words 2, 3 -> normals 2, 3).  The
functions here run the very code the kernels inline (``hhfast.kernels.philox``), so their
results are bit for bit those of a simulation: the noisy kernels
(``hhfast.kernels.terms.noise``) use, for step ``k`` of a neuron, normal ``k mod 4`` of the counter
``(trial, k // 4, stream 0)``, i.e. ``normals(seed, trial, k // 4, 0)[..., k % 4]``, and for
the start of an OU current normal 0 of ``(trial, first step, stream 1)``.  The largest
``|z|`` they can produce is :data:`Z_MAX` = sqrt(-2 ln 2^-33) = 6.7637.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit

from . import config
from .errors import InputTypeError, InputValueError
from .kernels import drop_stale_caches
from .kernels.fastexp import prefer_wide_vectors
from .kernels.philox import Z_MAX, normals4, philox4x32_10, uniform_from_u32

__all__ = ["Z_MAX", "key_from_seed", "normals", "philox4x32", "uniforms"]

_BLOCK = config.BLOCK
_U32 = 1 << 32
_U64 = 1 << 64
_JIT = dict(cache=True, nogil=True, fastmath=config.FASTMATH, error_model="numpy")


def _words(name: str, value, n_words: int) -> np.ndarray:
    """``value`` as a uint32 array whose last axis has ``n_words`` entries, checked."""
    arr = _int_array(name, value, _U32, "2^32")
    if arr.ndim == 0 or arr.shape[-1] != n_words:
        raise InputValueError(f"{name} must have {n_words} words on its last axis, got shape {arr.shape}")
    return arr.astype(np.uint32)


def _int_array(name: str, value, limit: int, limit_txt: str) -> np.ndarray:
    """``value`` as an integer array with every entry in [0, limit), else a clear error."""
    if isinstance(value, bool | np.bool_):
        raise InputTypeError(f"{name} must be an integer or an array of integers, got {value!r}")
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError):  # pragma: no cover - ragged input
        raise InputTypeError(f"{name} must be an integer or an array of integers, got {value!r}") from None
    if not np.issubdtype(arr.dtype, np.integer) and not isinstance(value, np.ndarray):
        # a list mixing big and small ints (numpy makes [0, 2**64 - 1] float64): entry by entry
        arr = np.asarray(value, dtype=object)
    if arr.dtype == object and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in arr.flat):
        if any(not 0 <= int(v) < limit for v in arr.flat):  # e.g. a mix of -1 and 2^63
            bad = next(v for v in arr.flat if not 0 <= int(v) < limit)
            raise InputValueError(f"{name} must be in [0, {limit_txt}), got {bad!r}")
        arr = arr.astype(np.uint64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(f"{name} must be an integer or an array of integers, got {value!r}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= limit:
            raise InputValueError(f"{name} must be in [0, {limit_txt}), got {lo if lo < 0 else hi!r}")
    return arr


def key_from_seed(seed: int) -> np.ndarray:
    """The Philox key of a 64-bit ``seed``: ``[seed mod 2^32, seed // 2^32]`` as uint32.

    Parameters
    ----------
    seed : int
        In ``[0, 2^64)``.

    Returns
    -------
    numpy.ndarray
        Two ``uint32`` words.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputTypeError(f"seed must be an integer, got {seed!r}")
    s = int(seed)
    if not 0 <= s < _U64:
        raise InputValueError(f"seed must be in [0, 2^64), got {seed!r}")
    return np.array([s & 0xFFFFFFFF, s >> 32], dtype=np.uint32)


@njit(**_JIT)
def _philox_many(ctr, key, out):
    for i in range(ctr.shape[0]):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = philox4x32_10(
            ctr[i, 0], ctr[i, 1], ctr[i, 2], ctr[i, 3], key[i, 0], key[i, 1])


def philox4x32(counter, key) -> np.ndarray:
    """Philox4x32-10 of ``counter`` under ``key`` (Random123's ``philox4x32``).

    Parameters
    ----------
    counter : array_like of int
        Four words in ``[0, 2^32)`` on the last axis, shape ``(..., 4)``.
    key : array_like of int
        Two words in ``[0, 2^32)`` on the last axis, shape ``(..., 2)``; the leading axes
        broadcast against those of ``counter``.

    Returns
    -------
    numpy.ndarray
        ``uint32`` array of shape ``(..., 4)``: the four random words of each counter.

    Examples
    --------
    >>> [hex(w) for w in philox4x32([0, 0, 0, 0], [0, 0])]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    ctr = _words("counter", counter, 4)
    k = _words("key", key, 2)
    try:
        lead = np.broadcast_shapes(ctr.shape[:-1], k.shape[:-1])
    except ValueError:
        raise InputValueError(f"counter of shape {ctr.shape} and key of shape {k.shape} do not "
                         "broadcast") from None
    c2 = np.ascontiguousarray(np.broadcast_to(ctr, lead + (4,))).reshape(-1, 4)
    k2 = np.ascontiguousarray(np.broadcast_to(k, lead + (2,))).reshape(-1, 2)
    out = np.empty_like(c2)
    _philox_many(c2, k2, out)
    return out.reshape(lead + (4,))


@njit(**_JIT)
def _uniforms_many(k0, k1, trial, step, stream, out):
    for i in range(trial.shape[0]):
        tr = trial[i]
        w0, w1, w2, w3 = philox4x32_10(tr, tr >> np.uint64(32), step[i], stream[i], k0, k1)
        out[i, 0] = uniform_from_u32(w0)
        out[i, 1] = uniform_from_u32(w1)
        out[i, 2] = uniform_from_u32(w2)
        out[i, 3] = uniform_from_u32(w3)


@njit(**_JIT)
def _normals_many(k0, k1, trial, step, stream, out):
    # as the kernels draw: a lane loop over blocks of config.BLOCK counters (vectorised),
    # then the block's normals moved into rows of ``out`` (3x faster than storing the four
    # normals of a counter side by side from the lane loop, which LLVM does not vectorise)
    prefer_wide_vectors()
    n = trial.shape[0]
    n_full = n - n % _BLOCK
    tmp = np.empty((4, _BLOCK))
    for base in range(0, n_full, _BLOCK):
        for i in range(_BLOCK):
            j = base + i
            tmp[0, i], tmp[1, i], tmp[2, i], tmp[3, i] = normals4(k0, k1, trial[j], step[j],
                                                                  stream[j])
        for i in range(_BLOCK):
            for w in range(4):
                out[base + i, w] = tmp[w, i]
    for j in range(n_full, n):
        out[j, 0], out[j, 1], out[j, 2], out[j, 3] = normals4(k0, k1, trial[j], step[j],
                                                              stream[j])


def _counters(seed, trial, step, stream):
    key = key_from_seed(seed)
    tr = _int_array("trial", trial, _U64, "2^64")
    st = _int_array("step", step, _U32, "2^32")
    sm = _int_array("stream", stream, _U32, "2^32")
    shape = np.broadcast_shapes(tr.shape, st.shape, sm.shape)
    flat = [np.ascontiguousarray(np.broadcast_to(a, shape), dtype=dt).reshape(-1)
            for a, dt in ((tr, np.uint64), (st, np.uint32), (sm, np.uint32))]
    return key, shape, flat


def uniforms(seed: int, trial, step, stream=0) -> np.ndarray:
    """The four uniforms of each counter ``(trial, step, stream)`` under ``seed``.

    Parameters
    ----------
    seed : int
        The call's seed, in ``[0, 2^64)``.
    trial : int or array_like of int
        Noise identity of the neuron, in ``[0, 2^64)``.
    step : int or array_like of int
        Step index counted from t = 0, in ``[0, 2^32)``.
    stream : int or array_like of int, default 0
        Stream number, in ``[0, 2^32)``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``broadcast(trial, step, stream).shape + (4,)``: ``(w + 0.5) * 2^-32``
        for the four Philox words ``w``, each in ``[2^-33, 1 - 2^-33]``.
    """
    key, shape, (tr, st, sm) = _counters(seed, trial, step, stream)
    out = np.empty((tr.size, 4))
    _uniforms_many(key[0], key[1], tr, st, sm, out)
    return out.reshape(shape + (4,))


def normals(seed: int, trial, step, stream=0) -> np.ndarray:
    """The four standard normals of each counter ``(trial, step, stream)`` under ``seed``,
    exactly as the kernels draw them.

    Parameters
    ----------
    seed : int
        The call's seed, in ``[0, 2^64)``.
    trial : int or array_like of int
        Noise identity of the neuron, in ``[0, 2^64)``.
    step : int or array_like of int
        Step index counted from t = 0, in ``[0, 2^32)``.
    stream : int or array_like of int, default 0
        Stream number, in ``[0, 2^32)``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``broadcast(trial, step, stream).shape + (4,)``.  With ``u`` the
        :func:`uniforms` of the same counter, ``[z0, z1] = r (cos, sin)(2 pi u1)`` with
        ``r = sqrt(-2 ln u0)``, and ``[z2, z3]`` likewise from ``u2, u3``; ``|z| <= Z_MAX``.
    """
    key, shape, (tr, st, sm) = _counters(seed, trial, step, stream)
    out = np.empty((tr.size, 4))
    _normals_many(key[0], key[1], tr, st, sm, out)
    return out.reshape(shape + (4,))


# Numba keys its on-disk cache on this file only, not on the kernel code these functions
# inline: stamp them with the kernels' source hash (hhfast.kernels.drop_stale_caches)
_CACHED = (_philox_many, _uniforms_many, _normals_many)
drop_stale_caches(_CACHED, [f"random{fn.py_func.__name__}" for fn in _CACHED])
