"""Terms: what the driver composes with a method's step (docs/architecture.md §3).

A run's terms are what the kernel receives after its :class:`~hhfast.kernels.layout.Batch`,
and what the driver takes as two arguments ``noise, ch``:

* ``(), ()`` — deterministic: the empty terms;
* ``noise, ()`` — current noise (:mod:`.noise`, a :class:`~hhfast.kernels.layout.NoiseBatch`);
* ``noise, ch`` — channel noise (:mod:`.channel`, a
  :class:`~hhfast.kernels.layout.ChannelBatch`; the model's own step replaces the method's),
  with current noise (zero coefficients where there is none).

(Two flat arguments rather than one tuple of terms: Numba passes a tuple into a ``prange``
body by its elements, one level deep, so a tuple of NamedTuples of arrays cannot cross it.  And
the driver turns each NamedTuple into a plain tuple before its ``prange`` (:func:`as_tuple`):
Numba 0.68 loses writes into an array reached through a NamedTuple inside a ``prange`` body;
the hooks index the fields with ``layout.NB_*``/``CB_*``.)

A term is a small bundle: its block state (``term_open``), what it does at each step's start
(``term_step``: draw normals), per lane before the step (``term_lane``: add a current) and
after it (``term_kick``: a kick on V), and at the block's end (``term_close``: write its state
back).  Each hook below is resolved from the *types* of the terms when Numba compiles the
kernel, so the driver is one function and the empty term's hooks compile to nothing: a
deterministic run keeps the machine code it had before terms existed.
"""

from __future__ import annotations

from numba.core import types
from numba.extending import overload

from ... import config
from ..layout import ChannelBatch, NoiseBatch
from .channel import CS_LEN, CS_NOISE, channel_close, channel_normals, channel_open
from .noise import NS_IW, NS_LEN, lane_noise, noise_close, noise_lane, noise_scratch, step_normals

_OPTS = dict(inline="always", jit_options=dict(fastmath=config.FASTMATH))


_NB, _CB = len(NoiseBatch._fields), len(ChannelBatch._fields)


def _kind(t, ch=None) -> str:
    """"plain", "noise" or "channel" from the Numba types of the terms ``t, ch`` (plain tuples
    of a NoiseBatch's and a ChannelBatch's fields, or empty) or of a block state ``t`` (empty,
    the noise term's ``NS_LEN`` items or the channel term's ``CS_LEN``)."""
    if ch is None:
        return {0: "plain", NS_LEN: "noise", CS_LEN: "channel"}[len(t.types)]
    return {(0, 0): "plain", (_NB, 0): "noise", (_NB, _CB): "channel"}[
        (len(t.types), len(ch.types))]


def as_tuple(t):
    """A NamedTuple's fields as a plain tuple (anything else unchanged): what the driver passes
    into its ``prange`` body (module docstring)."""


#: the NamedTuples a kernel takes as terms, by their number of fields -> their fields as a
#: plain tuple (written out: the two term structures of :mod:`hhfast.kernels.layout`)
_PLAIN = {
    _NB: lambda t: (t[0], t[1], t[2], t[3], t[4], t[5]),
    _CB: lambda t: (t[0], t[1], t[2], t[3]),
}


@overload(as_tuple, **_OPTS)
def _as_tuple(t):
    if isinstance(t, types.BaseNamedTuple):
        return _PLAIN[len(t.types)]
    return lambda t: t


# the Python bodies are never run: Numba compiles the overloads below instead
def term_open(noise, ch, y, st, i0, dt):
    """The terms' block state of the block starting at neuron ``i0``."""


def term_step(noise, ch, ts, k):
    """At the start of step ``k``: draw the step's normals; returns the row of the step's
    normal in the block's buffer."""


def term_lane(ts, j, l, I0, I1, I2):
    """Lane ``l`` before its step: the stage currents (µA/cm²) with the term's, and a kick."""


def term_kick(ts, V1, kick):
    """Lane's V (mV) after its step, with the term's kick."""


def term_currents(ts, I):
    """The stage currents the event pass sees (``I`` or the noisy ones)."""


def term_linear(noise, ch):
    """Whether spike times are interpolated linearly (non-smooth paths: channel noise)."""


def term_close(noise, ch, ts, i0, alive):
    """Write the terms' block state back."""


@overload(term_open, **_OPTS)
def _open(noise, ch, y, st, i0, dt):
    kind = _kind(noise, ch)
    if kind == "plain":
        return lambda noise, ch, y, st, i0, dt: ()
    if kind == "noise":
        return lambda noise, ch, y, st, i0, dt: noise_scratch(y, noise, i0)
    return lambda noise, ch, y, st, i0, dt: channel_open(y, noise, ch, st, i0, dt)


@overload(term_step, **_OPTS)
def _step(noise, ch, ts, k):
    kind = _kind(noise, ch)
    if kind == "plain":
        return lambda noise, ch, ts, k: 0
    if kind == "noise":
        return lambda noise, ch, ts, k: step_normals(ts, noise, k)[1]
    return lambda noise, ch, ts, k: channel_normals(ts, noise, ch, k)


@overload(term_lane, **_OPTS)
def _lane(ts, j, l, I0, I1, I2):
    kind = _kind(ts)
    if kind == "plain":
        return lambda ts, j, l, I0, I1, I2: (I0, I1, I2, I0)
    if kind == "noise":
        return lambda ts, j, l, I0, I1, I2: noise_lane(ts, j, l, I0, I1, I2)

    def lane_channel(ts, j, l, I0, I1, I2):
        c, kick = lane_noise(ts[CS_NOISE], j, l)  # c: the OU current's step mean
        return I0 + c, I1 + c, I2 + c, kick
    return lane_channel


@overload(term_kick, **_OPTS)
def _kick(ts, V1, kick):
    if _kind(ts) == "plain":
        return lambda ts, V1, kick: V1
    return lambda ts, V1, kick: V1 + kick


@overload(term_currents, **_OPTS)
def _currents(ts, I):
    if _kind(ts) == "noise":
        return lambda ts, I: ts[NS_IW]
    return lambda ts, I: I


@overload(term_linear, **_OPTS)
def _linear(noise, ch):
    if _kind(noise, ch) == "channel":
        return lambda noise, ch: True
    return lambda noise, ch: False


@overload(term_close, **_OPTS)
def _close(noise, ch, ts, i0, alive):
    kind = _kind(noise, ch)
    if kind == "plain":
        return lambda noise, ch, ts, i0, alive: None
    if kind == "noise":
        return lambda noise, ch, ts, i0, alive: noise_close(ts, noise, i0)

    return lambda noise, ch, ts, i0, alive: channel_close(ts, noise, ch, i0, alive)
