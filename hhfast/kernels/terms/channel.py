"""Channel noise: Langevin models of the finitely many ion channels of a membrane patch, for a
whole batch (``simulate(channel_noise=...)``), advanced by Euler–Maruyama.

A patch of area ``A`` (µm²) holds ``N_Na = rho_Na A`` Na and ``N_K = rho_K A`` K channels
(the engine passes ``1/N`` per neuron, row ``C_INV_NK``/``C_INV_NNA`` of ``NC``).  Each
channel is the Markov chain of :mod:`hhfast.markov` (K: 5 states ``n0..n4``, open ``n4``; Na:
8 states ``m_i h_j``, open ``m3 h1``); the Langevin models follow the fractions of channels in
each state.

Models (``CHANNELS``; the comparison with the exact chain is in docs/validation.md,
"Channel noise"):

``"channel"``
    The channel-based Langevin model on the 13 occupancies: each reversible transition
    ``i <-> j`` (4 K, 10 Na) moves ``dt (a x_i - b x_j) + sqrt(dt (a x_i + b x_j) / N) z`` from
    ``i`` to ``j``, one standard normal ``z`` per transition (14 per step).  Its diffusion
    matrix is ``S diag(flux) S^T / N``, that of Orio & Soudry (2012) and of Pu & Thomas's
    (2020) "14×28" model, which gives each of the 28 directed transitions its own noise: the
    sum of the two independent Gaussians of a pair is one Gaussian with the summed variance,
    so the law is the same with half the normals and no matrix square root (Orio–Soudry
    take one of the 8×8 and 5×5 diffusion matrices every step).
``"shielding"``
    Stochastic shielding (Schmandt & Galán 2012): the same drift, noise only on the
    transitions that touch an open state (K ``n3 <-> n4``; Na ``m2h1 <-> m3h1`` and
    ``m3h0 <-> m3h1``): 3 normals per step instead of 14.
``"subunit"``
    Fox & Lu (1994) gate noise, as Goldwyn & Shea-Brown (2011) write it:
    ``dx = (αx (1 - x) - βx x) dt + sqrt((αx (1 - x) + βx x) / N) dW`` for x = n (N = N_K),
    m, h (N = N_Na), open fractions ``n⁴`` and ``m³h``.  Cheap but wrong in its statistics
    (the open K fraction's variance is ~0.35 of the chain's near rest and ~2 times it at a
    25 mV clamp; it fires far too rarely at rest): kept as a baseline.

Validity of the occupancies.  Every transition moves mass from one state to another, so each
kind's occupancies sum to 1 at every step, exactly up to round-off (no renormalisation is
needed; tested).  The Gaussian increments can take a rarely occupied state (the open Na state
holds ~1e-4 of the channels at rest) slightly below 0; the variance of a transition is then
computed from the occupancies clipped at 0, so its square root is always defined, but the
state itself is not clipped.  Clipping it (at 0, then dividing by the sum) pushes mass into the
rare open states at every step: it raised the spontaneous rate at 30 µm² from the Markov
chain's 27.8 ± 0.2 Hz to 36.6 Hz (unclipped: 28.6 Hz) and at 10 µm² from 39.1 ± 0.3 to 58.1 Hz
(unclipped: 40.8 Hz); clipping only the open fractions that enter the conductances gave 30.8
and 47.7 Hz.  So the state stays unclipped: with a drift linear in the state and a diffusion
linear in it (while no occupancy is below 0), the first two moments obey the Markov chain's own
equations.  The price is that a recorded open fraction can be slightly negative (at 10 µm²,
N_Na = 600: the open Na fraction, mean 9e-5 at rest, is below 0 about half the time, down to
-0.006, i.e. -3 channels); docs/guide/channel-noise.md gives the figures per area.  Below ~10 µm² the Gaussian
approximation itself fails (at 1 µm², N_K = 18, the open K fraction reached -0.35): use the
Markov reference there, which is fast at small areas.  Subunit gates are clipped to [0, 1] as
Goldwyn & Shea-Brown (2011) do.

Integration.  Each model is a lane ``step`` of the one driver
(:func:`hhfast.kernels.cpu.drive`) with the terms ``(noise, channel)``: the channel term holds
the occupancies and draws the channel normals, the noise term adds current noise.
Euler–Maruyama for V and the occupancies together (strong order 1/2, weak order 1): every
increment of a step is computed from the state at its start.  V's drift uses the
open fractions: ``C dV/dt = I - gNa o_Na (V - ENa) - gK o_K (V - EK) - gL (V - EL)``.  Current
noise (``noise_sigma``) is added as in :mod:`hhfast.kernels.terms.noise`.  A spike time is the linear
interpolation of the threshold crossing within the step (the paths are not smooth, so the
cubic Hermite of the deterministic kernels buys nothing).

Random numbers.  The channel normals of step ``k`` (counted from t = 0) come from the Philox
counters ``(trial, k, stream STREAM_CHANNEL + s)``, ``s = 0 .. calls - 1`` (four normals a
call; current noise uses streams 0 and 1), so a neuron's noise depends only on (seed, trial,
step) as in :mod:`hhfast.kernels.terms.noise`.

Arrays (besides those of :mod:`hhfast.kernels.layout`): ``X[NX, N]`` the occupancies (K ``n0..n4`` at
0..4, Na ``m_i h_j`` at ``5 + i + 4 j``; the subunit model keeps n, m, h at 0..2), initial on
entry, final on exit (NaN for a diverged neuron); ``NC[2, N]`` 1/N_K, 1/N_Na.  ``y`` holds
``(V, o_K, o_Na, 0)``: the open fractions take the gates' rows, so the shared recording and
event scan read them (record names ``K_open``, ``Na_open``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ... import config
from ..fastexp import always_inline, like, select
from ..hh import rates_unscaled
from ..layout import (
    C_INV_NK,
    C_INV_NNA,
    CB_CALLS,
    CB_GATES,
    CB_NC,
    CB_X,
    NB_K0,
    NB_K1,
    NB_KFIRST,
    NX,
    P_EK,
    P_EL,
    P_ENA,
    P_GK,
    P_GL,
    P_GNA,
    P_ICM,
    P_PHI,
    P_VREST,
    STREAM_CHANNEL,
    X_K_OPEN,
    X_NA_OPEN,
)
from ..options import COLD, HOT, INLINE
from ..spec import ChannelSpec
from .noise import NS_TR, close_scratch, fill_normals, noise_scratch, refill_scratch

BLOCK = config.BLOCK

#: The block state of the channel term, a tuple indexed by these (plain, as the noise term's):
#: the noise term's, occupancies or gates ``x``, 1/N per kind ``inv``, the channel normals
#: ``zc`` (four per Philox call), √dt ``sqh``
CS_NOISE, CS_X, CS_INV, CS_ZC, CS_SQH = range(5)
CS_LEN = 5


# -- the pieces of a step -----------------------------------------------------------------------
@njit(**HOT)
def _clip0(x):
    always_inline()
    return select(x < like(x, 0.0), like(x, 0.0), x)


@njit(**HOT)
def _move(a, b, xi, xj, h):
    """Drift of the transition i -> j (forward rate a, backward b) over h: h (a x_i - b x_j)."""
    always_inline()
    return h * (a * xi - b * xj)


@njit(**HOT)
def _move_noisy(a, b, xi, xj, h, sqh, iN, z):
    """:func:`_move` plus its noise ``sqrt(h (a x_i + b x_j) / N) z`` (occupancies clipped at
    0 inside the square root)."""
    always_inline()
    var = (a * _clip0(xi) + b * _clip0(xj)) * iN
    return h * (a * xi - b * xj) + sqh * math.sqrt(var) * z


@njit(**INLINE)
def _occupancy_step(x, zc, l, an, bn, am, bm, ah, bh, iNK, iNNa, h, sqh, shield):
    """Euler–Maruyama step of the 13 occupancies of lane ``l``: every transition from the
    state at the step's start, noise on all 14 (``shield`` False) or on the 3 that touch an
    open state (True).  Each transition moves mass between two states, so the sums stay 1;
    occupancies are not clipped (module docstring, "Validity")."""
    k0, k1, k2, k3, k4 = x[0, l], x[1, l], x[2, l], x[3, l], x[4, l]
    # K: n_i -> n_(i+1) at (4 - i) αn, back at (i + 1) βn
    if shield:
        d0 = _move(4 * an, bn, k0, k1, h)
        d1 = _move(3 * an, 2 * bn, k1, k2, h)
        d2 = _move(2 * an, 3 * bn, k2, k3, h)
    else:
        d0 = _move_noisy(4 * an, bn, k0, k1, h, sqh, iNK, zc[0, l])
        d1 = _move_noisy(3 * an, 2 * bn, k1, k2, h, sqh, iNK, zc[1, l])
        d2 = _move_noisy(2 * an, 3 * bn, k2, k3, h, sqh, iNK, zc[2, l])
    d3 = _move_noisy(an, 4 * bn, k3, k4, h, sqh, iNK, zc[3, l])
    x[0, l] = k0 - d0
    x[1, l] = k1 + d0 - d1
    x[2, l] = k2 + d1 - d2
    x[3, l] = k3 + d2 - d3
    x[4, l] = k4 + d3
    # Na: m_i h_j at 5 + i + 4 j; m_i -> m_(i+1) at (3 - i) αm, back at (i + 1) βm;
    # h0 -> h1 at αh, back at βh
    a0, a1, a2, a3 = x[5, l], x[6, l], x[7, l], x[8, l]      # h0
    b0, b1, b2, b3 = x[9, l], x[10, l], x[11, l], x[12, l]   # h1
    if shield:
        ma0 = _move(3 * am, bm, a0, a1, h)
        ma1 = _move(2 * am, 2 * bm, a1, a2, h)
        ma2 = _move(am, 3 * bm, a2, a3, h)
        mb0 = _move(3 * am, bm, b0, b1, h)
        mb1 = _move(2 * am, 2 * bm, b1, b2, h)
        h0 = _move(ah, bh, a0, b0, h)
        h1 = _move(ah, bh, a1, b1, h)
        h2 = _move(ah, bh, a2, b2, h)
        mb2 = _move_noisy(am, 3 * bm, b2, b3, h, sqh, iNNa, zc[1, l])
        h3 = _move_noisy(ah, bh, a3, b3, h, sqh, iNNa, zc[2, l])
    else:
        ma0 = _move_noisy(3 * am, bm, a0, a1, h, sqh, iNNa, zc[4, l])
        ma1 = _move_noisy(2 * am, 2 * bm, a1, a2, h, sqh, iNNa, zc[5, l])
        ma2 = _move_noisy(am, 3 * bm, a2, a3, h, sqh, iNNa, zc[6, l])
        mb0 = _move_noisy(3 * am, bm, b0, b1, h, sqh, iNNa, zc[7, l])
        mb1 = _move_noisy(2 * am, 2 * bm, b1, b2, h, sqh, iNNa, zc[8, l])
        mb2 = _move_noisy(am, 3 * bm, b2, b3, h, sqh, iNNa, zc[9, l])
        h0 = _move_noisy(ah, bh, a0, b0, h, sqh, iNNa, zc[10, l])
        h1 = _move_noisy(ah, bh, a1, b1, h, sqh, iNNa, zc[11, l])
        h2 = _move_noisy(ah, bh, a2, b2, h, sqh, iNNa, zc[12, l])
        h3 = _move_noisy(ah, bh, a3, b3, h, sqh, iNNa, zc[13, l])
    x[5, l] = a0 - ma0 - h0
    x[6, l] = a1 + ma0 - ma1 - h1
    x[7, l] = a2 + ma1 - ma2 - h2
    x[8, l] = a3 + ma2 - h3
    x[9, l] = b0 - mb0 + h0
    x[10, l] = b1 + mb0 - mb1 + h1
    x[11, l] = b2 + mb1 - mb2 + h2
    x[12, l] = b3 + mb2 + h3


@njit(**INLINE)
def _occupancy_open(x, l):
    """(o_K, o_Na): the open-state occupancies n4 and m3h1."""
    return x[X_K_OPEN, l], x[X_NA_OPEN, l]


@njit(**HOT)
def _gate_noisy(x, a, b, h, sqh, iN, z):
    """Fox–Lu step of one gate, clipped to [0, 1]."""
    always_inline()
    one = like(x, 1.0)
    v = x + h * (a * (one - x) - b * x) + sqh * math.sqrt((a * (one - x) + b * x) * iN) * z
    v = _clip0(v)
    return select(v > one, one, v)


@njit(**INLINE)
def _subunit_step(x, zc, l, an, bn, am, bm, ah, bh, iNK, iNNa, h, sqh, shield):
    """Fox–Lu (1994) gate noise: n with N_K, m and h with N_Na (``shield`` unused)."""
    n, m, g = x[0, l], x[1, l], x[2, l]
    x[0, l] = _gate_noisy(n, an, bn, h, sqh, iNK, zc[0, l])
    x[1, l] = _gate_noisy(m, am, bm, h, sqh, iNNa, zc[1, l])
    x[2, l] = _gate_noisy(g, ah, bh, h, sqh, iNNa, zc[2, l])


@njit(**INLINE)
def _subunit_open(x, l):
    """(o_K, o_Na) = (n⁴, m³h)."""
    n, m = x[0, l], x[1, l]
    n2 = n * n
    return n2 * n2, m * m * m * x[2, l]


# -- a model's lane step ------------------------------------------------------------------------
@njit(**INLINE)
def em_step(update, opened, shield, V, oK, oNa, Ia, pb, l, h, cs):
    """Euler–Maruyama step of lane ``l``: V from the open fractions at the step's start and the
    current ``Ia`` (µA/cm², stimulus plus the noise term's step mean), then the occupancies
    (``update``, with noise on every transition or, with ``shield``, on those of the open
    states); returns (V, o_K, o_Na, 0) at the step's end (the noise term adds its kick)."""
    i_ion = (pb[P_GNA, l] * oNa * (V - pb[P_ENA, l])
             + pb[P_GK, l] * oK * (V - pb[P_EK, l])
             + pb[P_GL, l] * (V - pb[P_EL, l]))
    V1 = V + h * (Ia - i_ion) * pb[P_ICM, l]
    an, bn, am, bm, ah, bh = rates_unscaled(V, pb[P_VREST, l])
    phi = pb[P_PHI, l]  # as hh.rates does
    an, bn, am, bm, ah, bh = phi * an, phi * bn, phi * am, phi * bm, phi * ah, phi * bh
    x, inv = cs[CS_X], cs[CS_INV]
    update(x, cs[CS_ZC], l, an, bn, am, bm, ah, bh, inv[0, l], inv[1, l], h, cs[CS_SQH], shield)
    oK1, oNa1 = opened(x, l)
    return V1, oK1, oNa1, like(V, 0.0)


@njit(**HOT)
def step_channel(V, oK, oNa, g, I0, I1, I2, pb, l, h, cs):
    """The channel-based Langevin model (module docstring): 14 normals a step."""
    always_inline()
    return em_step(_occupancy_step, _occupancy_open, False, V, oK, oNa, I0, pb, l, h, cs)


@njit(**HOT)
def step_shielding(V, oK, oNa, g, I0, I1, I2, pb, l, h, cs):
    """Stochastic shielding (module docstring): 3 normals a step."""
    always_inline()
    return em_step(_occupancy_step, _occupancy_open, True, V, oK, oNa, I0, pb, l, h, cs)


@njit(**HOT)
def step_subunit(V, oK, oNa, g, I0, I1, I2, pb, l, h, cs):
    """Fox–Lu gate noise (module docstring): 3 normals a step."""
    always_inline()
    return em_step(_subunit_step, _subunit_open, False, V, oK, oNa, I0, pb, l, h, cs)


# -- the term's block state ---------------------------------------------------------------------
@njit(**INLINE)
def channel_open(y, nb, cb, st, i0, dt):
    """The channel term's block state (``CS_*``) of the block starting at ``i0``;
    sets the block's state rows 1..3 to the open fractions and 0."""
    x = np.empty((NX, BLOCK), y.dtype)
    inv = np.empty((2, BLOCK), y.dtype)
    X, NC = cb[CB_X], cb[CB_NC]
    for l in range(BLOCK):
        i = i0 + l
        for r in range(NX):
            x[r, l] = X[r, i]
        inv[0, l] = NC[C_INV_NK, i]
        inv[1, l] = NC[C_INV_NNA, i]
    zero = like(y[0, 0], 0.0)
    for l in range(BLOCK):
        if cb[CB_GATES]:
            st[1, l], st[2, l] = _subunit_open(x, l)
        else:
            st[1, l], st[2, l] = _occupancy_open(x, l)
        st[3, l] = zero
    return (noise_scratch(y, nb, i0), x, inv, np.empty((4 * cb[CB_CALLS], BLOCK), y.dtype),
            like(y[0, 0], math.sqrt(dt)))


@njit(**INLINE)
def channel_refill(cs, nb, cb, k):
    """The normals of step ``k``: the noise term's (every fourth step), then the channel's,
    counters ``(trial, kk, stream STREAM_CHANNEL + s)``, ``s < calls``, with ``kk`` the step's
    index from t = 0."""
    ns, zc = cs[CS_NOISE], cs[CS_ZC]
    kk = nb[NB_KFIRST] + k
    if kk & 3 == 0 or k == 0:
        refill_scratch(ns, nb, kk >> 2)
    for s in range(cb[CB_CALLS]):
        fill_normals(zc, 4 * s, ns[NS_TR], nb[NB_K0], nb[NB_K1], kk, STREAM_CHANNEL + s)


@njit(**INLINE)
def channel_normals(cs, nb, cb, k):
    """The step's normals (:func:`channel_refill`); returns the noise term's row ``j``."""
    channel_refill(cs, nb, cb, k)
    return (nb[NB_KFIRST] + k) & 3


@njit(**COLD)
def channel_close(cs, nb, cb, i0, alive):
    """Write the block's occupancies (NaN for a diverged lane) and OU currents back."""
    x, X = cs[CS_X], cb[CB_X]
    for l in range(BLOCK):
        for r in range(NX):
            X[r, i0 + l] = x[r, l] if alive[l] else np.nan
    close_scratch(cs[CS_NOISE], nb, i0)


# -- the registry -------------------------------------------------------------------------------
def _spec(name, step, sources, state, cost, description, reference):
    return ChannelSpec(name=name, step=step, sources=sources, state=state,
                       scheme="Euler–Maruyama (strong order 1/2)", cost_ns=cost,
                       description=description, reference=reference)


#: ``channel_noise=`` name -> :class:`~hhfast.kernels.spec.ChannelSpec`, in the order tables
#: list them.  ``cost_ns`` (the sweeps' time estimate): measured 24.2-25.1, 10.3-10.8,
#: 7.6-8.1 ns per neuron-step per core (4096 neurons x 2000 steps,
#: benchmarks/channel_sweep_cost.py; euler 2.4-2.7 there), rounded up ~10 %.
CHANNELS: dict[str, ChannelSpec] = {s.name: s for s in (
    _spec("channel", step_channel, 14, "occupancies", 28.0,
          "channel-based Langevin on the 8 Na + 5 K occupancies",
          "Orio & Soudry (2012); Pu & Thomas (2020)"),
    _spec("shielding", step_shielding, 3, "occupancies",
          12.0,
          "the channel model with noise only on transitions that touch an open state",
          "Schmandt & Galán (2012)"),
    _spec("subunit", step_subunit, 3, "gates", 9.0,
          "Fox & Lu (1994) gate noise on n, m, h: cheap, statistically inaccurate",
          "Fox & Lu (1994); Goldwyn & Shea-Brown (2011)"),
)}
