"""The exact Markov-chain reference for channel noise (``hhfast.reference.markov``).

Every ion channel of a membrane patch of area ``A`` (µm²) is a discrete-state Markov chain,
as in Hodgkin–Huxley kinetics read channel by channel (Skaugen & Walløe 1979; the yardstick of
Goldwyn & Shea-Brown 2011):

* K channel, 5 states ``n0..n4`` (number of open n-subunits): ``n_i -> n_(i+1)`` at rate
  ``(4 - i) αn``, ``n_(i+1) -> n_i`` at ``(i + 1) βn``; open state ``n4``.
* Na channel, 8 states ``m_i h_j`` (``i = 0..3`` open m-subunits, ``j = 0, 1``): ``m_i ->
  m_(i+1)`` at ``(3 - i) αm``, back at ``(i + 1) βm``; ``h0 -> h1`` at ``αh``, back at ``βh``;
  open state ``m3 h1``.

with ``N_Na = round(rho_Na A)`` and ``N_K = round(rho_K A)`` channels, the α, β of
:mod:`hhfast.model` (times the temperature factor φ) and conductances ``gNa N_open,Na / N_Na``,
``gK N_open,K / N_K`` (mS/cm²).  As ``A`` grows the open fractions follow ``m³h`` and ``n⁴``
and the model becomes the deterministic HH model.

**Algorithm** (per neuron, time advanced by a fixed voltage step ``dt``; Strang splitting):

1. V advances half a step with the channel counts frozen, by exponential Euler, exact for
   frozen conductances (``V <- E + (V - E) exp(-G dt/2 / Cm)``, ``G`` the total conductance,
   ``E`` the conductance-weighted reversal potential including the stimulus at the step's
   middle, or its step mean when a stimulus edge falls inside);
2. the rates are frozen at that midpoint V, and the 13 occupancy counts evolve exactly over the
   whole step by Gillespie's direct method: total propensity ``a`` of the 28 transitions,
   waiting time ``-ln(u1) / a``, transition picked with probability proportional to its
   propensity by ``u2 a``; a waiting time past the step's end is discarded (memoryless);
3. V advances the other half step with the new counts.

The only approximation is the freezing of V in the rates over ``dt`` (second order in ``dt``
in the deterministic limit); ``dt`` = ``config.MARKOV_DT`` = 0.01 ms is converged
(docs/validation.md, "The exact Markov reference").  With ``clamp_V`` the voltage is held
fixed and the chain is exact.

**Random numbers**: Philox4x32-10 (:mod:`hhfast.random`) under the key of ``seed``, counter
``(trial low, trial high, j low, j high)`` where ``j`` counts the Philox calls of the neuron
(four uniforms per call, two per Gillespie event).  A neuron's result depends only on
``(seed, trial, its values)``: the same alone, in any batch, on any number of threads.

**Bounded work**: the transitions of each neuron's first step are estimated before the run
and the run is refused beyond ``max_step_events`` / ``max_events`` (enforced while it runs too);
it runs in pieces of ~0.1 s that may pause inside a step, with results independent of the
piecing, so Ctrl-C acts within a second (docs/architecture.md §3d).

**Initial state**: V0 (default ``V_rest``) and occupancy counts equal to ``N`` times the
binomial probabilities of the gate values ``n0, m0, h0`` (default their resting values),
rounded to integers by largest remainder so that they sum to ``N``.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from numba import njit, prange

from . import _checks as C
from . import config
from ._checks import NOISE_VALUES, PER_NEURON
from .engine.assemble import result
from .errors import InputTypeError, InputValueError
from .kernels import drop_stale_caches
from .kernels import layout as L
from .kernels.cpu import shape_over_step
from .kernels.hh import rates
from .kernels.philox import philox4x32_10, uniform_from_u32
from .model import HHParams, check_params, occupancy, steady_state, temperature_factor
from .model import rates as model_rates
from .random import _int_array, key_from_seed
from .result import SimResult
from .stimulus import Stimulus, as_tables

__all__ = ["markov", "MARKOV_PER_NEURON", "K_OPEN", "NA_OPEN"]

#: per-neuron values of :func:`markov` besides those of :func:`hhfast.simulate`
MARKOV_PER_NEURON = ("area", "rho_Na", "rho_K", "clamp_V")
#: index of the open K state (n4) in the 5 K occupancies
K_OPEN = 4
#: index of the open Na state (m3 h1) in the 8 Na occupancies (index ``i + 4 j`` for m_i h_j)
NA_OPEN = 7

_JIT = dict(cache=True, nogil=True, fastmath=config.FASTMATH, error_model="numpy")
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

# rows of the per-neuron constants P
(R_GNA, R_GK, R_GL, R_ENA, R_EK, R_EL, R_CM, R_VREST, R_PHI, R_BIAS, R_AMP, R_THR, R_CLAMP,
 R_NNA, R_NK) = range(15)
R_REARM = 15  # the spike detector's re-arm level (mV), docs/architecture.md §3
NR = 16


def _targets() -> np.ndarray:
    """``T[x, d]``: the state reached by the ``d``-th transition out of state ``x`` (-1: none).

    States: K ``n_i`` at ``x = i`` (0..4), Na ``m_i h_j`` at ``x = 5 + i + 4 j``.  Transition
    ``d = 0``: one more open subunit (n or m), ``d = 1``: one fewer, ``d = 2``: the h gate
    flips (Na only).
    """
    T = np.full((NS, 3), -1, dtype=np.int64)
    for i in range(5):
        T[i, 0] = i + 1 if i < 4 else -1
        T[i, 1] = i - 1 if i > 0 else -1
    for j in range(2):
        for i in range(4):
            x = 5 + i + 4 * j
            T[x, 0] = x + 1 if i < 3 else -1
            T[x, 1] = x - 1 if i > 0 else -1
            T[x, 2] = x + 4 if j == 0 else x - 4
    return T


NS = 13
_T = _targets()


@njit(**_JIT)
def _fill_rates(R, q, an, bn, am, bm, ah, bh):
    """Per-channel rates ``R[x, d]`` (1/ms) of the transitions :data:`_T` and the exit rates
    ``q[x] = sum_d R[x, d]`` at the frozen α, β."""
    for i in range(5):
        R[i, 0] = (4 - i) * an
        R[i, 1] = i * bn
        R[i, 2] = 0.0
    for j in range(2):
        for i in range(4):
            x = 5 + i + 4 * j
            R[x, 0] = (3 - i) * am
            R[x, 1] = i * bm
            R[x, 2] = ah if j == 0 else bh
    for x in range(NS):
        q[x] = R[x, 0] + R[x, 1] + R[x, 2]


@njit(**_JIT)
def _gillespie(c, R, q, span, t, a, budget, buf, state, k0, k1, tr):
    """Evolve the 13 occupancy counts ``c`` (K ``n0..n4``, Na ``m_i h_j`` at ``5 + i + 4j``)
    exactly over ``span`` ms at the fixed rates ``R``, ``q`` (:func:`_fill_rates`): Gillespie's
    direct method.  ``buf`` holds four uniforms, ``state = [next slot, Philox calls so far]``.

    The step is taken from ``t`` ms into it with the running total propensity ``a`` (``a < 0``:
    the step's start, ``a`` computed here), and paused after ``budget`` transitions
    (docs/architecture.md §3d, "Bounded work"): a paused step continued by a later call with
    the returned ``t``, ``a`` draws the same uniforms as an uninterrupted one, so the piecing
    of a run never changes its result.  Returns ``(transitions taken, t, a, finished)``.

    The total propensity ``a = sum_x c[x] q[x]`` is updated by ``q[y] - q[x]`` after each
    transition ``x -> y`` (recomputed from scratch at each step's start); the transition is
    picked by walking the states with ``r = u2 a``, then the (at most three) exits of the state.
    """
    if a < 0.0:
        a = 0.0
        for x in range(NS):
            a += c[x] * q[x]
    events = 0
    while a > 0.0:
        if events >= budget:
            return events, t, a, False
        if state[0] >= 3:  # both pairs of the buffer used: next Philox call
            n = np.uint64(state[1])
            w0, w1, w2, w3 = philox4x32_10(tr & _LO32, tr >> _S32, n & _LO32, n >> _S32, k0, k1)
            buf[0] = uniform_from_u32(w0)
            buf[1] = uniform_from_u32(w1)
            buf[2] = uniform_from_u32(w2)
            buf[3] = uniform_from_u32(w3)
            state[1] += 1
            state[0] = 0
        u1 = buf[state[0]]
        u2 = buf[state[0] + 1]
        state[0] += 2
        t += -math.log(u1) / a
        if t >= span:
            return events, t, a, True
        events += 1
        r = u2 * a
        src = -1
        last = -1
        for x in range(NS):
            p = c[x] * q[x]
            if p > 0.0:
                last = x
                if r < p:
                    src = x
                    break
                r -= p
        if src < 0:  # rounding left r past the sum (~1e-16 per event): the last one
            src = last
            r = 0.0
        dst = -1
        lastd = -1
        for d in range(3):
            p = c[src] * R[src, d]
            if p > 0.0:
                lastd = d
                if r < p:
                    dst = _T[src, d]
                    break
                r -= p
        if dst < 0:
            dst = _T[src, lastd]
        c[src] -= 1
        c[dst] += 1
        a += q[dst] - q[src]
        if not a > 0.0:  # rounding of the running sum near zero: recompute
            a = 0.0
            for x in range(NS):
                a += c[x] * q[x]
    return events, t, a, True


@njit(**_JIT)
def _v_half(v, fna, fk, gNa, gK, gL, ENa, EK, EL, cur, Cm, h):
    """V after ``h`` ms at the open fractions ``fna``, ``fk`` and current ``cur`` (µA/cm²)
    held fixed: exponential Euler, exact for frozen conductances."""
    gna = gNa * fna
    gk = gK * fk
    G = gna + gk + gL
    if G > 0.0:
        E = (gna * ENa + gk * EK + gL * EL + cur) / G
        return E + (v - E) * math.exp(-G * h / Cm)
    return v + h * cur / Cm


# per-neuron integer carry of a run in pieces (columns of ``ist``): the step under way, whether
# it is paused inside its Gillespie part, the stimulus piece, the step's transitions so far,
# the spike detector's arming, and the stop flag (1: a step passed ``max_step_events``)
I_STEP, I_MID, I_SEG, I_SEV, I_ARMED, I_STOP = range(6)
NI = 6
# ... and float carry (columns of ``fst``): time into the paused step (ms), its running total
# propensity, the midpoint V (mV) its rates were frozen at, its current (µA/cm²)
F_T, F_A, F_VH, F_CUR = range(4)
NF = 4


@njit(parallel=True, **_JIT)
def _run(P, counts, V, trial, tidx, tb, c0, c1, t_start, dt, n_steps, win0, win1, k0, k1,
         icount, spikes, fo, wcount, events, rec, rec_every, i0, i1, work, step_cost,
         max_step, ist, fst, bufs, pst):
    """Advance neurons ``i0 .. i1-1`` (``prange``; a neuron reads and writes only its own
    entries) by about ``work`` units each, a step costing ``step_cost`` and a transition 1,
    or to the end of the run: one piece of a run (docs/architecture.md §3d, "Bounded work").
    Everything a neuron needs to go on (``counts``, ``V``, ``ist``, ``fst``, its uniforms
    ``bufs`` and Philox counter ``pst``, its spike statistics) is carried in the arrays, so a
    run's result does not depend on how it was cut into pieces."""
    K = spikes.shape[1]
    for i in prange(i0, i1):
        s = ist[i, I_STEP]
        if s >= n_steps or ist[i, I_STOP] != 0:
            continue
        c = counts[i].copy()
        R = np.empty((NS, 3))
        q = np.empty(NS)
        buf = bufs[i].copy()
        state = pst[i].copy()
        tr = np.uint64(trial[i])
        gNa, gK, gL = P[R_GNA, i], P[R_GK, i], P[R_GL, i]
        ENa, EK, EL = P[R_ENA, i], P[R_EK, i], P[R_EL, i]
        Cm, Vr, phi = P[R_CM, i], P[R_VREST, i], P[R_PHI, i]
        bias, amp, thr, clamp = P[R_BIAS, i], P[R_AMP, i], P[R_THR, i], P[R_CLAMP, i]
        iNNa, iNK = 1.0 / P[R_NNA, i], 1.0 / P[R_NK, i]
        rearm = P[R_REARM, i]
        clamped = clamp == clamp  # not NaN
        mid = ist[i, I_MID] != 0
        seg = ist[i, I_SEG]
        sev = ist[i, I_SEV]
        tin, arun, vh, cur = fst[i, F_T], fst[i, F_A], fst[i, F_VH], fst[i, F_CUR]
        j = tidx[i]
        if s == 0 and not mid:  # the run's start
            v = clamp if clamped else V[i]
            armed = v < thr
            if rec_every > 0:
                rec[0, i, 0] = v
                rec[1, i, 0] = c[K_OPEN] * iNK
                rec[2, i, 0] = c[5 + NA_OPEN] * iNNa
        else:
            v = V[i]
            armed = ist[i, I_ARMED] != 0
        if clamped:
            vh = v
        if clamped or mid:  # rates of the frozen V of the step under way
            an, bn, am, bm, ah, bh = rates(vh, Vr, phi)
            _fill_rates(R, q, an, bn, am, bm, ah, bh)
        cnt = icount[i]
        wc = wcount[i]
        first, wfirst, wlast, wisi2 = fo[0, i], fo[1, i], fo[2, i], fo[3, i]
        ev = events[i]
        done = 0
        while s < n_steps and done < work:
            ta = t_start + s * dt
            if not mid:
                if not clamped:
                    # Strang splitting: V half a step with the counts frozen, the chain a
                    # whole step at the rates of that midpoint V, V the other half with the
                    # new counts
                    seg, sa, sm, se = shape_over_step(tb, c0, c1, j, seg, ta, dt)
                    cur = bias + amp * sm
                    vh = _v_half(v, c[5 + NA_OPEN] * iNNa, c[K_OPEN] * iNK, gNa, gK, gL, ENa,
                                 EK, EL, cur, Cm, 0.5 * dt)
                    an, bn, am, bm, ah, bh = rates(vh, Vr, phi)
                    _fill_rates(R, q, an, bn, am, bm, ah, bh)
                mid = True
                tin = 0.0
                arun = -1.0
                sev = 0
                done += step_cost
            budget = min(max(work - done, 1), max_step - sev + 1)
            e, tin, arun, finished = _gillespie(c, R, q, dt, tin, arun, budget, buf, state,
                                                k0, k1, tr)
            ev += e
            sev += e
            done += e
            if not finished:
                if sev > max_step:  # more transitions in one step than allowed: stop
                    ist[i, I_STOP] = 1
                    break
                continue
            mid = False
            vn = v if clamped else _v_half(vh, c[5 + NA_OPEN] * iNNa, c[K_OPEN] * iNK, gNa,
                                           gK, gL, ENa, EK, EL, cur, Cm, 0.5 * dt)
            # spike detection as simulate: an armed crossing upwards, re-armed below the
            # re-arm level (threshold minus the margin, docs/architecture.md §3)
            if armed and vn >= thr:
                ts = ta + dt * (thr - v) / (vn - v) if vn != v else ta + dt
                if cnt < K:
                    spikes[i, cnt] = ts
                if cnt == 0:
                    first = ts
                cnt += 1
                if ts >= win0 and ts < win1:
                    if wc == 0:
                        wfirst = ts
                    else:
                        wisi2 += (ts - wlast) ** 2
                    wlast = ts
                    wc += 1
                armed = False
            elif not armed and vn < rearm:
                armed = True
            v = vn
            if rec_every > 0 and (s + 1) % rec_every == 0:
                r_ = (s + 1) // rec_every
                rec[0, i, r_] = v
                rec[1, i, r_] = c[K_OPEN] * iNK
                rec[2, i, r_] = c[5 + NA_OPEN] * iNNa
            s += 1
        V[i] = v
        counts[i] = c
        bufs[i] = buf
        pst[i] = state
        ist[i, I_STEP] = s
        ist[i, I_MID] = 1 if mid else 0
        ist[i, I_SEG] = seg
        ist[i, I_SEV] = sev
        ist[i, I_ARMED] = 1 if armed else 0
        fst[i, F_T], fst[i, F_A], fst[i, F_VH], fst[i, F_CUR] = tin, arun, vh, cur
        icount[i] = cnt
        wcount[i] = wc
        fo[0, i] = first
        fo[1, i] = wfirst
        fo[2, i] = wlast
        fo[3, i] = wisi2
        events[i] = ev


# Numba keys its on-disk cache on this file only, not on the kernel code these functions
# inline: stamp them with the kernels' source hash (hhfast.kernels.drop_stale_caches)
_CACHED = (_fill_rates, _gillespie, _v_half, _run)
drop_stale_caches(_CACHED, [f"markov{fn.py_func.__name__}" for fn in _CACHED])


def _largest_remainder(n_total: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Integer counts (rows) of ``n_total`` objects closest to ``n_total * probs`` that sum to
    ``n_total`` (largest-remainder rounding)."""
    exact = n_total[:, None] * probs
    base = np.floor(exact).astype(np.int64)
    short = n_total.astype(np.int64) - base.sum(axis=1)
    order = np.argsort(-(exact - base), axis=1, kind="stable")
    for i in range(base.shape[0]):
        base[i, order[i, : short[i]]] += 1
    return base


def _expected_step_events(P: np.ndarray, V: np.ndarray, gates: list, dt: float) -> np.ndarray:
    """Each neuron's expected channel transitions in its first voltage step: ``dt`` times the
    total exit rate of its channels at the start, ``N_K 4 (αn (1 - n) + βn n) + N_Na (3 (αm
    (1 - m) + βm m) + αh (1 - h) + βh h)`` (1/ms) at the initial gates ``n, m, h`` and V (the
    clamp, if any), times φ: with binomial occupancies each subunit flips at α when closed
    and β when open.  The estimate of the work of a step (docs/architecture.md §3d,
    "Bounded work"); infinite where the rates overflow (absurd temperatures)."""
    clamp = P[R_CLAMP]
    u = np.where(clamp == clamp, clamp, V) - P[R_VREST]
    n, m, h = gates
    with np.errstate(over="ignore", invalid="ignore"):
        an, bn, am, bm, ah, bh = model_rates(u, HHParams(V_rest=0.0, temperature=6.3))
        k = 4.0 * (an * (1 - n) + bn * n)
        na = 3.0 * (am * (1 - m) + bm * m) + ah * (1 - h) + bh * h
        e = dt * P[R_PHI] * (P[R_NK] * k + P[R_NNA] * na)
    return np.where(np.isnan(e), np.inf, e)


def _seconds(work: float) -> str:
    """``work`` transitions as the time one core of the development machine takes for them."""
    sec = work / config.MARKOV_EVENTS_PER_SECOND
    if not math.isfinite(sec):
        return "for ever"
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if sec >= size:
            return f"~{sec / size:.3g} {unit}"
    return f"~{sec:.2g} s"


def _check_work(per_step: np.ndarray, n_steps: int, max_events: float,
                max_step_events: float, flat: dict, dt: float) -> None:
    """Refuse a run whose estimated work (:func:`_expected_step_events`) is above the budgets,
    naming the estimate and the knob, before anything is allocated or compiled."""
    i = int(np.argmax(per_step))
    if not per_step[i] <= max_step_events:
        raise InputValueError(
            f"one voltage step (dt={dt!r} ms) of neuron {i} is expected to take "
            f"{per_step[i]:.3g} channel transitions ({_seconds(per_step[i])} of one core; "
            f"area={float(flat['area'][i])!r} µm², "
            f"temperature={float(flat['temperature'][i])!r} °C"
            + (f", clamp_V={float(flat['clamp_V'][i])!r} mV"
               if "clamp_V" in flat and np.isfinite(flat["clamp_V"][i]) else "")
            + "), above "
            f"max_step_events={max_step_events:.3g} (keyword; default "
            f"config.MARKOV_MAX_STEP_EVENTS): lower the area (large patches are the "
            f"deterministic limit, hh.simulate) or dt, or check the temperature")
    steps = per_step.size * n_steps
    total = float(per_step.sum()) * n_steps + config.MARKOV_STEP_COST * steps
    if not total <= max_events:
        raise InputValueError(
            f"this run is expected to take {total:.3g} channel transitions "
            f"({per_step.size} neurons x {n_steps} steps, {per_step.mean():.3g} transitions per "
            f"neuron-step plus {config.MARKOV_STEP_COST} for the step itself): "
            f"{_seconds(total)} of one core, above max_events={max_events:.3g} (keyword; "
            f"default config.MARKOV_MAX_EVENTS, ~10 min): pass a larger max_events to run "
            f"it, or shorten t_stop, or use fewer or smaller patches")


def _progress_bar(progress: bool | None, total: int):
    """A tqdm bar over ``total`` neuron-steps on stderr, in a terminal or a notebook only (as
    a sweep's): shown at once for ``progress=True``, after ``config.MARKOV_PROGRESS_DELAY``
    seconds for ``None``; none for ``False``."""
    if progress is False:
        return None
    notebook = "ipykernel" in sys.modules
    isatty = getattr(sys.stderr, "isatty", None)
    if not (notebook or (isatty is not None and isatty())):
        return None
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(total=total, unit="neuron-step", unit_scale=True, desc="markov",
                dynamic_ncols=True, file=sys.stderr,
                delay=0.0 if progress else config.MARKOV_PROGRESS_DELAY)


def _in_pieces(piece, ist: np.ndarray, events: np.ndarray, n_steps: int, max_events: float,
               max_step_events: float, dt: float, num_threads: int | None,
               progress: bool | None) -> None:
    """Run ``piece(i0, i1, work)`` (one call of :func:`_run`) until every neuron is at the end,
    in pieces of about ``config.MARKOV_PIECE_SECONDS`` of one core, so that Ctrl-C (raised
    between pieces) acts within a second; stop with an error when a step passed
    ``max_step_events`` or the transitions passed ``max_events``
    (docs/architecture.md §3d, "Bounded work")."""
    import numba

    from .engine import KERNEL_LOCK  # the thread count is process-wide: one kernel at a time

    N = ist.shape[0]
    target = max(1.0, config.MARKOV_EVENTS_PER_SECOND * config.MARKOV_PIECE_SECONDS)
    group = int(min(N, max(1.0, target // config.MARKOV_MIN_PIECE_WORK)))
    work = int(max(config.MARKOV_MIN_PIECE_WORK, target // group))
    bar = _progress_bar(progress, N * n_steps)
    t0 = time.perf_counter()
    with KERNEL_LOCK:
        old = numba.get_num_threads()
        try:
            numba.set_num_threads(min(num_threads or old, N, numba.config.NUMBA_NUM_THREADS))
            finished = 0  # neuron-steps of the groups done
            for i0 in range(0, N, group):
                i1 = min(N, i0 + group)
                reached = 0
                while reached < (i1 - i0) * n_steps:
                    piece(i0, i1, work)
                    stopped = np.flatnonzero(ist[i0:i1, I_STOP])
                    if stopped.size:
                        i = i0 + int(stopped[0])
                        raise InputValueError(
                            f"neuron {i} took more than max_step_events={max_step_events:.3g} "
                            f"channel transitions in its voltage step at t = "
                            f"{ist[i, I_STEP] * dt:.6g} ms after t_start; stopped (keyword; "
                            f"default config.MARKOV_MAX_STEP_EVENTS): lower the area or dt")
                    step = int(ist[i0:i1, I_STEP].sum())
                    done = int(events.sum()) + config.MARKOV_STEP_COST * (finished + step)
                    if done > max_events:
                        raise InputValueError(
                            f"stopped after {done:.3g} channel transitions (each voltage step "
                            f"counted as {config.MARKOV_STEP_COST}), above max_events="
                            f"{max_events:.3g} (keyword; default config.MARKOV_MAX_EVENTS): the "
                            f"estimate before the run was too low; pass a larger max_events")
                    if bar is not None:
                        rate = events.sum() / max(time.perf_counter() - t0, 1e-9)
                        bar.set_postfix_str(f"{rate:.3g} transitions/s", refresh=False)
                        bar.update(step - reached)
                    reached = step
                finished += reached
        finally:
            numba.set_num_threads(old)
            if bar is not None:
                bar.close()


assert (L.F_FIRST, L.F_WFIRST, L.F_WLAST, L.F_WISI2) == (0, 1, 2, 3)  # the rows _run writes


def markov(
    stimulus: Stimulus,
    t_stop: float,
    params: HHParams | None = None,
    *,
    seed: int,
    threshold=None,
    dt: float = config.MARKOV_DT,
    t_start: float = 0.0,
    trial=None,
    max_spikes: int = config.MAX_SPIKES,
    record_dt: float | None = None,
    window: tuple[float, float] | None = None,
    num_threads: int | None = None,
    max_events: float = config.MARKOV_MAX_EVENTS,
    max_step_events: float = config.MARKOV_MAX_STEP_EVENTS,
    progress: bool | None = None,
    **per_neuron,
) -> SimResult:
    """Exact Markov-chain simulation of channel noise (the reference for the Langevin models).

    Each Na and K channel of a patch of ``area`` µm² is a Markov chain (8 and 5 states);
    over each voltage step of ``dt`` ms the channel counts evolve exactly (Gillespie, rates
    frozen at the step's midpoint V), between two half steps of V by exponential Euler with
    the conductances of the open channels (Strang splitting).  See the module docstring for
    the algorithm and the random numbers.

    Parameters
    ----------
    stimulus : Stimulus or sequence of Stimulus
        Current shape; the neuron receives ``bias + amplitude * shape(t)`` µA/cm².
    t_stop : float
        End time (ms); the run ends at ``t_start + n dt``, the first step end at or after it.
    params : HHParams, optional
        Model parameters (default classic, V from rest).
    seed : int
        Key of the random numbers, in ``[0, 2^64)`` (required).
    threshold : float or array, optional
        Spike threshold (mV); default ``V_rest + 50`` as in :func:`hhfast.simulate`.  The
        re-arm margin ``spike_rearm`` (mV below it, per neuron, default
        ``config.SPIKE_REARM_MV``) is taken as in :func:`hhfast.simulate`, by keyword.
    dt : float
        Voltage step (ms), default ``config.MARKOV_DT`` = 0.01 ms.
    t_start : float
        Start time (ms).
    trial : int or array of int, optional
        Noise identity of each neuron, in ``[0, 2^64)`` (default its flat index in the batch).
    max_spikes : int
        Spike times stored per neuron (all are counted); a
        :class:`~hhfast.errors.TruncationWarning` says when a neuron fired more, as in
        :func:`hhfast.simulate`.
    window : (float, float), optional
        Analysis window ``[t0, t1)`` (ms) of the ``window_*`` statistics (default the run).
    record_dt : float, optional
        Record, every ``record_dt`` ms (a whole multiple of ``dt``) from ``t_start``, V (mV)
        and the open fractions ``K_open`` (n4 / N_K) and ``Na_open`` (m3h1 / N_Na) of every
        neuron, in ``traces`` (shape (N, S)) at the times ``t``.
    num_threads : int, optional
        Threads of the ``prange`` over neurons (default Numba's); results do not depend on it.
    max_events : float
        Most channel transitions the call may simulate, all neurons together (default
        ``config.MARKOV_MAX_EVENTS``, about 10 minutes of one core; ``math.inf``: no limit).
        Refused before anything runs when the estimate (``info["events_estimate"]``: each
        neuron's expected transitions in its first step, times the steps) exceeds it; a run
        that reaches it anyway is stopped with the same error.
    max_step_events : float
        Most transitions of one neuron in one voltage step (default
        ``config.MARKOV_MAX_STEP_EVENTS``): refused before the run when a neuron's first step
        is expected to exceed it (e.g. ``temperature=1000``), stopped when a step does.
    progress : bool, optional
        A tqdm bar (neuron-steps, transitions/s) on stderr in a terminal or notebook:
        ``True`` from the start, ``None`` (default) only once a run has lasted
        ``config.MARKOV_PROGRESS_DELAY`` seconds, ``False`` never.  Either way the run goes
        in pieces of about ``config.MARKOV_PIECE_SECONDS``, so Ctrl-C stops it within a
        second; the result does not depend on the pieces.
    **per_neuron : float or array
        As :func:`hhfast.simulate` (model fields, ``amplitude``, ``bias``, ``V0``, ``n0``,
        ``m0``, ``h0``, ``threshold``) and ``area`` (µm², default 100), ``rho_Na`` (Na channels
        per µm², default 60), ``rho_K`` (K channels per µm², default 18) and ``clamp_V`` (mV:
        hold V at this value; NaN = free).  ``n0, m0, h0`` set the initial occupancies
        (binomial, rounded), default their resting values.

    Returns
    -------
    SimResult
        ``method = "markov"``, ``dt`` the voltage step; spike fields as :func:`hhfast.simulate`
        (spike times linearly interpolated within the step); ``final_state["V"]``; in
        ``info``: ``"K_states"`` (batch shape + (5,)) and ``"Na_states"`` (+ (8,)) final
        occupancy counts, ``"N_K"``, ``"N_Na"`` channel counts, ``"K_open"``, ``"Na_open"``
        final open fractions, ``"events"`` transitions simulated per neuron,
        ``"events_estimate"`` their estimate before the run, ``"seed"``, ``"trial"``.

    Raises
    ------
    TypeError, ValueError
        On bad input, naming the argument and the value, before anything is compiled or
        allocated; :class:`hhfast.errors.InputValueError` when the work is above
        ``max_events`` or ``max_step_events`` (before the run, or when the run reaches it).
    KeyboardInterrupt
        On Ctrl-C, within about ``config.MARKOV_PIECE_SECONDS`` (the run is abandoned).
    """
    # ---- scalars ----
    key = key_from_seed(seed)
    t_start = C.real("t_start", t_start)
    t_stop = C.real("t_stop", t_stop)
    if not t_stop > t_start:
        raise InputValueError(f"t_stop ({t_stop!r} ms) must be after t_start ({t_start!r} ms)")
    dt = C.real("dt", dt, positive=True)
    if t_stop - t_start < dt * (1 - 1e-9):  # as simulate: at least one step
        raise InputValueError(f"t_stop ({t_stop!r} ms) must be at least one step (dt={dt!r} "
                              f"ms) after t_start ({t_start!r} ms)")
    n_steps = C.n_steps(t_start, t_stop, dt)
    t_end = t_start + n_steps * dt
    max_spikes = C.integer("max_spikes", max_spikes, 0)
    w0, w1 = C.window(window, t_start)
    C.window_within(w0, w1, t_start, t_end)
    rec_every = 0
    if record_dt is not None:
        record_dt = C.real("record_dt", record_dt, positive=True)
        rec_every = round(record_dt / dt)
        if rec_every < 1 or abs(rec_every * dt - record_dt) > 1e-9 * record_dt:
            raise InputValueError(f"record_dt={record_dt!r} ms must be a whole multiple of the "
                             f"voltage step dt={dt!r} ms")
    if num_threads is not None:
        num_threads = C.integer("num_threads", num_threads, 1)
    max_events = C.real("max_events", max_events, positive=True, allow_inf=True)
    max_step_events = C.real("max_step_events", max_step_events, positive=True, allow_inf=True)
    if progress is not None and not isinstance(progress, bool):
        raise InputTypeError(f"progress must be True, False or None, got {progress!r}")
    if params is None:
        params = HHParams.classic()
    if not isinstance(params, HHParams):
        raise InputTypeError(f"params must be an HHParams, got {params!r}")
    check_params(params)
    # channel noise only: current-noise values are refused, never ignored
    allowed = (set(PER_NEURON) - set(NOISE_VALUES)) | set(MARKOV_PER_NEURON)
    unknown = sorted(set(per_neuron) - allowed)
    if unknown:
        raise InputTypeError(f"markov() got unexpected keyword argument(s) {unknown}; "
                             f"per-neuron values are {sorted(allowed)} (no current noise)")
    stims, stim_shape = C.stimuli(stimulus)

    # ---- per-neuron values: checked as simulate checks them ----
    values = C.per_neuron_values(params, per_neuron, threshold)
    values.update(C.channel_values(per_neuron, "markov"))
    if "clamp_V" in per_neuron:
        refused = InputTypeError(f"clamp_V must be a voltage (mV) or an array of them (NaN = "
                                 f"free), got {per_neuron['clamp_V']!r}")
        try:
            given = np.asarray(per_neuron["clamp_V"])
            cv = given.astype(float)
        except (TypeError, ValueError):
            raise refused from None
        if given.dtype == bool:
            raise refused
        if np.isinf(cv).any():
            raise InputValueError(f"clamp_V must be finite (or NaN = free), got {cv!r}")
        values["clamp_V"] = cv
    for name, arr in values.items():
        C.range_check(name, arr)
    trial_arr = None if trial is None else _int_array("trial", trial, 1 << 64, "2^64")
    shape, N = C.batch_shape(stim_shape, values, trial_arr)
    flat = {k: np.broadcast_to(v, shape).reshape(-1) for k, v in values.items()}
    n_na, n_k = C.channel_counts(flat, rounded=True)
    if N * max_spikes * 8 > 0.8 * config.total_memory_bytes():
        raise InputValueError(f"max_spikes={max_spikes} for {N} neurons needs more memory than this "
                         f"machine has; lower max_spikes")
    n_rec = n_steps // rec_every + 1 if rec_every else 0
    if 3 * N * n_rec * 8 > config.RECORD_MEMORY_BUDGET:
        raise InputValueError(
            f"record_dt={record_dt!r} ms over {t_end - t_start!r} ms gives {n_rec} samples of "
            f"V, K_open, Na_open for {N} neurons: {3 * N * n_rec * 8 / 2**30:.2f} GiB, above "
            f"the budget of {config.RECORD_MEMORY_BUDGET / 2**30:.2f} GiB "
            f"(HHFAST_RECORD_BUDGET, bytes); raise record_dt")
    tr = (np.arange(N, dtype=np.uint64) if trial_arr is None
          else np.broadcast_to(trial_arr, shape).reshape(-1).astype(np.uint64))

    # ---- initial state ----
    P = np.empty((NR, N))
    for r, name in ((R_GNA, "gNa"), (R_GK, "gK"), (R_GL, "gL"), (R_ENA, "ENa"), (R_EK, "EK"),
                    (R_EL, "EL"), (R_CM, "Cm"), (R_VREST, "V_rest"), (R_BIAS, "bias"),
                    (R_AMP, "amplitude")):
        P[r] = flat[name]
    P[R_PHI] = temperature_factor(flat["temperature"])
    P[R_THR] = flat["threshold"] if "threshold" in flat else (
        flat["V_rest"] + config.SPIKE_THRESHOLD_ABOVE_REST)
    P[R_CLAMP] = flat["clamp_V"] if "clamp_V" in flat else np.nan
    P[R_REARM] = C.rearm_level(P[R_THR], flat.get("spike_rearm"))
    P[R_NNA] = n_na
    P[R_NK] = n_k
    V = (flat["V0"] if "V0" in flat else flat["V_rest"]).astype(float).copy()
    gates = []
    # resting gates once per distinct (V_rest, temperature), not per neuron: a batch of 10^6
    # is refused or started in a second, not minutes (docs/architecture.md §3d)
    pairs, inverse = np.unique(np.stack([flat["V_rest"], flat["temperature"]], axis=1), axis=0,
                               return_inverse=True)
    for g, name in enumerate("nmh"):
        if f"{name}0" in flat:
            gates.append(flat[f"{name}0"])
        else:
            rest = np.empty(len(pairs))
            for k, (vr, temp) in enumerate(pairs):
                p = HHParams(V_rest=float(vr), temperature=float(temp))
                rest[k] = steady_state(p.V_rest, p)[g]
            gates.append(rest[inverse.reshape(-1)])
    per_step = _expected_step_events(P, V, gates, dt)
    _check_work(per_step, n_steps, max_events, max_step_events, flat, dt)
    pk, pna = occupancy(*gates)
    counts = np.concatenate([_largest_remainder(n_k, pk), _largest_remainder(n_na, pna)],
                            axis=1).astype(np.int64)

    tb, tc0, tc1, tab_index = as_tables(list(stims.reshape(-1)))
    tidx = np.broadcast_to(tab_index.reshape(stims.shape), shape).reshape(-1).copy()
    # the kernels' counter and output rows (kernels.layout), so the result is built as
    # simulate's; _run writes fo rows 0..3 = F_FIRST, F_WFIRST, F_WLAST, F_WISI2 (F_DIVT stays
    # NaN: the chain never blows up)
    ic = np.zeros((L.NI, N), dtype=np.int64)
    ic[L.I_DIVSTEP] = -1
    icount, wcount = ic[L.I_COUNT], ic[L.I_WCOUNT]
    spikes = np.full((N, max_spikes), np.nan)
    fo = np.full((L.NF, N), np.nan)
    fo[L.F_WISI2] = 0.0
    events = np.zeros(N, dtype=np.int64)
    rec = np.full((3, N if rec_every else 0, n_rec), np.nan)
    ist = np.zeros((N, NI), dtype=np.int64)
    fst = np.zeros((N, NF))
    bufs = np.zeros((N, 4))
    pst = np.zeros((N, 2), dtype=np.int64)
    pst[:, 0] = 4  # every neuron's buffer of uniforms empty

    def piece(i0, i1, work):
        _run(P, counts, V, tr, tidx, tb, tc0, tc1, float(t_start), float(dt), int(n_steps),
             float(w0), float(w1), np.uint64(key[0]), np.uint64(key[1]), icount, spikes, fo,
             wcount, events, rec, rec_every, i0, i1, work, config.MARKOV_STEP_COST,
             int(min(max_step_events, 2**62)), ist, fst, bufs, pst)

    _in_pieces(piece, ist, events, n_steps, max_events, max_step_events, dt, num_threads,
               progress)

    ks = counts[:, :5].reshape(shape + (5,))
    nas = counts[:, 5:].reshape(shape + (8,))
    return result(
        ic, fo, spikes, shape, spike_armed=False,
        t=t_start + dt * rec_every * np.arange(n_rec),
        traces=({"V": rec[0], "K_open": rec[1], "Na_open": rec[2]} if rec_every else {}),
        recorded=np.arange(N) if rec_every else np.empty(0, dtype=np.int64),
        final_state={"V": V.reshape(shape)},
        window=(w0, min(w1, t_end)),
        params={k: np.broadcast_to(v, shape) for k, v in values.items()},
        method="markov",
        dt=dt,
        t_start=t_start,
        t_stop=t_end,
        n_steps=n_steps,
        stimulus=stimulus,
        info={
            "K_states": ks, "Na_states": nas,
            "N_K": n_k.astype(np.int64).reshape(shape), "N_Na": n_na.astype(np.int64).reshape(shape),
            "K_open": (ks[..., K_OPEN] / n_k.reshape(shape)),
            "Na_open": (nas[..., NA_OPEN] / n_na.reshape(shape)),
            "events": events.reshape(shape),
            "events_estimate": (per_step * n_steps).reshape(shape),
            "seed": int(seed), "trial": tr.reshape(shape),
        },
    )
