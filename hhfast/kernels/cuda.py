"""The CUDA backend's kernels: one thread per neuron, the CPU's own physics compiled as device
functions (docs/architecture.md §3.3).

Layout.  Thread ``i`` of the grid advances neuron ``i`` of a chunk for the whole run: its
parameter column ``P[:, i]`` is read once into a thread-local ``(NP, 1)`` array (the reads of
neighbouring threads are neighbouring addresses: coalesced, since every per-neuron array has
the neuron index last), its state lives in thread-local ``(4, 1)`` arrays whose indices are
all compile-time constants (so the compiler keeps them in registers: the PTX of a
deterministic step loop has no local loads or stores), and its outputs are written once at
the end, except the rare events (a spike, a blow-up) and the recorded samples, which go to
their rows as they happen.

One physics.  The driver calls the CPU's own functions, unchanged, with lane ``l = 0`` of
these one-lane arrays: a method's ``step`` (``kernels/<method>.py``, on ``hh.py``), the
stimulus edge rule (:func:`.cpu.shape_over_step`), the event pass (:func:`.cpu.lane_events`:
threshold crossings, Hermite or linear spike times, re-arming, blow-ups), recording
(:func:`.cpu.record_lane`), the current-noise lane (:func:`.terms.noise.noise_lane`,
:func:`.terms.noise.lane_noise`), the channel models' steps and Philox
(:func:`.philox.normals4`).  On a card, numba-cuda compiles each of these CPU dispatchers as
a device function from its Python source (``CUDATypingContext.resolve_value_type``); the
``always_inline`` intrinsic marks it ``alwaysinline`` for NVVM as for the CPU's LLVM, and the
``@overload`` helpers of :mod:`.fastexp` are typed for either target.  What is the CUDA
driver's own is only what a thread does that a block of lanes does differently: loading one
column, drawing one lane's normals (the same counters as :func:`.terms.noise.step_normals`),
and the terms' open and close.

Under the simulator (``NUMBA_ENABLE_CUDASIM=1``, pure Python per thread) the same driver
source runs, and the CPU dispatchers it calls run as CPU code; the simulator's device arrays
are unwrapped to NumPy arrays before such a call (:func:`_device`), which is the only
difference between the two paths.

Kernels are built per (step, terms, float type) and kept for the process (numba-cuda
compiles them on first launch; they are not cached on disk).
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import cuda  # this module is imported only by the CUDA backend, when used

from .. import config
from . import cpu
from .layout import (
    C_INV_NK,
    C_INV_NNA,
    I_ARMED,
    I_DIVSTEP,
    NI,
    NP,
    NX,
    NZ_ROWS,
    P_AMP,
    P_BIAS,
    P_REARM,
    P_THR,
    STEPS_PER_COUNTER,
    STREAM_CHANNEL,
    STREAM_NOISE,
    STREAM_OU_MEAN,
    Z_OWN,
)
from .philox import normals4
from .terms import channel as channel_models
from .terms.noise import NS_CUR, NS_OU_MEAN, NS_TR, NS_Z, lane_noise, noise_lane

#: rows of the thread's channel-normal buffer (four normals per Philox call), and of its
#: current-noise normals (z for four steps, z' for four steps); module constants, as the
#: shape of a CUDA local array must be
ZC_ROWS = 4 * config.CUDA_CHANNEL_CALLS_MAX
Z_ROWS = 2 * STEPS_PER_COUNTER
#: slots of the per-thread scalar buffer ``sc``: the stimulus piece, the last step start for
#: which the stage currents cannot change, the stimulus table
SC_SEG, SC_UNTIL, SC_TABLE = range(3)

_KERNELS: dict = {}


def simulating() -> bool:
    """Whether numba's CUDA target is the simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba.core import config as numba_config

    return bool(numba_config.ENABLE_CUDASIM)


def _plain(a):
    """The NumPy array behind a simulator device array (anything else unchanged)."""
    item = getattr(a, "_item", None)  # an array as a simulated kernel sees it
    if item is not None:
        a = item
    return getattr(a, "_ary", a)


def _device(fn):
    """``fn`` (a CPU dispatcher) as the driver calls it: itself on a card, where numba-cuda
    compiles it as a device function; under the simulator, a Python function that unwraps the
    simulator's device arrays and calls the CPU-compiled ``fn``."""
    if not simulating():
        return fn

    def call(*args):
        return fn(*[_plain(a) for a in args])

    call.__name__ = getattr(fn, "__name__", "device")
    return call


def kernel(step, terms: str, dtype, max_registers: int | None = None):
    """The compiled CUDA kernel that drives ``step`` with ``terms`` ("plain", "noise" or
    "channel") in float type ``dtype``; built once per process.  ``max_registers`` caps the
    registers per thread (default ``config.CUDA_MAX_REGISTERS``: the compiler's choice)."""
    if max_registers is None:
        max_registers = config.CUDA_MAX_REGISTERS
    key = (step, terms, np.dtype(dtype), simulating(), max_registers)
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = _build(step, terms, np.dtype(dtype).type, max_registers)
    return k


def _terms(terms: str, ftype):
    """The per-thread hooks of the terms (docs/architecture.md §3.1 and §3.3), as device
    functions: ``open(NZ, trial, ou, X, NC, gates, st, i, dt) -> ts``, ``draw(ts, kfirst, k,
    k0, k1, calls) -> j``, ``lane(ts, j, I0, I1, I2) -> (I0, I1, I2, kick)``,
    ``kick(ts, V1, kick)``, ``currents(ts, I)``, ``close(ts, ou, X, i, alive)``."""
    dev = cuda.jit(device=True)
    n_lane, l_noise = _device(noise_lane), _device(lane_noise)
    normals = _device(normals4)
    open_k = _device(channel_models._occupancy_open)
    open_g = _device(channel_models._subunit_open)

    @dev
    def noise_open(NZ, trial, ou, i, nz, cur, z, tr, Iw):
        for r in range(NZ_ROWS):
            nz[r, 0] = NZ[r, i]
        for r in range(Z_ROWS):
            z[r, 0] = 0.0
        cur[0] = ou[i]
        tr[0] = trial[i]
        return nz, cur, z, tr, NZ[Z_OWN, i] != 0, Iw

    @dev
    def noise_draw(ns, kfirst, k, k0, k1):
        """The normals of step ``k`` (index ``kfirst + k`` from t = 0) when it opens a new
        counter or is the run's first: the rule of :func:`.terms.noise.step_normals`."""
        kk = kfirst + k
        j = kk & 3
        if j == 0 or k == 0:
            z, tr = ns[NS_Z], ns[NS_TR]
            a, b, c, d = normals(k0, k1, tr[0], kk >> 2, STREAM_NOISE)
            z[0, 0], z[1, 0], z[2, 0], z[3, 0] = a, b, c, d
            if ns[NS_OU_MEAN]:
                a, b, c, d = normals(k0, k1, tr[0], kk >> 2, STREAM_OU_MEAN)
                z[4, 0], z[5, 0], z[6, 0], z[7, 0] = a, b, c, d
        return kk, j

    if terms == "plain":
        @dev
        def t_open(NZ, trial, ou, X, NC, gates, st, i, dt, nz, cur, z, tr, Iw, x, inv, zc):
            return ()

        @dev
        def t_draw(ts, kfirst, k, k0, k1, calls):
            return 0

        @dev
        def t_lane(ts, j, I0, I1, I2):
            return I0, I1, I2, I0

        @dev
        def t_kick(ts, V1, kick):
            return V1

        @dev
        def t_currents(I, Iw):
            return I

        @dev
        def t_close(ts, ou, X, i, alive):
            pass

    elif terms == "noise":
        @dev
        def t_open(NZ, trial, ou, X, NC, gates, st, i, dt, nz, cur, z, tr, Iw, x, inv, zc):
            return noise_open(NZ, trial, ou, i, nz, cur, z, tr, Iw)

        @dev
        def t_draw(ts, kfirst, k, k0, k1, calls):
            return noise_draw(ts, kfirst, k, k0, k1)[1]

        @dev
        def t_lane(ts, j, I0, I1, I2):
            return n_lane(ts, j, 0, I0, I1, I2)

        @dev
        def t_kick(ts, V1, kick):
            return V1 + kick

        @dev
        def t_currents(I, Iw):
            return Iw

        @dev
        def t_close(ts, ou, X, i, alive):
            ou[i] = ts[NS_CUR][0]

    else:  # channel noise (with current noise, zero coefficients without it)
        @dev
        def t_open(NZ, trial, ou, X, NC, gates, st, i, dt, nz, cur, z, tr, Iw, x, inv, zc):
            for r in range(NX):
                x[r, 0] = X[r, i]
            inv[0, 0] = NC[C_INV_NK, i]
            inv[1, 0] = NC[C_INV_NNA, i]
            if gates:
                st[1, 0], st[2, 0] = open_g(x, 0)
            else:
                st[1, 0], st[2, 0] = open_k(x, 0)
            st[3, 0] = 0.0
            return (noise_open(NZ, trial, ou, i, nz, cur, z, tr, Iw), x, inv, zc,
                    ftype(math.sqrt(dt)))

        @dev
        def t_draw(ts, kfirst, k, k0, k1, calls):
            """The rule of :func:`.terms.channel.channel_refill`: the noise term's normals,
            then the channel's of counters ``(trial, kk, STREAM_CHANNEL + s)``."""
            ns, zc = ts[0], ts[3]
            kk, j = noise_draw(ns, kfirst, k, k0, k1)
            tr = ns[NS_TR]
            # a constant trip count, so the buffer's indices are constants (registers)
            for s in range(config.CUDA_CHANNEL_CALLS_MAX):
                if s < calls:
                    a, b, c, d = normals(k0, k1, tr[0], kk, STREAM_CHANNEL + s)
                    zc[4 * s, 0], zc[4 * s + 1, 0] = a, b
                    zc[4 * s + 2, 0], zc[4 * s + 3, 0] = c, d
            return j

        @dev
        def t_lane(ts, j, I0, I1, I2):
            c, kick = l_noise(ts[0], j, 0)  # the OU current's step mean, the white kick
            return I0 + c, I1 + c, I2 + c, kick

        @dev
        def t_kick(ts, V1, kick):
            return V1 + kick

        @dev
        def t_currents(I, Iw):
            return I

        @dev
        def t_close(ts, ou, X, i, alive):
            x = ts[1]
            for r in range(NX):
                X[r, i] = x[r, 0] if alive[0] else math.nan
            ou[i] = ts[0][NS_CUR][0]

    return t_open, t_draw, t_lane, t_kick, t_currents, t_close


def _build(step, terms: str, ftype, max_registers: int | None = None):
    """The kernel of one (step, terms, float type): the one CUDA driver (module docstring)."""
    t_open, t_draw, t_lane, t_kick, t_currents, t_close = _terms(terms, ftype)
    step = _device(step)
    shape = _device(cpu.shape_over_step)
    event = _device(cpu.lane_event)
    events = _device(cpu.lane_events)
    record = _device(cpu.record_lane)
    linear = terms == "channel"
    dev = cuda.jit(device=True)

    @dev
    def currents(tb, c0, c1, pb, I, sc, ta, dt):
        """The stage currents of the step from ``ta`` (µA/cm²) into ``I[0..2, 0]``, unless
        ``ta`` is still inside the constant piece of the last update (the rule of
        :func:`.cpu.block_current_update` for one neuron)."""
        if ta <= sc[SC_UNTIL]:
            return
        j = np.int64(sc[SC_TABLE])
        s, sa, sm, se = shape(tb, c0, c1, j, np.int64(sc[SC_SEG]), ta, dt)
        sc[SC_SEG] = s
        sc[SC_UNTIL] = tb[j, s + 1] - dt * (1.0 + 1e-6) if c1[j, s] == 0.0 else -math.inf
        I[0, 0] = pb[P_BIAS, 0] + pb[P_AMP, 0] * sa
        I[1, 0] = pb[P_BIAS, 0] + pb[P_AMP, 0] * sm
        I[2, 0] = pb[P_BIAS, 0] + pb[P_AMP, 0] * se

    @cuda.jit(fastmath=config.FASTMATH,
              **({"max_registers": max_registers} if max_registers else {}))
    def drive(y, P, tidx, tb, c0, c1, ic, fo, spikes, rec, rec_slot, rec_var, t0, dt, n_steps,
              win0, win1, record_every, NZ, trial, ou, k0, k1, kfirst, X, NC, calls, gates):
        i = cuda.grid(1)
        if i >= y.shape[1]:
            return
        pb = cuda.local.array((NP, 1), ftype)
        st = cuda.local.array((4, 1), ftype)
        prev = cuda.local.array((4, 1), ftype)
        fz = cuda.local.array((4, 1), ftype)
        I = cuda.local.array((3, 1), ftype)
        armed = cuda.local.array(1, np.bool_)
        alive = cuda.local.array(1, np.bool_)
        sc = cuda.local.array(3, np.float64)
        rs = cuda.local.array((4, 1), ftype)
        # the terms' thread state (what a term does not use, the compiler drops)
        nz = cuda.local.array((NZ_ROWS, 1), ftype)
        cur = cuda.local.array(1, ftype)
        z = cuda.local.array((Z_ROWS, 1), ftype)
        tr = cuda.local.array(1, np.uint64)
        Iw = cuda.local.array((3, 1), ftype)
        x = cuda.local.array((NX, 1), ftype)
        inv = cuda.local.array((2, 1), ftype)
        zc = cuda.local.array((ZC_ROWS, 1), ftype)
        for r in range(NP):
            pb[r, 0] = P[r, i]
        for v in range(4):
            st[v, 0] = y[v, i]
            fz[v, 0] = y[v, i]
        armed[0] = ic[I_ARMED, i] != 0
        alive[0] = ic[I_DIVSTEP, i] < 0
        sc[SC_SEG] = 0.0
        sc[SC_UNTIL] = -math.inf
        sc[SC_TABLE] = tidx[i]
        ts = t_open(NZ, trial, ou, X, NC, gates, st, i, dt, nz, cur, z, tr, Iw, x, inv, zc)
        h = ftype(dt)
        rec_left = record_every
        for k in range(n_steps):
            currents(tb, c0, c1, pb, I, sc, t0 + k * dt, dt)
            j = t_draw(ts, kfirst, k, k0, k1, calls)
            V, n, m, g = st[0, 0], st[1, 0], st[2, 0], st[3, 0]
            prev[0, 0], prev[1, 0], prev[2, 0], prev[3, 0] = V, n, m, g
            Ia, Ib, Ic, kick = t_lane(ts, j, I[0, 0], I[1, 0], I[2, 0])
            V1, n1, m1, g1 = step(V, n, m, g, Ia, Ib, Ic, pb, 0, h, ts)
            V1 = t_kick(ts, V1, kick)
            st[0, 0], st[1, 0], st[2, 0], st[3, 0] = V1, n1, m1, g1
            if event(V1, n1, m1, g1, pb[P_THR, 0], pb[P_REARM, 0], armed[0], alive[0]):
                events(pb, ic, fo, spikes, 0, i, k, t0, dt, win0, win1, st, prev, fz, armed,
                       alive, t_currents(I, Iw), linear)
            rec_left -= 1
            if rec_left == 0:
                rec_left = record_every
                # recording indexes the state by a run-time row: copy it first, so that only
                # this copy, not the state, needs addressable (local) memory
                for v in range(4):
                    rs[v, 0] = st[v, 0]
                record(rec, rec_slot, rec_var, 0, i, (k + 1) // record_every, rs, fz, alive)
        for v in range(4):
            y[v, i] = st[v, 0] if alive[0] else fz[v, 0]
        ic[I_ARMED, i] = 1 if armed[0] else 0
        t_close(ts, ou, X, i, alive)

    return drive



# -- memory and launch --------------------------------------------------------------------------
def free_memory() -> float:
    """Free memory of the current CUDA device (bytes; ``inf`` under the simulator)."""
    return float(cuda.current_context().get_memory_info()[0])


def neuron_bytes(max_spikes: int, samples: int, noisy: bool, channel: bool) -> int:
    """Bytes one neuron takes on the card: state, parameters, counters, outputs, spike times,
    stimulus table index and recording slot, ``samples`` recorded values, and the terms'
    arrays (docs/architecture.md §3.3: O(N) without recording)."""
    from .layout import NC_ROWS, NF

    words = 4 + NP + NI + NF + max_spikes + 2 + samples
    if noisy:
        words += NZ_ROWS + 2
    if channel:
        words += NX + NC_ROWS
    return 8 * words


#: seconds of the last :func:`launch`: copies to the card, the kernel, copies back; ``TOTAL``
#: the same summed over launches until a caller clears it (what ``benchmarks/gpu.py`` reports
#: to decide whether overlapping the copies with compute would pay)
LAST: dict[str, float] = {}
TOTAL: dict[str, float] = {}


def launch(step, terms: str, b, *term_batches) -> None:
    """Run the kernel of ``(step, terms)`` on the packed chunk ``b`` (a
    :class:`~.layout.Batch`) and its term structures: copy to the card, launch one thread per
    neuron, copy the outputs back into the arrays of ``b`` and the terms.

    Only the recording columns of this chunk's neurons travel (their slots are contiguous).
    The copies are synchronous: they move O(N) bytes against the kernel's O(N x steps) work
    (docs/architecture.md §3.3)."""
    ftype = b.y.dtype
    drive = kernel(step, terms, ftype)
    n = b.y.shape[1]
    noise = term_batches[0] if terms != "plain" else None
    ch = term_batches[1] if terms == "channel" else None
    slots = np.asarray(b.rec_slot)
    own = slots >= 0
    if b.rec.shape[0] and own.any():
        lo, hi = int(slots[own].min()), int(slots[own].max()) + 1
        rec = np.ascontiguousarray(b.rec[:, :, lo:hi])
        slot = np.where(own, slots - lo, -1)
    else:
        lo = hi = 0
        rec = np.full((1, 1, 1), np.nan)
        slot = np.full(n, -1, dtype=np.int64)
    spikes = b.spikes if b.spikes.shape[1] else np.full((n, 1), np.nan)
    if noise is None:
        NZ, trial, ou = np.zeros((NZ_ROWS, 1), ftype), np.zeros(1, np.uint64), np.zeros(1)
        k0 = k1 = np.uint64(0)
        kfirst = 0
    else:
        NZ, trial, ou, k0, k1, kfirst = noise
    if ch is None:
        X, NC, calls, gates = np.zeros((NX, 1), ftype), np.zeros((2, 1), ftype), 0, False
    else:
        X, NC, calls, gates = ch
    to = cuda.to_device
    t0 = time.perf_counter()
    d = {name: to(np.ascontiguousarray(a)) for name, a in (
        ("y", b.y), ("ic", b.ic), ("fo", b.fo), ("spikes", spikes), ("rec", rec),
        ("ou", ou), ("X", X))}
    threads = min(config.CUDA_THREADS_PER_BLOCK, n)
    args = (
        d["y"], to(np.ascontiguousarray(b.P)), to(np.ascontiguousarray(b.tidx)), to(b.tb),
        to(b.c0), to(b.c1), d["ic"], d["fo"], d["spikes"], d["rec"], to(slot),
        to(np.ascontiguousarray(b.rec_var, dtype=np.int64)), float(b.t0), float(b.dt),
        int(b.n_steps), float(b.win0), float(b.win1), int(b.record_every),
        to(np.ascontiguousarray(NZ)), to(np.ascontiguousarray(trial)), d["ou"], np.uint64(k0),
        np.uint64(k1), int(kfirst), d["X"], to(np.ascontiguousarray(NC)), int(calls),
        bool(gates))
    cuda.synchronize()
    t1 = time.perf_counter()
    drive[-(-n // threads), threads](*args)
    cuda.synchronize()
    t2 = time.perf_counter()
    b.y[...] = d["y"].copy_to_host()
    b.ic[...] = d["ic"].copy_to_host()
    b.fo[...] = d["fo"].copy_to_host()
    if b.spikes.shape[1]:
        b.spikes[...] = d["spikes"].copy_to_host()
    if hi > lo:
        b.rec[:, :, lo:hi] = d["rec"].copy_to_host()
    if noise is not None:
        noise.ou[...] = d["ou"].copy_to_host()
    if ch is not None:
        ch.X[...] = d["X"].copy_to_host()
    LAST.update(h2d_s=t1 - t0, kernel_s=t2 - t1, d2h_s=time.perf_counter() - t2, neurons=n)
    for key, v in LAST.items():
        TOTAL[key] = TOTAL.get(key, 0) + v
    TOTAL["launches"] = TOTAL.get("launches", 0) + 1


def normals(seed: int, trial: np.ndarray, step: np.ndarray, stream: np.ndarray) -> np.ndarray:
    """The four normals of each counter ``(trial[i], step[i], stream[i])`` under ``seed``,
    drawn on the card by :func:`.philox.normals4` (the function every kernel draws with):
    :func:`hhfast.random.normals` on the CPU gives the same bits, which the tests and
    ``benchmarks/gpu.py`` check.  Shape ``(n, 4)``, float64."""
    seed = int(seed)
    trial = np.ascontiguousarray(trial, dtype=np.uint64)
    step = np.ascontiguousarray(step, dtype=np.int64)
    stream = np.ascontiguousarray(stream, dtype=np.int64)
    n = trial.size
    out = cuda.to_device(np.full((n, 4), np.nan))
    threads = max(1, min(config.CUDA_THREADS_PER_BLOCK, n))
    _normals_kernel()[-(-n // threads), threads](
        np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), cuda.to_device(trial),
        cuda.to_device(step), cuda.to_device(stream), out)
    return out.copy_to_host()


def _normals_kernel():
    k = _KERNELS.get(("normals", simulating()))
    if k is None:
        draw = _device(normals4)

        @cuda.jit
        def fill(k0, k1, trial, step, stream, out):
            i = cuda.grid(1)
            if i < out.shape[0]:
                a, b, c, d = draw(k0, k1, trial[i], step[i], stream[i])
                out[i, 0], out[i, 1], out[i, 2], out[i, 3] = a, b, c, d

        k = _KERNELS[("normals", simulating())] = fill
    return k
